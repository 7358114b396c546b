"""pgan_core.widgets: the pure functions on tiny width-4 generators, and the Explorer's widget callbacks
in a REAL Jupyter kernel (jupyter_client), driven both from kernel code and by comm messages as a
browser sends them (there ipywidgets would swallow a callback's exception into the kernel log)."""
from __future__ import annotations

import inspect
import math
import os
import queue
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import MASK_SOURCES, make_mask
from pgan_core.sampling import make_input
from pgan_core.widgets import (Explorer, compare, interactive_default, interpolate, load_generators,
                               perturbation_layers, samples, show, slerp, static_figures, with_perturbation)

REPO = Path(__file__).resolve().parents[1]


def make_snapshots(folder):
    """Tiny width-4 'pgan-g' and 'dcgan' snapshots (random weights, 'synthetic' config): run folders
    folder/<method>/snapshot.pt and copies folder/all/<method>.pt (with their sha256 sidecars).
    Weights are redrawn with std 1.5/sqrt(fan_in): the DCGAN init (std 0.02) gives width-4 nets whose
    images are ~constant grey whatever the input, which would make image comparisons vacuous."""
    import shutil
    from pathlib import Path

    import torch

    from pgan_core import registry
    from pgan_core.checkpoint import save_snapshot
    from pgan_core.config import RunConfig

    folder = Path(folder)
    (folder / "all").mkdir(parents=True, exist_ok=True)
    for k, method in enumerate(("pgan-g", "dcgan")):
        torch.manual_seed(k)
        cfg = RunConfig(method=method, dataset="synthetic", width=4, steps=1)
        G, _ = registry.build_models(cfg.method, img_channels=3, z_dim=cfg.input_dim, width=cfg.width,
                                     g_overrides=registry.builder_overrides(cfg.method, mask_seed=cfg.mask_seed,
                                                                            noise_level=cfg.noise_level)[0])
        with torch.no_grad():
            for p in G.parameters():
                if p.dim() > 1:
                    p.normal_(0.0, 1.5 / p[0].numel() ** 0.5)
        path = save_snapshot(folder / method, G_ema=G, step=1, config=cfg.to_dict(), config_key=cfg.key())
        for suffix in ("", ".sha256"):
            shutil.copy(str(path) + suffix, str(folder / "all" / f"{method}.pt") + suffix)
    return folder


class Recorder(nn.Module):
    """Wraps G and keeps the last input batch it was given."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G, self.z = G, None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.z = z.clone()
        return self.G(z)


@pytest.fixture(scope="module")
def snaps(tmp_path_factory):
    return make_snapshots(tmp_path_factory.mktemp("snaps"))


@pytest.fixture(scope="module")
def gens(snaps):
    return load_generators(snaps / "all")


# ---------------------------------------------------------------- pure functions

def test_load_generators_folder_and_dict(snaps, tmp_path):
    g = load_generators(snaps / "all")
    assert list(g) == ["dcgan", "pgan-g"]                                       # sorted file stems
    assert g["pgan-g"][1]["method"] == "pgan-g" and not g["pgan-g"][0].training
    g2 = load_generators({"mine": snaps / "pgan-g", "base": snaps / "dcgan" / "snapshot.pt"})
    assert list(g2) == ["mine", "base"] and g2["mine"][1]["method"] == "pgan-g"
    with pytest.raises(ConfigError, match="'snapshots'.*at least one"):
        load_generators(tmp_path)
    with pytest.raises(ConfigError, match="'snapshots'.*'gone'"):
        load_generators({"gone": tmp_path / "missing.pt"})
    with pytest.raises(ConfigError, match="'snapshots'"):
        load_generators(tmp_path / "no-such-folder")


def test_with_perturbation_copies_and_leaves_original(gens):
    G, cfg = gens["pgan-g"]
    before = {k: v.clone() for k, v in G.state_dict().items()}
    masks = [layer.mask.clone() for layer in perturbation_layers(G)]
    ref = samples(G, cfg, seed=1, n=4)
    assert len(masks) == 12 and all(layer.level == 0.1 for layer in perturbation_layers(G))

    G2 = with_perturbation(G, level=0.5)
    assert not torch.equal(samples(G2, cfg, seed=1, n=4), ref)
    assert all(layer.level == 0.5 for layer in perturbation_layers(G2))
    G3 = with_perturbation(G, mask_source="lcg")
    assert not torch.equal(samples(G3, cfg, seed=1, n=4), ref)
    for old, new in zip(perturbation_layers(G), perturbation_layers(G3)):
        assert new.mask_source == "lcg" and new.level == 0.1 and new.seed == old.seed
        assert new.mask.shape == old.mask.shape and new.mask.dtype == old.mask.dtype
        assert torch.equal(new.mask, make_mask("lcg", old.seed, tuple(old.mask.shape)))

    # the original is untouched: weights, buffers, masks, levels, sources and its images
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())
    assert all(torch.equal(layer.mask, m) for layer, m in zip(perturbation_layers(G), masks))
    assert all(layer.level == 0.1 and layer.mask_source == "stored_uniform" for layer in perturbation_layers(G))
    assert torch.equal(samples(G, cfg, seed=1, n=4), ref)


def test_level_zero_ignores_mask_source(gens):
    G, cfg = gens["pgan-g"]
    outs = [samples(with_perturbation(G, level=0.0, mask_source=s), cfg, seed=2, n=4) for s in MASK_SOURCES]
    assert all(torch.equal(o, outs[0]) for o in outs[1:])
    assert not torch.equal(outs[0], samples(G, cfg, seed=2, n=4))              # level 0.1 differs


def test_non_perturbative_generator_refuses(gens):
    G, _ = gens["dcgan"]
    assert perturbation_layers(G) == []
    with pytest.raises(ConfigError, match="'level'.*no perturbation layers"):
        with_perturbation(G, level=0.1)
    with pytest.raises(ConfigError, match="'mask_source'.*no perturbation layers"):
        with_perturbation(G, mask_source="lcg")
    with pytest.raises(ConfigError, match="'level'"):
        Explorer(gens).render(method="dcgan", level=0.2)
    assert with_perturbation(G) is not G                                        # a plain copy is fine


def test_interpolate_gaussian_endpoints_and_slerp(gens):
    G, cfg = gens["pgan-g"]
    x = interpolate(G, cfg, seed=5, a=2, b=9, steps=6)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[0], samples(G, cfg, seed=5, n=1, start=2)[0])
    assert torch.equal(x[-1], samples(G, cfg, seed=5, n=1, start=9)[0])
    assert not torch.equal(x[0], x[-1]) and not torch.equal(x[2], x[0]) and not torch.equal(x[2], x[-1])
    rec = Recorder(G)
    interpolate(rec, cfg, seed=5, a=2, b=9, steps=6)
    u = make_input(cfg).at([2, 9], 5)                                            # (2, z_dim)
    assert torch.allclose(rec.z, slerp(u[0], u[1], torch.linspace(0, 1, 6)), atol=1e-6)
    e = torch.eye(2)                                                             # orthogonal unit vectors:
    assert math.isclose(slerp(e[0], e[1], torch.tensor([0.5]))[0].norm().item(), 1.0, rel_tol=1e-6)  # lerp: 0.707


def test_interpolate_spider_inputs_linear():
    from pgan_core.config import RunConfig
    from pgan_core.inputs import ImageInput
    from pgan_core.registry import build_models

    cfg = RunConfig(method="dcgan", dataset="synthetic", g_input="synthetic", width=4, steps=1)  # 10x10 image inputs
    torch.manual_seed(0)
    G, _ = build_models("dcgan", img_channels=3, z_dim=cfg.input_dim, width=4)
    with torch.no_grad():
        for p in G.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 1.5 / p[0].numel() ** 0.5)                      # as make_snapshots
    G, cfg = G.eval(), cfg.to_dict()
    assert isinstance(make_input(cfg), ImageInput)
    rec = Recorder(G)
    x = interpolate(rec, cfg, seed=3, a=1, b=4, steps=5)
    u = make_input(cfg).at([1, 4], 3)                                            # (2, 100)
    t = torch.linspace(0, 1, 5)[:, None]
    assert torch.allclose(rec.z, (1 - t) * u[0] + t * u[1], atol=1e-6)
    assert not torch.equal(x[0], x[-1])
    assert torch.equal(x[0], samples(G, cfg, seed=3, n=1, start=1)[0])
    assert torch.equal(x[-1], samples(G, cfg, seed=3, n=1, start=4)[0])


def test_compare_uses_identical_inputs(gens):
    recs = {k: Recorder(G) for k, (G, _) in gens.items()}
    out = compare({k: (recs[k], gens[k][1]) for k in gens}, seed=4, n=3)
    assert list(out) == ["dcgan", "pgan-g"] and all(v.shape == (3, 3, 32, 32) for v in out.values())
    assert torch.equal(recs["dcgan"].z, recs["pgan-g"].z)
    assert torch.equal(recs["dcgan"].z, make_input(gens["dcgan"][1]).at(range(3), 4))
    assert all(torch.equal(out[k], samples(G, c, seed=4, n=3)) for k, (G, c) in gens.items())


@pytest.mark.parametrize("call, name", [
    (lambda g: samples(*g["dcgan"], seed=0, n=0), "n"),
    (lambda g: samples(*g["dcgan"], seed=-1, n=2), "seed"),
    (lambda g: samples(*g["dcgan"], seed=1.5, n=2), "seed"),
    (lambda g: interpolate(*g["dcgan"], seed=0, a=0, b=1, steps=1), "steps"),
    (lambda g: interpolate(*g["dcgan"], seed=0, a=-1, b=1, steps=3), "a"),
    (lambda g: with_perturbation(g["pgan-g"][0], level=-0.1), "level"),
    (lambda g: with_perturbation(g["pgan-g"][0], mask_source="perlin"), "mask_source"),
    (lambda g: compare({}, seed=0, n=2), "Gs"),
    (lambda g: Explorer(g).render(method="nope"), "method"),
    (lambda g: Explorer(g).render(method="dcgan", compare="nope"), "compare"),
    (lambda g: Explorer(g).render(method="dcgan", mode="video"), "mode"),
    (lambda g: Explorer({}), "generators"),
])
def test_bad_inputs_name_the_parameter(gens, call, name):
    with pytest.raises(ConfigError, match=f"parameter '{name}'"):
        call(gens)


def test_bad_label_lists_known_ones(gens):
    with pytest.raises(ConfigError, match="'dcgan', 'pgan-g'"):
        Explorer(gens).render(method="nope")


def test_interactive_default_honours_env(monkeypatch):
    monkeypatch.delenv("PGAN_HEADLESS", raising=False)
    assert interactive_default() is True
    for value, expected in (("1", False), ("yes", False), ("0", True), ("", True)):
        monkeypatch.setenv("PGAN_HEADLESS", value)
        assert interactive_default() is expected, value
    monkeypatch.delenv("PGAN_HEADLESS")
    monkeypatch.setitem(sys.modules, "ipywidgets", None)                         # import fails
    assert interactive_default() is False


def test_show_is_inert_headless(monkeypatch, snaps):
    monkeypatch.setenv("PGAN_HEADLESS", "1")
    assert show(snaps / "all") is None
    assert show(snaps / "nowhere", interactive=False) is None                   # nothing is even loaded


def test_explorer_cache_and_render(gens):
    ex = Explorer(gens, cache_size=2)
    G = gens["pgan-g"][0]
    assert ex.generator("pgan-g") is G and ex.generator("pgan-g", level=0.1, mask_source="stored_uniform") is G
    G1 = ex.generator("pgan-g", level=0.3)
    assert ex.generator("pgan-g", level=0.3, mask_source="stored_uniform") is G1 and G1 is not G
    ex.generator("pgan-g", mask_source="lcg"); ex.generator("pgan-g", level=0.7)
    assert len(ex._cache) == 2 and ("pgan-g", 0.3, "stored_uniform") not in ex._cache
    out = ex.render(method="pgan-g", compare="dcgan", seed=1, n=3, level=0.3)
    assert list(out) == ["pgan-g", "dcgan"]
    assert torch.equal(out["pgan-g"], samples(G1, gens["pgan-g"][1], seed=1, n=3))
    assert torch.equal(out["dcgan"], samples(*gens["dcgan"], seed=1, n=3))
    out = ex.render(method="dcgan", mode="interpolation", seed=1, a=0, b=3, steps=4)
    assert list(out) == ["dcgan"] and out["dcgan"].shape == (4, 3, 32, 32)


def test_static_figures(gens):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    figs = static_figures(gens, seed=0, n=4, steps=3)
    try:
        assert set(figs) == {"samples", "interpolation", "noise_sweep"}
        assert all(isinstance(f, Figure) for f in figs.values())
        assert len(figs["interpolation"].axes) == 2 and len(figs["noise_sweep"].axes) == 4   # levels 0, .1, .2, .4
    finally:
        for f in figs.values():
            plt.close(f)
    only = static_figures({"dcgan": gens["dcgan"]}, n=2, steps=2)
    assert set(only) == {"samples", "interpolation"}
    for f in only.values():
        plt.close(f)


def test_import_needs_no_ipywidgets():
    code = ("import sys; import pgan_core.widgets; "
            "bad = [m for m in ('ipywidgets', 'matplotlib', 'IPython') if m in sys.modules]; assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]


# ---------------------------------------------------------------- a real Jupyter kernel

def _collect(kc, msg_id: str, timeout: float) -> dict:
    """iopub output of one request until its 'idle' status: stdout/stderr text and 'error' messages."""
    out = {"stdout": "", "stderr": "", "errors": [], "status": None}
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"kernel gave no 'idle' within {timeout} s; so far: {out}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, c = msg["msg_type"], msg["content"]
        if kind == "stream":
            out[c["name"]] += c["text"]
        elif kind == "error":
            out["errors"].append(f"{c['ename']}: {c['evalue']}\n" + "\n".join(c["traceback"]))
        elif kind == "status" and c["execution_state"] == "idle":
            return out


def run_cell(kc, code: str, timeout: float = 60.0) -> dict:
    """Execute ``code`` in the kernel; returns the reply status, streams and iopub 'error' messages."""
    msg_id = kc.execute(textwrap.dedent(code), store_history=False)
    out = _collect(kc, msg_id, timeout)
    while out["status"] is None:
        reply = kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            out["status"] = reply["content"]["status"]
    return out


def ok(out: dict) -> dict:
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(out["errors"]) + out["stderr"])   # without ANSI colours
    assert out["status"] == "ok" and not out["errors"], "kernel cell failed:\n" + text
    return out


def frontend_update(kc, model_id: str, timeout: float = 60.0, **state) -> None:
    """Send what a browser sends when the user moves a control: a comm 'update' of the widget's synced
    state (sliders sync 'value', dropdowns 'index'). ipykernel only logs an exception raised by an
    observer of such an update (to the kernel's log): nothing reaches iopub."""
    msg = kc.session.msg("comm_msg", {"comm_id": model_id,
                                      "data": {"method": "update", "state": state, "buffer_paths": []}})
    kc.shell_channel.send(msg)
    out = _collect(kc, msg["header"]["msg_id"], timeout)
    assert not out["errors"], out


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A python3 kernel with the repo importable and snapshots built inside it (folder ``snaps``)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    if "python3" not in KernelSpecManager().find_kernel_specs():
        pytest.fail("no 'python3' kernel spec: install ipykernel in this environment")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1"}
    env.pop("PGAN_HEADLESS", None)
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env, cwd=str(REPO))
    try:
        folder = tmp_path_factory.mktemp("kernel-snaps")
        ok(run_cell(kc, inspect.getsource(make_snapshots) + f"""
import json, sys, torch
import matplotlib.pyplot as plt
import pgan_core.widgets as W
assert sys.executable == {sys.executable!r}, sys.executable
torch.set_num_threads(1)
snaps = make_snapshots({str(folder)!r})
gens = W.load_generators(snaps / 'all')
"""))
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_kernel_widget_callbacks(kernel):
    ok(run_cell(kernel, """
        from IPython.display import display
        assert W.interactive_default()
        ex = W.Explorer(gens)
        ui = ex.widget()
        display(ui)
        c = ex.controls
        assert ex.errors == [] and ex.renders == 1 and list(ex.last_images) == ['dcgan'], (ex.errors, ex.renders)
        assert c['level'].disabled and c['mask_source'].disabled and 'no perturbation' in ex.note.value

        def step(name, value, changed=True):
            before, r = {k: v.clone() for k, v in ex.last_images.items()}, ex.renders
            c[name].value = value
            assert ex.errors == [], ex.errors[-1]
            assert ex.renders == r + 1, (name, value, ex.renders - r)        # one refresh per change
            diff = list(before) != list(ex.last_images) or any(not torch.equal(before[k], ex.last_images[k]) for k in before)
            assert diff == changed, (name, value)
            assert 'image/png' in ex.output.outputs[-1]['data'] and len(ex.output.outputs) == 1
            assert plt.get_fignums() == []                                   # figures are closed

        step('method', 'pgan-g')
        assert not c['level'].disabled and not c['mask_source'].disabled and ex.note.value == ''
        assert (c['level'].value, c['mask_source'].value) == (0.1, 'stored_uniform')
        step('seed', 3)
        step('level', 0.5)
        step('mask_source', 'lcg')
        step('level', 0.0)
        step('mask_source', 'seeded_normal', changed=False)                  # level 0: masks do not matter
        step('compare', 'dcgan')
        assert list(ex.last_images) == ['pgan-g', 'dcgan']
        assert torch.equal(ex.last_images['dcgan'], W.samples(*gens['dcgan'], seed=3, n=16))
        step('n', 4)
        assert all(v.shape == (4, 3, 32, 32) for v in ex.last_images.values())
        step('mode', 'interpolation')
        step('steps', 5)
        step('b', 7)
        G = W.with_perturbation(gens['pgan-g'][0], level=0.0, mask_source='seeded_normal')
        assert torch.equal(ex.last_images['pgan-g'], W.interpolate(G, gens['pgan-g'][1], seed=3, a=0, b=7, steps=5))
        step('compare', 'none')
        step('method', 'dcgan')
        assert c['level'].disabled and c['mask_source'].disabled and list(ex.last_images) == ['dcgan']
        assert c['level'].layout.visibility == c['mask_source'].layout.visibility == 'hidden'   # no stale values
        assert c['mode'].description == 'show' and c['b'].min == 0
        from pgan_core.errors import ConfigError
        assert ex._in_label_words(ConfigError("parameter 'b': got -1; allowed: an integer >= 0")) == \
            "'to index': got -1; allowed: an integer >= 0"                  # the error in the label's words
        ids = {k: w.model_id for k, w in c.items()}
        """))
    # the same controls moved as by a user in the browser (comm messages on the shell channel)
    ids = eval(ok(run_cell(kernel, "print(repr(ids)); r0 = ex.renders; prev = ex.last_images"))["stdout"])
    frontend_update(kernel, ids["seed"], value=11)
    frontend_update(kernel, ids["method"], index=1)                           # 'pgan-g'
    frontend_update(kernel, ids["level"], value=0.3)
    ok(run_cell(kernel, """
        assert ex.errors == [], ex.errors
        assert (c['seed'].value, c['method'].value, c['level'].value) == (11, 'pgan-g', 0.3)
        assert ex.renders == r0 + 3
        G = W.with_perturbation(gens['pgan-g'][0], level=0.3, mask_source='stored_uniform')
        assert torch.equal(ex.last_images['pgan-g'], W.interpolate(G, gens['pgan-g'][1], seed=11, a=0, b=7, steps=5))
        """))


def test_kernel_callback_errors_are_reported(kernel):
    ok(run_cell(kernel, """
        ex2 = W.Explorer(gens)
        ex2.widget()
        assert ex2.errors == [] and ex2.renders == 1
        def broken(**kw):
            raise RuntimeError('boom in render')
        ex2.render = broken
        """))
    seed_id = eval(run_cell(kernel, "print(repr(ex2.controls['seed'].model_id))")["stdout"])
    frontend_update(kernel, seed_id, value=5)                  # the browser path: nothing reaches iopub ...
    ok(run_cell(kernel, """
        assert len(ex2.errors) == 1 and 'RuntimeError: boom in render' in ex2.errors[0], ex2.errors
        assert 'boom in render' in ex2.output.outputs[-1]['text']           # ... but errors and the Output show it
        assert ex2.renders == 1 and list(ex2.last_images) == ['dcgan']      # the last good images are kept
        """))
    # and the harness reports a failing assertion in the kernel (as test_kernel_widget_callbacks relies on)
    out = run_cell(kernel, "assert ex2.errors == [], 'callback errors: %d' % len(ex2.errors)")
    assert out["status"] == "error" and "AssertionError: callback errors: 1" in out["errors"][0]
    with pytest.raises(AssertionError, match="kernel cell failed"):
        ok(out)


def test_a_stale_snapshot_is_left_out_of_a_folder_with_a_warning(snaps, tmp_path):
    import shutil

    from pgan_core.errors import IntegrityError
    from pgan_core.io import load_verified, save_verified

    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("dcgan.pt", "dcgan.pt.sha256"):
        shutil.copy(snaps / "all" / name, folder / name)
    snap = load_verified(snaps / "all" / "pgan-g.pt", what="snapshot")
    snap["G_ema"].pop(next(iter(snap["G_ema"])))                 # a model whose code has changed since it was saved
    save_verified(folder / "pgan-g.pt", snap)
    with pytest.warns(UserWarning, match="left out of the explorer: pgan-g"):
        g = load_generators(folder)
    assert list(g) == ["dcgan"]
    with pytest.raises(IntegrityError, match="does not match method"):
        load_generators({"old": folder / "pgan-g.pt"})             # named explicitly: refused, never skipped
    (folder / "dcgan.pt").unlink()
    (folder / "dcgan.pt.sha256").unlink()
    with pytest.raises(IntegrityError, match="no snapshot"):
        load_generators(folder)
