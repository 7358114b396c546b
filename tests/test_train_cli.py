"""The one-run command line (pgan_core.train_cli): a run from a JSON config, bad config files refused."""
from __future__ import annotations

import json

import pytest

from pgan_core import train_cli
from pgan_core.config import RunConfig
from pgan_core.errors import ConfigError
from pgan_core.training import load_record

CFG = RunConfig(method="dcgan", dataset="synthetic", width=4, z_dim=8, batch_size=4, steps=2, eval_every=0,
                ckpt_every=2, log_every=1, eval_protocols=(), max_images=32)


def test_a_run_from_a_json_config(tmp_path, capsys):
    path = tmp_path / "cfg.json"
    path.write_text(CFG.to_json())
    assert train_cli.main(["--config", str(path), "--run-dir", str(tmp_path / "run")]) == 0
    assert load_record(tmp_path / "run").config_key == CFG.key()
    assert "complete: 2 iterations on 1 process(es)" in capsys.readouterr().out


def test_bad_config_files_name_the_parameter(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="parameter 'config'"):
        train_cli.main(["--config", str(bad)])
    with pytest.raises(ConfigError, match="parameter 'config'"):
        train_cli.main(["--config", str(tmp_path / "missing.json")])
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"methd": "dcgan"}))
    with pytest.raises(ConfigError, match="'methd'"):
        train_cli.main(["--config", str(unknown)])
    assert not (tmp_path / "run").exists()
