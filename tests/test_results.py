"""The results folder writer: tables, figures, provenance."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from pgan_core import results as results_mod
from pgan_core.errors import ConfigError
from pgan_core.results import Results


def test_tables_figures_and_provenance(tmp_path, monkeypatch):
    calls = iter([{"commit": "aaa", "dirty": False}, {"commit": "bbb", "dirty": True}])
    monkeypatch.setattr(results_mod, "git_commit", lambda: next(calls))
    r = Results("01_x", "smoke", write=True, root=tmp_path)
    r.save_table(pd.DataFrame({"a": [1, 2]}), "runs")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    r.save_fig(fig, "curve")
    prov = json.loads(r.finish(seeds=[0, 1], extra={"methods": ["dcgan"]}).read_text())
    assert (tmp_path / "01_x" / "runs.csv").read_text() == "a\n1\n2\n"
    assert (tmp_path / "01_x" / "figures" / "curve.png").read_bytes()[:4] == b"\x89PNG"
    assert prov["files"] == ["figures/curve.png", "runs.csv"]             # relative to the folder
    assert prov["git"] == {"commit": "aaa", "dirty": False}                # the code the notebook started with
    assert prov["profile"] == "smoke" and prov["seeds"] == [0, 1] and prov["methods"] == ["dcgan"]
    assert prov["wall_seconds"] >= 0 and "device" in prov and "torch" in prov["versions"]
    assert not [p for p in (tmp_path / "01_x").rglob("*") if p.name.startswith(".")]   # no temporary files left


def test_bad_profile_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match="PROFILE"):
        Results("01_x", "huge", write=True, root=tmp_path)
    assert not (tmp_path / "01_x").exists()


def test_messages_show_where_the_files_went(tmp_path):
    from pgan_core.io import REPO_ROOT

    assert Results("01_x", "smoke").shown() == "scratch/01_x"
    assert Results("01_x", "smoke", write=True).shown(REPO_ROOT / "results/01_x/provenance.json") == \
        "results/01_x/provenance.json"
    assert Results("01_x", "smoke", root=tmp_path).shown() == str(tmp_path / "01_x")
