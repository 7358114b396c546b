"""The papermill runner: failure isolation, summary, exit code, skipping complete notebooks."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from pgan_core import reproduce


def _nb(path, source):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('PROFILE = "smoke"\nWRITE_RESULTS = False\nPROGRESS = True\nRESULTS_ROOT = None')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _notebooks(tmp_path, monkeypatch, **sources) -> None:
    """Write one tiny notebook per ``name=source`` into tmp_path/notebooks and point the runner at it."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    for name, source in sources.items():
        _nb(nbdir / f"{name}.ipynb", source)
    monkeypatch.setattr(reproduce, "NOTEBOOK_DIR", nbdir)


def test_failing_notebook_does_not_stop_others(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch, **{"01_ok": "x = 1", "02_bad": "raise RuntimeError('boom in cell')",
                                         "03_ok": "y = 2"})
    rc = reproduce.main(["--profile", "smoke", "--results", str(tmp_path / "res")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "02_bad" in out and "FAILED" in out and "boom in cell" in out
    assert (tmp_path / "res" / "01_ok" / "executed.ipynb").is_file()
    assert (tmp_path / "res" / "03_ok" / "executed.ipynb").is_file()
    assert not (tmp_path / "res" / "02_bad" / "executed.ipynb").exists()
    assert not [p for p in (tmp_path / "res").rglob("*.ipynb") if p.name.startswith(".")]   # no half-written copies


def test_complete_notebooks_are_skipped(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch, **{"01_ok": "x = 1"})
    res = tmp_path / "res"
    (res / "01_ok").mkdir(parents=True)
    (res / "01_ok" / "executed.ipynb").write_text("{}")
    (res / "01_ok" / "provenance.json").write_text(json.dumps({"profile": "smoke"}))
    assert reproduce.main(["--profile", "smoke", "--results", str(res)]) == 0
    assert "skipped" in capsys.readouterr().out


def test_bad_arguments(tmp_path, capsys):
    assert reproduce.main(["--profile", "huge", "--results", str(tmp_path)]) == 2
    assert "--profile" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--notebooks"):
        reproduce.main(["--profile", "smoke", "--notebooks", "99", "--results", str(tmp_path)])


def test_incomplete_notebook_is_redone(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch, **{"01_ok": "x = 1"})
    res = tmp_path / "res"
    (res / "01_ok").mkdir(parents=True)
    (res / "01_ok" / "provenance.json").write_text(json.dumps({"profile": "smoke"}))   # interrupted: no executed copy
    assert reproduce.main(["--profile", "smoke", "--results", str(res)]) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out and "ok" in out
    assert (res / "01_ok" / "executed.ipynb").is_file()


def test_smoke_reproduction_never_writes_results(tmp_path, monkeypatch, capsys):
    _notebooks(tmp_path, monkeypatch,
               **{"01_ok": "import pathlib; pathlib.Path(RESULTS_ROOT, '01_ok', 'marker.txt').write_text(PROFILE)"})
    monkeypatch.setattr(reproduce, "REPO_ROOT", tmp_path)
    assert reproduce.main(["--profile", "smoke"]) == 0
    assert (tmp_path / "scratch" / "reproduce" / "01_ok" / "marker.txt").read_text() == "smoke"
    assert not (tmp_path / "results").exists()


def test_concurrency_reaches_the_kernels_and_bad_values_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PGAN_CONCURRENCY", raising=False)
    assert reproduce.main(["--profile", "smoke", "--concurrency", "0", "--results", str(tmp_path)]) == 2
    assert "--concurrency" in capsys.readouterr().err and not list(tmp_path.iterdir())
    _notebooks(tmp_path, monkeypatch, **{"01_env": "import os\nassert os.environ['PGAN_CONCURRENCY'] == '3'"})
    assert reproduce.main(["--profile", "smoke", "--concurrency", "3", "--results", str(tmp_path / "res")]) == 0
    # the runner set it in os.environ; monkeypatch's undo of the first delenv removes it again after the test


def test_executed_notebooks_hold_no_machine_paths(tmp_path, monkeypatch):
    import json

    from pgan_core import reproduce
    from pgan_core.io import REPO_ROOT

    monkeypatch.setenv("PGAN_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    nb = tmp_path / "executed.ipynb"
    doc = {"metadata": {"papermill": {"input_path": f"{REPO_ROOT}/notebooks/01_x.ipynb"}},
           "cells": [{"source": f'RESULTS_ROOT = "{REPO_ROOT}/results"\n',
                      "outputs": [{"text": f"{Path.home()}/x.py:3: Warning\n{tmp_path}/data/cifar10 read\n"}]}]}
    nb.write_text(json.dumps(doc))
    assert reproduce.sanitize_executed(nb) == 4
    out = json.loads(nb.read_text())
    assert out["metadata"]["papermill"]["input_path"] == "notebooks/01_x.ipynb"
    assert out["cells"][0]["source"] == 'RESULTS_ROOT = "results"\n'
    assert out["cells"][0]["outputs"][0]["text"] == "~/x.py:3: Warning\n$PGAN_DATA/cifar10 read\n"


def test_estimate_counts_the_training_a_rerun_repeats(tmp_path):
    """A committed run that reused finished runs has a short wall time; the estimate is at least its runs' training."""
    nb = tmp_path / "01_perturbative_gan"
    nb.mkdir()
    (nb / "provenance.json").write_text(json.dumps({"profile": "cpu", "wall_seconds": 60.0,
                                                    "device": {"cpu": "AMD EPYC", "cpu_count": 2}}))
    (nb / "runs.csv").write_text("method,train_seconds\ndcgan,300\npgan-g,330.5\n")
    secs, missing, machines = reproduce.committed_estimate(["01_perturbative_gan", "02_pconv"], "cpu", tmp_path)
    assert secs == 630.5 and missing == ["02_pconv"] and machines == "AMD EPYC, 2 cores"


def test_a_stopped_runner_leaves_no_partial_notebook(tmp_path, monkeypatch):
    """SIGTERM while a notebook runs unwinds like Ctrl-C: the temporary executed notebook is removed."""
    import signal

    def killed(*a, **k):
        reproduce._terminated(signal.SIGTERM, None)

    monkeypatch.setattr("papermill.execute_notebook", killed)
    with pytest.raises(SystemExit) as e:
        reproduce.run_one("01_perturbative_gan", "smoke", tmp_path, timeout=None)
    assert e.value.code == 128 + signal.SIGTERM
    assert list((tmp_path / "01_perturbative_gan").iterdir()) == []


def test_a_rerun_trains_anew_unless_told_and_compares_with_another_folder(tmp_path, monkeypatch, capsys):
    """The check trains in its own runs/ folder (nothing finished is reused), --reuse-runs keeps $PGAN_RUNS, --against
    compares with an earlier rerun (the same command twice), and $PGAN_RUNS is left as it was."""
    monkeypatch.setenv("PGAN_RUNS", str(tmp_path / "mine"))
    src = ("import os, pathlib, json\n"
           "p = pathlib.Path(RESULTS_ROOT, '01_x'); p.mkdir(parents=True, exist_ok=True)\n"
           "(p / 'runs_root.txt').write_text(os.environ['PGAN_RUNS'])\n"
           "(p / 'claims.csv').write_text('claim,dataset,method,baseline,metric,ours,verdict\\n1,d,m,b,fid,1.5,reproduced\\n')\n"
           "(p / 'provenance.json').write_text(json.dumps({'profile': PROFILE, 'device': {'cpu': 'c'}}))")
    _notebooks(tmp_path, monkeypatch, **{"01_x": src})
    a, b = tmp_path / "a", tmp_path / "b"
    assert reproduce.main(["--profile", "smoke", "--results", str(a)]) == 0
    assert (a / "01_x" / "runs_root.txt").read_text() == str(a / "runs")
    assert reproduce.main(["--profile", "smoke", "--results", str(b), "--against", str(a), "--reuse-runs"]) == 0
    assert (b / "01_x" / "runs_root.txt").read_text() == str(tmp_path / "mine")
    report = json.loads((b / "agreement.json").read_text())
    assert report["notebooks"][0]["agree"] == 1 and report["verdicts_differ"] == 0
    import os
    assert os.environ["PGAN_RUNS"] == str(tmp_path / "mine")
    capsys.readouterr()
    assert reproduce.main(["--profile", "smoke", "--against", str(tmp_path / "none")]) == 2
    assert "--against" in capsys.readouterr().err


def test_a_relative_results_folder_is_the_callers_not_the_kernels(tmp_path, monkeypatch):
    """The kernels run in notebooks/: a relative --results (and the rerun's runs/) must still land where the caller
    meant, relative to the caller's working folder."""
    _notebooks(tmp_path, monkeypatch, **{"01_x": "import os, pathlib\np = pathlib.Path(RESULTS_ROOT, '01_x')\n"
                                                  "p.mkdir(parents=True, exist_ok=True)\n"
                                                  "(p / 'runs_root.txt').write_text(os.environ['PGAN_RUNS'])"})
    monkeypatch.chdir(tmp_path)
    assert reproduce.main(["--profile", "smoke", "--results", "rel"]) == 0
    assert (tmp_path / "rel" / "01_x" / "runs_root.txt").read_text() == str(tmp_path / "rel" / "runs")
    assert not (tmp_path / "notebooks" / "rel").exists()
