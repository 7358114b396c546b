"""Rerun vs committed results: parsing, kinds, tolerances, verdicts, bad files."""
from __future__ import annotations

import json
import math

import pytest

from pgan_core import agreement, reproduce
from pgan_core.errors import ConfigError

HEADER = "claim,dataset,metric,method,baseline,ours,baseline_value,difference,n_seeds,verdict,note\n"


def _folder(path, rows, *, cpu="CPU A", profile="cpu"):
    path.mkdir(parents=True)
    (path / "claims.csv").write_text(HEADER + "".join(rows))
    (path / "provenance.json").write_text(json.dumps({"profile": profile, "device": {"cpu": cpu, "gpu": None},
                                                      "versions": {"torch": "2.x"}, "git": {"commit": "abc"},
                                                      "wall_seconds": 60.0}))


def test_parse_value_forms():
    assert agreement.parse_value("12.30 [10.10, 14.50]") == (12.3, 10.1, 14.5)
    assert agreement.parse_value("-0.0123 [-0.0200, -0.0046]") == (-0.0123, -0.02, -0.0046)
    v = agreement.parse_value("320,547")
    assert v[0] == 320547 and math.isnan(v[1])
    assert agreement.parse_value("72.72 (1 seed)")[0] == 72.72
    assert agreement.parse_value("not measured") is None and agreement.parse_value(None) is None


ROWS = ['"1 fewer params",all,params_G_trainable,pgan-g,dcgan,"320,547","435,091",0.737x,exact,reproduced,\n',
        '"2 faster convergence",cifar10,fid_mean,pgan-g,dcgan,"20.00 [18.00, 22.00]","25.00 [24.00, 26.00]",-5,3 vs 3,reproduced,\n',
        '"4 lower cost",timing,sec_per_iter,pgan-g,dcgan,"0.0600 [0.0590, 0.0610]",0.05,+0.01,5 vs 5,not reproduced,\n']


def test_same_machine_needs_equal_numbers_and_another_cpu_the_interval(tmp_path):
    _folder(tmp_path / "c" / "01_x", ROWS)
    _folder(tmp_path / "same" / "01_x", [ROWS[0], ROWS[1].replace("20.00 [", "20.01 ["), ROWS[2].replace("0.0600", "0.0700")])
    r = agreement.compare_notebook(tmp_path / "c" / "01_x", tmp_path / "same" / "01_x")
    assert r["same_machine"] and [x["agree"] for x in r["rows"]] == [True, False, None]
    assert [x["kind"] for x in r["rows"]] == ["exact", "measured", "timing"] and r["verdicts_differ"] == 0
    _folder(tmp_path / "other" / "01_x", [ROWS[0], ROWS[1].replace("20.00 [18.00, 22.00]", "21.50 [19.00, 24.00]")],
            cpu="CPU B")
    r = agreement.compare_notebook(tmp_path / "c" / "01_x", tmp_path / "other" / "01_x")
    assert not r["same_machine"] and [x["agree"] for x in r["rows"][:2]] == [True, True]
    assert r["rows"][2]["rerun"] == "missing" and r["rows"][2]["agree"] is False


def test_a_flipped_verdict_is_reported_and_fails_the_check(tmp_path):
    _folder(tmp_path / "c" / "01_x", ROWS[:2])
    flipped = ROWS[1].replace("20.00 [18.00, 22.00]", "24.00 [22.00, 26.50]").replace("reproduced,\n", "inconclusive,\n")
    _folder(tmp_path / "r" / "01_x", [ROWS[0], flipped], cpu="CPU B")
    rep = agreement.compare_folders(tmp_path / "c", tmp_path / "r", ["01_x", "02_y"], report=tmp_path / "r" / "a.json")
    assert rep["verdicts_differ"] == 1 and rep["notebooks"][1]["skipped"] == "no committed claims.csv"
    assert json.loads((tmp_path / "r" / "a.json").read_text())["verdicts_differ"] == 1
    text = "\n".join(agreement.summary_lines(rep))
    assert "VERDICT 01_x: 2 faster convergence" in text and "another CPU" in text


def test_damaged_claims_table_names_the_file(tmp_path):
    _folder(tmp_path / "c" / "01_x", ROWS)
    _folder(tmp_path / "r" / "01_x", ROWS)
    (tmp_path / "r" / "01_x" / "claims.csv").write_text("just,some\n1,2\n")
    with pytest.raises(ConfigError, match=r"file '.*claims.csv'.*columns"):
        agreement.compare_notebook(tmp_path / "c" / "01_x", tmp_path / "r" / "01_x")


def _fake_repo(tmp_path, monkeypatch, verdict="reproduced"):
    """A repository with one committed cpu notebook result and a notebook that rewrites it when run."""
    import nbformat

    _folder(tmp_path / "results" / "01_x", ROWS[:2])
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    rows = [ROWS[0], ROWS[1].replace("reproduced,\n", f"{verdict},\n")]
    body = (f"import json, pathlib\nd = pathlib.Path(RESULTS_ROOT, '01_x'); d.mkdir(parents=True, exist_ok=True)\n"
            f"(d / 'claims.csv').write_text({HEADER + ''.join(rows)!r})\n"
            f"(d / 'provenance.json').write_text(json.dumps({{'profile': PROFILE, 'device': {{'cpu': 'CPU A', 'gpu': None}}, "
            f"'versions': {{'torch': '2.x'}}}}))")
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('PROFILE = "smoke"\nWRITE_RESULTS = False\nPROGRESS = True\nRESULTS_ROOT = None')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbdir / "01_x.ipynb")
    monkeypatch.setattr(reproduce, "NOTEBOOK_DIR", nbdir)
    monkeypatch.setattr(reproduce, "REPO_ROOT", tmp_path)


def test_the_main_command_reruns_into_a_fresh_folder_and_compares(tmp_path, monkeypatch, capsys):
    _fake_repo(tmp_path, monkeypatch)
    before = (tmp_path / "results" / "01_x" / "claims.csv").read_text()
    assert reproduce.main(["--profile", "cpu"]) == 0
    out = capsys.readouterr().out
    reruns = list((tmp_path / "scratch" / "rerun").iterdir())
    assert len(reruns) == 1 and reruns[0].name.startswith("cpu-")
    assert (reruns[0] / "agreement.json").is_file() and "same CPU" in out and "estimate: about 1 min" in out
    assert (tmp_path / "results" / "01_x" / "claims.csv").read_text() == before          # never over results/
    assert reproduce.main(["--profile", "cpu", "--compare", str(reruns[0])]) == 0          # re-check, runs nothing


def test_a_rerun_whose_verdict_differs_exits_1(tmp_path, monkeypatch, capsys):
    _fake_repo(tmp_path, monkeypatch, verdict="inconclusive")
    assert reproduce.main(["--profile", "cpu"]) == 1
    assert "VERDICT" in capsys.readouterr().out


def test_check_arguments(tmp_path, monkeypatch, capsys):
    _fake_repo(tmp_path, monkeypatch)
    assert reproduce.main(["--profile", "cpu", "--results", str(tmp_path / "results")]) == 2
    assert "never writes over results/" in capsys.readouterr().err
    assert reproduce.main(["--profile", "cpu", "--compare", str(tmp_path / "nope")]) == 2
    assert "--compare" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert reproduce.main(["--profile", "cpu", "--results", str(tmp_path / "afile")]) == 2
    assert "--results" in capsys.readouterr().err
