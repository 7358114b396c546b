"""The explorer in a real browser: JupyterLab started on 127.0.0.1, driven by headless Chromium (selenium).

It opens a notebook whose one cell is the leaderboard's explorer cell (``widgets.show`` on a folder of snapshots:
tiny perturbative and DCGAN generators made by the test, as the widget tests make them), runs it, changes two controls and checks that the rendered image changes
each time, that the samples are drawn at least at their native size, that the controls are labelled, and that the
browser console has no error; it also opens the committed leaderboard notebook and checks that it opens unmodified.
Screenshots go to ``scratch/browser/``. Behind the ``browser`` marker (about a minute; Chromium is not on a fresh
machine): ``make test-browser`` installs Debian's chromium and chromium-driver and selenium, then runs it.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "scratch" / "browser"
CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(cells: list[str]) -> dict:
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                       "source": src.splitlines(keepends=True), "id": f"cell{i}"} for i, src in enumerate(cells)],
            "metadata": {"kernelspec": {"display_name": "Python 3 (pgan)", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    for exe in (CHROMIUM, DRIVER):
        if not Path(exe).is_file():
            pytest.fail(f"{exe} is missing: install Debian's chromium and chromium-driver (make test-browser)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is missing: pip install -e '.[browser]' (make test-browser)")
    root = tmp_path_factory.mktemp("lab")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_widgets import make_snapshots

    snaps = make_snapshots(root / "snapshots") / "all"
    (root / "explorer.ipynb").write_text(json.dumps(_notebook(
        ["from pgan_core import widgets\n"
         f"explorer = widgets.show({str(snaps)!r}, interactive=True)   # the leaderboard's explorer cell\n"])))
    shutil.copy(REPO / "notebooks" / "00_leaderboard.ipynb", root / "00_leaderboard.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "PGAN_HEADLESS"}
    env.update(JUPYTER_CONFIG_DIR=str(root / ".jupyter"), JUPYTER_RUNTIME_DIR=str(root / ".runtime"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / ".workspaces"), PYTHONPATH=str(REPO))
    log_path = root / "lab.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
                                 f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                 f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
                                 *(["--allow-root"] if os.geteuid() == 0 else [])],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("JupyterLab did not start; its log ends:\n" + log_path.read_text()[-2000:])
            time.sleep(0.5)
    try:
        yield url, token
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, what, fn, timeout: float = WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: fn(d))
    except Exception:
        driver.save_screenshot(str(SHOTS / "failure.png"))
        raise AssertionError(f"timed out waiting for {what} (screenshot: scratch/browser/failure.png)") from None


def _image(driver):
    """The explorer's rendered PNG (inside the widget Output), or None."""
    from selenium.webdriver.common.by import By

    imgs = driver.find_elements(By.CSS_SELECTOR, ".widget-output img")
    return imgs[-1] if imgs and (imgs[-1].get_attribute("src") or "").startswith("data:image/png") else None


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_explorer_renders_and_follows_the_controls(lab, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    url, token = lab
    browser.get(f"{url}/lab/tree/explorer.ipynb?token={token}")
    _wait(browser, "the notebook's cell", lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Cell .cm-content"))
    _wait(browser, "an idle kernel", lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook-ExecutionIndicator[data-status='idle']")
          or d.find_elements(By.XPATH, "//*[contains(@class, 'jp-StatusBar')]//*[contains(text(), 'Idle')]"))
    def click_cell(d):
        try:
            d.find_element(By.CSS_SELECTOR, ".jp-Cell .jp-InputArea-editor").click()
            return True
        except Exception:                                          # not laid out yet: try again
            return False

    _wait(browser, "a clickable cell", click_cell)
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
    img = _wait(browser, "the explorer's first image", _image)
    browser.save_screenshot(str(SHOTS / "explorer_initial.png"))
    natural, shown = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].clientWidth]", img)
    assert natural >= 8 * 33 and shown >= 0.98 * natural, (natural, shown)     # 8 samples a row, each >= 32 px
    buttons = browser.find_elements(By.CSS_SELECTOR, ".widget-toggle-buttons button")
    assert len(buttons) == 2 and buttons[0].location["y"] == buttons[1].location["y"]   # side by side, not stacked
    labels = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".widget-label") if e.text]
    assert {"method", "compare", "seed", "samples", "show", "from index", "to index"} <= set(labels), labels

    selects = browser.find_elements(By.CSS_SELECTOR, ".widget-dropdown select")
    method, compare = Select(selects[0]), Select(selects[1])
    for n, control in enumerate((method, compare), start=1):
        before = _image(browser).get_attribute("src")
        current = control.first_selected_option.text
        control.select_by_visible_text(next(o.text for o in control.options if o.text != current))
        _wait(browser, f"a new image after control {n}", lambda d: (i := _image(d)) is not None and i.get_attribute("src") != before)
        browser.save_screenshot(str(SHOTS / f"explorer_change{n}.png"))
    assert not _errors(browser), _errors(browser)


def test_committed_notebook_opens_unmodified(lab, browser):
    from selenium.webdriver.common.by import By

    url, token = lab
    browser.get(f"{url}/lab/tree/00_leaderboard.ipynb?token={token}")
    _wait(browser, "the leaderboard notebook", lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"))
    time.sleep(3)                                                   # let JupyterLab settle the kernel and metadata
    browser.save_screenshot(str(SHOTS / "leaderboard_opened.png"))
    tabs = browser.find_elements(By.CSS_SELECTOR, ".lm-TabBar-tab.jp-mod-current")
    assert tabs and not any("jp-mod-dirty" in (t.get_attribute("class") or "") for t in tabs)
    assert not _errors(browser), _errors(browser)
