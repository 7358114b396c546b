"""RunConfig validation: every bad parameter gives a one-line ConfigError naming it."""
from __future__ import annotations

import pytest

from pgan_core.config import PROFILES, RunConfig, get_profile
from pgan_core.errors import ConfigError
from pgan_core.experiments import base_config, run_grid

BAD = [
    ("method", "nope"), ("dataset", "imagenet"), ("data_fraction", 0.0), ("data_fraction", 1.5),
    ("max_images", 0), ("seed", -1), ("seed", 1.5), ("width", 0), ("z_dim", -3), ("noise_level", -0.1),
    ("loss", "l2"), ("lr_g", 0.0), ("lr_d", -1e-4), ("betas_g", (0.5,)), ("betas_d", (0.5, 1.0)),
    ("n_critic", 0), ("batch_size", 0), ("batch_size", 2.5), ("steps", 0), ("steps", "10"),
    ("ema_kimg", -1.0), ("eval_every", -1), ("eval_protocols", ("fid_domain",)), ("eval_protocols", "fid5k_domain"),
    ("ckpt_every", 0), ("domain_quality", "best"), ("device", "tpu"), ("amp", "yes"),
    ("g_input", "imagenet"), ("g_input_res", 0), ("g_input_res", 33), ("g_input_noise", -0.25),
    ("g_input_snapshot", "x/snapshot.pt"), ("diffaugment", "color,zoom"), ("diffaugment", 3),
    ("pconv_kind", "salt"), ("pconv_rate", 1.0), ("pconv_rate", -0.1), ("nice_gamma", -1.0), ("nice_eta", 1.5),
    ("d_mask", "fourier"), ("d_mask", "spatial,spatial"), ("d_mask", 1), ("d_mask_prob", 0.0), ("d_mask_prob", 1.2),
    ("d_mask_ratio", 0.0), ("d_mask_ratio", 1.0), ("d_mask_patch", 0), ("d_mask_patch", 33), ("d_mask_grid", "torus"),
    ("d_mask_bands", 1), ("d_mask_n_masked", 4), ("d_mask_n_masked", 0), ("d_mask_balanced", "yes"),
    ("d_mask_keep_dc", 0),
]

# options that apply only to some methods / mask kinds: refused elsewhere, naming the parameter
MISPLACED = [
    (dict(method="sngan", pconv_rate=0.2), "pconv_rate"), (dict(method="sngan-nice", pconv_kind="channel"), "pconv_kind"),
    (dict(method="sngan-pconv", nice_gamma=1.0), "nice_gamma"), (dict(method="dcgan", nice_eta=0.5), "nice_eta"),
    (dict(method="sngan", d_mask_ratio=0.5), "d_mask_ratio"), (dict(method="sngan", d_mask_prob=0.5), "d_mask_prob"),
    (dict(method="sngan-mask-spatial", d_mask_bands=8), "d_mask_bands"),
    (dict(method="sngan-mask-spectral", d_mask_patch=8), "d_mask_patch"),
    (dict(method="sngan", d_mask="spatial", d_mask_keep_dc=False), "d_mask_keep_dc"),
]


@pytest.mark.parametrize("name,value", BAD)
def test_bad_parameter_names_itself(name, value):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_params({name: value})
    msg = str(e.value)
    assert name in msg and "allowed" in msg and "\n" not in msg


INF, NAN = float("inf"), float("nan")
NON_FINITE = [   # accepted before (inf passed every '> 0' check)
    dict(lr_g=INF), dict(lr_d=-INF), dict(lr_g=NAN), dict(method="pgan-g", noise_level=NAN),
    dict(method="pgan-g", noise_level=INF), dict(gp_lambda=INF), dict(gp_lambda=NAN), dict(ema_kimg=INF),
    dict(ema_rampup=INF), dict(g_input_noise=INF), dict(betas_g=(0.5, NAN)), dict(betas_d=(INF, 0.9)),
    dict(data_fraction=NAN), dict(method="sngan-nice", nice_gamma=INF), dict(method="sngan-nice", nice_eta=NAN),
    dict(method="sngan-pconv", pconv_rate=NAN), dict(method="sngan-mask-both", d_mask_prob=NAN),
]


@pytest.mark.parametrize("params", NON_FINITE, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_non_finite_numbers_are_refused_in_one_line(params):
    name = next(k for k in params if k != "method")
    with pytest.raises(ConfigError) as e:
        RunConfig.from_params(params)
    msg = str(e.value)
    assert msg.startswith(f"parameter '{name}': got ") and "allowed: a finite number" in msg and "\n" not in msg


def test_number_checks_refuse_non_finite_values():
    from pgan_core.errors import check_positive, check_range, is_number

    assert is_number(3) and is_number(10 ** 400) and is_number(-0.5) and not is_number(True)
    assert not any(is_number(v) for v in (INF, -INF, NAN, "1", None))
    assert check_positive("x", 2.5) == 2.5 and check_range("x", 0.5, 0.0, 1.0) == 0.5
    for v in (INF, NAN):
        with pytest.raises(ConfigError, match=r"^parameter 'x': got .*; allowed: a finite number"):
            check_positive("x", v, allow_zero=True)
        with pytest.raises(ConfigError, match=r"^parameter 'x': got .*; allowed: a finite number in \[0"):
            check_range("x", v, 0.0, INF)


@pytest.mark.parametrize("params,name", MISPLACED)
def test_option_for_another_method_or_mask_kind_is_refused(params, name):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_params(params)
    assert f"'{name}'" in str(e.value) and "allowed" in str(e.value)


def test_d_side_options_resolve_from_the_registry():
    assert RunConfig(method="sngan").resolved().d_mask == ""
    assert RunConfig(method="sngan-mask-both").resolved().d_mask == "spatial,spectral"
    assert RunConfig(method="sngan-mask-both", d_mask="").resolved().d_mask_kinds() == ()   # '' switches it off
    assert RunConfig(method="sngan", d_mask="spectral,spatial").d_mask == "spatial,spectral"  # normalised
    c = RunConfig(method="sngan-mask-spatial", d_mask_ratio=0.5, d_mask_prob=0.5)
    assert c.resolved().d_mask_kinds() == ("spatial",) and c.key() != RunConfig(method="sngan-mask-spatial").key()
    assert RunConfig(method="sngan-pconv", pconv_kind="gaussian", pconv_rate=0.0).pconv_rate == 0.0
    assert RunConfig(method="sngan-nice-noise", nice_gamma=0.0, nice_eta=0.5).nice_eta == 0.5


def test_unknown_parameter():
    with pytest.raises(ConfigError, match="'stepz'.*unknown"):
        RunConfig.from_params({"stepz": 3})


def test_unknown_profile():
    with pytest.raises(ConfigError, match="PROFILE"):
        get_profile("huge")


def test_profiles_validate():
    for name in PROFILES:
        assert base_config(name).steps > 0


def test_resolved_fills_paper_defaults_and_key_is_stable():
    c = RunConfig(method="pgan-g").resolved()
    assert c.loss == "ns" and c.lr_g == 2e-4 and c.betas_g == (0.5, 0.999)
    assert RunConfig(method="pgan-g").key() == RunConfig.from_params({"method": "pgan-g"}).key()
    assert RunConfig(method="pgan-g", seed=1).key() != RunConfig(method="pgan-g").key()


@pytest.mark.parametrize("kw,name", [
    (dict(methods=["dcgan", "bogus"]), "METHODS"), (dict(methods="dcgan"), "METHODS"),
    (dict(datasets=["svhn"]), "DATASETS"), (dict(seeds=[0, 0]), "SEEDS"), (dict(seeds=[-1]), "SEEDS"),
    (dict(profile="fast"), "PROFILE"), (dict(overrides={"steps": -5}), "steps"),
    (dict(methods=None, variants={"a": {"lr_d": 1e-4}}), "VARIANTS"),
    (dict(methods=None, variants={"a": {"method": "dcgan", "lr_d": -1e-4}}), "lr_d"),
    (dict(methods=None, variants={"a": {"method": "dcgan", "g_input": "svhn"}}), "g_input"),
    (dict(methods=None, variants={"a": {"method": "dcgan", "seed": 3}}), "VARIANTS"),
    (dict(methods=None, variants={}), "VARIANTS"),
    (dict(variants={"a": {"method": "dcgan"}}), "METHODS"),
])
def test_grid_rejects_bad_input_before_training(tmp_path, kw, name):
    args = dict(notebook="t", profile="smoke", methods=["dcgan"], datasets=["synthetic"], seeds=[0], runs_dir=tmp_path)
    args.update(kw)
    with pytest.raises(ConfigError, match=name):
        run_grid(**args)
    assert not any(tmp_path.iterdir())


def test_cascade_needs_a_snapshot_path():
    with pytest.raises(ConfigError, match="g_input_snapshot"):
        RunConfig.from_params({"g_input": "generator"})


def test_cascade_snapshot_under_the_runs_root_is_stored_relative(tmp_path, monkeypatch):
    """A snapshot inside $PGAN_RUNS is kept relative to it (run keys and provenance name no machine's folders) and
    read back from there; one outside it stays absolute."""
    from pgan_core.io import in_runs

    monkeypatch.setenv("PGAN_RUNS", str(tmp_path / "runs"))
    inside = tmp_path / "runs" / "07" / "cpu" / "src-s0" / "snapshot.pt"
    c = RunConfig(g_input="generator", g_input_snapshot=str(inside))
    assert c.g_input_snapshot == "07/cpu/src-s0/snapshot.pt"
    assert in_runs(c.g_input_snapshot) == tmp_path / "runs" / "07" / "cpu" / "src-s0" / "snapshot.pt"
    assert RunConfig.from_params(c.to_dict()).key() == c.key()
    monkeypatch.setenv("PGAN_RUNS", str(tmp_path / "elsewhere"))     # the same folder tree on another machine
    moved = RunConfig(g_input="generator", g_input_snapshot=str(tmp_path / "elsewhere" / "07" / "cpu" / "src-s0" / "snapshot.pt"))
    assert moved.key() == c.key()
    outside = RunConfig(g_input="generator", g_input_snapshot=str(tmp_path / "other" / "snapshot.pt"))
    assert outside.g_input_snapshot == str(tmp_path / "other" / "snapshot.pt")


def test_new_fields_at_defaults_keep_old_run_keys():
    """Fields added later (generator input) are left out of the key at their defaults: old run folders stay valid."""
    from pgan_core.io import stable_hash

    c = RunConfig(method="dcgan", dataset="mnist")
    from pgan_core.config import KEY_OPTIONAL_DEFAULTS

    old = {k: v for k, v in c.resolved().to_dict().items() if k not in KEY_OPTIONAL_DEFAULTS}
    assert set(KEY_OPTIONAL_DEFAULTS) == {"g_input", "g_input_res", "g_input_noise", "g_input_snapshot", "diffaugment", "lr_decay",
                                          "pconv_kind", "pconv_rate", "nice_gamma", "nice_eta", "d_mask", "d_mask_prob",
                                          "d_mask_ratio", "d_mask_patch", "d_mask_grid", "d_mask_bands",
                                          "d_mask_n_masked", "d_mask_balanced", "d_mask_keep_dc",
                                          "channels_last", "compile", "cpu_amp"}
    import dataclasses
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    assert all(defaults[k] == v or (k == "d_mask" and defaults[k] is None) for k, v in KEY_OPTIONAL_DEFAULTS.items())
    assert RunConfig(method="sngan").key() == stable_hash(
        {k: v for k, v in RunConfig(method="sngan").resolved().to_dict().items() if k not in KEY_OPTIONAL_DEFAULTS})
    assert c.key() == stable_hash(old)
    assert c.replace(g_input="fashion-mnist").key() != c.key()


def test_input_dim_and_n_critic_from_method():
    assert RunConfig(z_dim=100).input_dim == 100
    assert RunConfig(g_input="cifar10", g_input_res=10).input_dim == 100
    assert RunConfig(method="dcgan").resolved().n_critic == 1
    assert RunConfig(method="wgan-gp").resolved().n_critic == 5
    assert RunConfig(method="wgan-gp", n_critic=1).resolved().n_critic == 1


def test_grid_variants_label_rows(tmp_path):
    g = run_grid(notebook="t", profile="smoke", datasets=["synthetic"], seeds=[0], runs_dir=tmp_path, progress=False,
                 variants={"one ts": {"method": "dcgan"}, "ttur": {"method": "dcgan", "lr_d": 4e-4, "lr_g": 1e-4}},
                 overrides={"steps": 2, "eval_every": 0, "max_images": 64, "batch_size": 8})
    runs = g.runs()
    assert sorted(runs["method"]) == ["one ts", "ttur"] and set(runs["base_method"]) == {"dcgan"}
    assert runs.set_index("method").loc["ttur", "lr_d"] == 4e-4
    assert g.record("ttur", "synthetic", 0).config["lr_g"] == 1e-4


def test_grid_fraction_axis_labels_settings_and_takes_each_fractions_budget(tmp_path, monkeypatch):
    import dataclasses

    from pgan_core.experiments import setting_label

    smoke = PROFILES["smoke"]
    monkeypatch.setitem(PROFILES, "smoke", dataclasses.replace(
        smoke, budgets={**smoke.budgets, "t": {"*": dict(steps=2), 0.5: dict(steps=4)}}))
    g = run_grid(notebook="t", profile="smoke", methods=["dcgan"], datasets=["synthetic"], fractions=[1.0, 0.5],
                 seeds=[0], runs_dir=tmp_path, progress=False,
                 overrides={"eval_every": 0, "max_images": 64, "batch_size": 8})
    runs = g.runs().set_index("dataset")
    assert list(runs.index) == ["synthetic", "synthetic 50%"] == [setting_label("synthetic", f) for f in (1.0, 0.5)]
    assert runs["data_fraction"].tolist() == [1.0, 0.5] and runs["steps"].tolist() == [2, 4]   # each fraction's budget
    assert g.record("dcgan", "synthetic 50%", 0).config["data_fraction"] == 0.5
    assert base_config("smoke", notebook="t", fraction=0.5).steps == 4 and base_config("smoke", notebook="t").steps == 2
    with pytest.raises(ConfigError, match="parameter 'data_fraction'"):
        base_config("smoke", fraction=0.5, data_fraction=0.5)
    with pytest.raises(ConfigError, match="FRACTIONS"):
        run_grid(notebook="t", profile="smoke", methods=["dcgan"], datasets=["synthetic"], fractions=[0.5, 0.5],
                 seeds=[0], runs_dir=tmp_path)


def test_arch_version_changes_the_keys_of_changed_architectures_only():
    """The authors' Perturbative G and D (commit 80eae65) changed the networks of the perturbative methods: their
    run keys carry arch_version 1, so a run folder of the old networks is not reused; other methods keep theirs."""
    from pgan_core.registry import get_method

    # keys computed before arch_version existed (same code otherwise), hard-coded on purpose
    assert RunConfig(method="dcgan").key() == "5f3d637d46dc"
    assert RunConfig(method="dcgan", dataset="cifar10").key() == "a2849f70727f"
    assert RunConfig(method="sngan").key() == "527d34345e3e"
    assert RunConfig(method="sngan", dataset="cifar10").key() == "d8ccaf619e80"
    assert RunConfig(method="g-dcgan+d-sn+da").key() == "48a04e854639"
    assert RunConfig(method="pgan-g").key() != "9baaa4c01e86"
    assert RunConfig(method="pgan-g", dataset="cifar10").key() != "e35103c90dfb"
    assert RunConfig(method="pgan-gd").key() != "31d219236143"
    assert RunConfig(method="dcgan-pert-gd").key() != "77b34542fb5f"
    assert RunConfig(method="g-pert+d-sn").key() != "60794ae3acda"
    assert RunConfig(method="g-dcgan+d-pnn").key() != "9cc8b6da3235"
    changed = ["pgan-g", "pgan-gd", "pgan-g-nonoise", "pgan-gd-nonoise", "pgan-g-lcg", "pgan-g-mt", "pgan-g-conv",
               "pgan-gd-conv", "dcgan-pert-g", "dcgan-pert-gd", "g-pert+d-dcgan", "g-pert-lcg+d-sn",
               "g-pert-mt+d-critic", "g-dcgan+d-pnn", "g-resnet+d-pnn+ttur"]
    assert all(get_method(m).arch_version == 1 for m in changed)
    same = ["dcgan", "wgan-gp", "sngan", "sngan-pconv", "sngan-mask-both", "g-dcgan+d-sn"]
    assert all(get_method(m).arch_version == 0 for m in same)
    sastm = ["sastm", "sastm-add", "sastm-b0", "g-sastm+d-critic+wgan-gp"]          # gate biases back at +1 (were 0)
    assert all(get_method(m).arch_version == 2 for m in sastm)
    assert RunConfig(method="sastm").key() != RunConfig(method="sastm-b0").key()
    nice = ["sngan-nice", "sngan-nice-noise", "g-resnet+spider-mnist+d-nice+da+mask-both+ttur"]   # noise from block 1
    assert all(get_method(m).arch_version == 1 for m in nice)


def test_profile_budgets_apply_per_notebook_and_dataset_and_parameters_win(monkeypatch):
    from dataclasses import replace

    from pgan_core import config as config_mod

    prof = replace(PROFILES["smoke"], budgets={"nb": {"*": {"width": 8}, "mnist": {"steps": 7}}})
    monkeypatch.setitem(config_mod.PROFILES, "smoke", prof)
    assert base_config("smoke", notebook="nb", dataset="mnist").steps == 7
    assert base_config("smoke", notebook="nb", dataset="mnist").width == 8
    assert base_config("smoke", notebook="nb", dataset="cifar10").steps == PROFILES["smoke"].run["steps"]
    assert base_config("smoke", notebook="other", dataset="mnist").width == PROFILES["smoke"].run["width"]
    assert base_config("smoke", notebook="nb", dataset="mnist", steps=9).steps == 9        # the notebook's parameter wins
    assert base_config("smoke", notebook="nb", dataset="mnist").dataset == "mnist"


def test_profile_budgets_are_valid_configs():
    for prof in PROFILES.values():
        for nb, table in prof.budgets.items():
            keys = [k for k in table if k != "*"] or [None]
            for k in keys:
                where = dict(fraction=k) if isinstance(k, float) else dict(dataset=k)
                cfg = base_config(prof.name, notebook=nb, **where)
                assert cfg.steps > 0 and cfg.steps % cfg.eval_every == 0, (prof.name, nb, k)


def test_profile_settings_cover_every_profile_and_are_copies():
    from pathlib import Path

    notebooks = {p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")}
    owners = {nb for prof in PROFILES.values() for nb in prof.settings}
    assert owners and owners <= notebooks
    for nb in owners:
        keys = [set(prof.settings_of(nb)) for prof in PROFILES.values()]
        assert all(k == keys[0] for k in keys), f"{nb}: every profile must give the same settings"
    got = PROFILES["cpu"].settings_of("06_ttur_fid")
    got["levels"].append(9.0)                                       # a caller's change never reaches the profile
    assert 9.0 not in PROFILES["cpu"].settings_of("06_ttur_fid")["levels"]
    assert PROFILES["cpu"].settings_of("no-such-notebook") == {}


def test_profile_rows_and_seed_cuts_name_real_methods():
    from pgan_core.registry import method_names

    METHODS = set(method_names())
    for prof in PROFILES.values():
        for nb, table in prof.rows.items():
            assert all(m in METHODS for ms in table.values() for m in ms), (prof.name, nb)
            assert nb in prof.cuts, f"{prof.name} cuts rows of {nb} without saying why"
        for nb, table in prof.seeds_of.items():
            assert set(table) <= set(METHODS) and nb in prof.cuts
        for nb, methods in prof.inception_rows.items():
            assert set(methods) <= set(METHODS) and nb in prof.cuts


def test_a_runs_config_is_built_once_and_enters_few_modules(tmp_path, monkeypatch):
    """Issue 13's target, counted: from run_grid to a finished run, one config is constructed (validated) once per
    dataset (its base) and once per run, with the method's recipe filled in that one construction (resolving it
    again builds nothing), and it enters at most 12 pgan_core modules (functions called with it)."""
    import sys

    built, entered = [], set()
    post = RunConfig.__post_init__

    def counting(self):
        built.append(self.method)
        return post(self)

    def profile(frame, event, arg):
        if event == "call" and frame.f_globals.get("__name__", "").startswith("pgan_core"):
            code = frame.f_code
            names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
            if any(isinstance(frame.f_locals.get(n), RunConfig) for n in names):
                entered.add(frame.f_globals["__name__"])

    monkeypatch.setattr(RunConfig, "__post_init__", counting)
    sys.setprofile(profile)
    try:
        g = run_grid(notebook="t", profile="smoke", methods=["sngan-pconv"], datasets=["synthetic"], seeds=[0],
                     runs_dir=tmp_path, progress=False, final_protocols=[],
                     overrides={"steps": 2, "eval_every": 0, "max_images": 64, "batch_size": 8})
    finally:
        sys.setprofile(None)
    assert len(built) == 2, built                                   # the dataset's base, then the run's config
    rec = g.records[0]
    assert rec.config["lr_d"] is not None and rec.config["loss"] == "hinge"   # resolved in that construction
    cfg = RunConfig.from_params(rec.config)
    assert cfg.is_resolved and cfg.resolved() is cfg
    assert not RunConfig(method="wgan-gp").is_resolved
    assert 0 < len(entered) <= 12, sorted(entered)
