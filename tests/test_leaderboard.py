"""pgan_core.leaderboard: claim collection with figure links, standings with intervals, snapshot export."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from pgan_core import leaderboard as lb
from pgan_core.errors import ConfigError


def test_figure_for_rules():
    figs = ["fid_vs_iterations_dcgan.png", "fid_vs_iterations_wgan-gp.png", "mem_gap.png", "probe_sastm_zero_channel.png",
            "samples_cifar10.png", "samples_mnist.png", "fid_vs_disturbance_domain.png", "fid_vs_disturbance_inception.png"]
    f = lambda **row: lb.figure_for("nb", row, figs)                                  # noqa: E731
    assert f(metric="sastm_zero_channel", claim="2 sparse") == "probe_sastm_zero_channel"
    assert f(metric="fid5k_domain", claim="2 WGAN-GP: TTUR gives a lower FID") == "fid_vs_iterations_wgan-gp"
    assert f(metric="fid5k_domain", claim="1 DCGAN: TTUR gives a lower FID") == "fid_vs_iterations_dcgan"
    assert f(metric="mem_gap", claim="smaller gap") == "mem_gap"
    assert f(metric="is5k_domain", claim="higher IS", dataset="mnist") == "samples_mnist"
    assert f(metric="fid200_inception", claim="3 FID rises with every disturbance level") == "fid_vs_disturbance_inception"
    assert f(metric="fid5k_domain", claim="3 FID rises with every disturbance level") == "fid_vs_disturbance_domain"
    assert f(metric="params_G_trainable", claim="fewer parameters") is None
    assert f(metric="d_step_time_ratio", claim="- D-step cost <= 1.3x (issue target)") is None


def _write_nb(root, nb, rows, figures=("fid_vs_iterations.png",), profile="cpu"):
    d = root / nb
    (d / "figures").mkdir(parents=True)
    for f in figures:
        (d / "figures" / f).write_bytes(b"png")
    pd.DataFrame(rows).to_csv(d / "claims.csv", index=False)
    (d / "provenance.json").write_text(json.dumps({"profile": profile, "git": {"commit": "abcdef1234567"},
                                                   "date_utc": "2026-11-22", "wall_seconds": 120}))


def test_collect_claims_keeps_verdicts_links_figures_and_lists_missing(tmp_path):
    rows = [{"claim": "1 lower FID", "dataset": "cifar10", "metric": "fid5k_domain", "method": "m", "baseline": "b",
             "verdict": "inconclusive"},
            {"claim": "2 fewer params", "dataset": "all", "metric": "params_G_trainable", "method": "m",
             "baseline": "b", "verdict": "reproduced"}]
    _write_nb(tmp_path, "01_a", rows)
    claims, status = lb.collect_claims(tmp_path, notebooks=["01_a", "02_b"])
    assert list(claims["verdict"]) == ["inconclusive", "reproduced"]                 # never recomputed
    assert claims["figure"].tolist() == [f"{tmp_path.name}/01_a/figures/fid_vs_iterations.png", ""]
    assert set(claims["profile"]) == {"cpu"} and set(claims["commit"]) == {"abcdef1234"}
    st = status.set_index("notebook")
    assert st.loc["01_a", "results"] == "present" and st.loc["01_a", "reproduced"] == 1
    assert st.loc["01_a", "last_execution_minutes"] == 2.0
    assert "none yet" in st.loc["02_b", "results"] and "--notebooks 02" in st.loc["02_b", "results"]


def test_paper_notebooks_exclude_the_leaderboard():
    names = lb.paper_notebooks()
    assert lb.LEADERBOARD not in names and "01_perturbative_gan" in names


def _runs():
    rows = []
    for m, vals, pg, pd_, sec in (("a", [1.0, 2.0, 3.0], 10, 5, 4.0), ("b", [10.0, 11.0, 12.0], 20, 5, 2.0),
                                  ("c", [1.5, 2.5, 2.0], 30, 5, 1.0)):
        for s, v in enumerate(vals):
            rows.append({"method": m, "setting": "x", "seed": s, "fid": v, "params_G_trainable": pg,
                         "params_D_trainable": pd_, "train_seconds": sec})
    return pd.DataFrame(rows)


def test_standings_rank_intervals_and_tiers():
    t = lb.standings(_runs(), "fid", group="setting").set_index("method")
    assert t.loc["a", "rank"] == 1 and t.loc["c", "rank"] == 2 and t.loc["b", "rank"] == 3
    assert t.loc["a", "tier"] == "best" and t.loc["c", "tier"] == "tied with best" and t.loc["b", "tier"] == "behind"
    assert t.loc["a", "fid"] == pytest.approx(2.0)
    lo, hi = t.loc["a", "ci_low"], t.loc["a", "ci_high"]
    assert lo == pytest.approx(2.0 - 4.303 * 1.0 / math.sqrt(3), rel=1e-3) and hi > 2.0
    assert t.loc["b", "params_trainable"] == 25 and t.loc["c", "train_seconds"] == 1.0
    assert t.loc["b", "vs_best"].startswith("+9.00 [")
    hi_t = lb.standings(_runs(), "fid", group="setting", better="higher").set_index("method")
    assert hi_t.loc["b", "rank"] == 1


def test_standings_bad_input():
    with pytest.raises(ConfigError, match="'metric'"):
        lb.standings(_runs(), "fid_nope", group="setting")
    with pytest.raises(ConfigError, match="'better'"):
        lb.standings(_runs(), "fid", group="setting", better="up")


def _snapshot(run_dir):
    from pgan_core.checkpoint import save_snapshot
    from pgan_core.config import RunConfig
    from pgan_core.registry import build_models

    cfg = RunConfig(method="pgan-g", dataset="synthetic", width=4, steps=1)
    G, _ = build_models(cfg.method, img_channels=3, z_dim=cfg.input_dim, width=cfg.width)
    run_dir.mkdir(parents=True)
    save_snapshot(run_dir, G_ema=G, step=1, config=cfg.to_dict(), config_key=cfg.key())


def test_export_snapshots_copies_verified_files_with_provenance(tmp_path):
    from pgan_core.checkpoint import load_snapshot_generator
    from pgan_core.io import sha256_file

    _snapshot(tmp_path / "run1")
    paths = lb.export_snapshots({"pgan-g": tmp_path / "run1"}, tmp_path / "out", provenance={"profile": "smoke"})
    assert [p.name for p in paths] == ["pgan-g.pt"]
    index = json.loads((tmp_path / "out" / "snapshots.json").read_text())
    entry = index["snapshots"]["pgan-g.pt"]
    assert index["provenance"] == {"profile": "smoke"} and entry["method"] == "pgan-g" and entry["step"] == 1
    assert entry["sha256"] == sha256_file(tmp_path / "run1" / "snapshot.pt")
    G, cfg = load_snapshot_generator(paths[0])                                        # the digest sidecar came along
    assert cfg["method"] == "pgan-g"


def test_export_snapshots_refuses_missing_runs_and_writes_nothing(tmp_path):
    _snapshot(tmp_path / "run1")
    with pytest.raises(ConfigError, match="'records'"):
        lb.export_snapshots({"ok": tmp_path / "run1", "missing": tmp_path / "nope"}, tmp_path / "out", provenance={})
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="'records'"):
        lb.export_snapshots({"a/b": tmp_path / "run1"}, tmp_path / "out", provenance={})


def test_markdown_table_escapes_pipes():
    md = lb.markdown_table(pd.DataFrame({"a": ["x|y"], "b": ["l1\nl2"]}))
    assert md.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | l1 l2 |"]


def test_reproduce_runs_the_leaderboard_last():
    from pgan_core.reproduce import available_notebooks

    names = available_notebooks()
    assert names[-1] == lb.LEADERBOARD and names[:-1] == sorted(names[:-1])
