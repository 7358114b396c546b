"""Protocol keys and the Evaluator (fake dataset, tiny smoke domain extractor, cached reference stats)."""
from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import torch

from pgan_core.errors import ConfigError, DataError, IntegrityError
from pgan_core.metrics import Evaluator, inception_path, parse_protocol, protocol_key
from pgan_core.metrics import domain as domain_mod
from pgan_core.metrics.evaluate import Protocol

TINY = {"epochs": None, "n_train": 256, "steps": 12, "augment": {}, "batch_size": 32}



def fake_imageset(split: str, n: int = 256, **_):
    """Two classes of 3-channel 32x32 images (dark / bright blobs + noise), fixed per split."""
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 170, 70)
    images = (base + torch.randint(-50, 51, (n, 3, 32, 32), generator=g)).clamp(0, 255).to(torch.uint8)
    return SimpleNamespace(images=images, labels=labels.long(), name="fake", split=split, num_classes=2, channels=3)


@pytest.fixture(scope="module")
def trained_cache(tmp_path_factory):
    """Train the tiny 'fake' smoke extractor once per module; tests copy it into their own cache."""
    mp = pytest.MonkeyPatch()
    mp.setattr(domain_mod, "_load_dataset", lambda name, split, **kw: fake_imageset(split, **kw))
    mp.setitem(domain_mod.QUALITY_PRESETS, "smoke", TINY)
    root = tmp_path_factory.mktemp("shared-cache")
    domain_mod.load_domain_extractor("fake", quality="smoke", cache_dir=root)
    mp.undo()
    return root


@pytest.fixture
def calls(monkeypatch, tmp_path, trained_cache):
    log = []

    def loader(name, split, **kwargs):
        log.append((name, split))
        return fake_imageset(split, **kwargs)

    monkeypatch.setattr(domain_mod, "_load_dataset", loader)
    monkeypatch.setitem(domain_mod.QUALITY_PRESETS, "smoke", TINY)
    monkeypatch.delenv("PGAN_INCEPTION_WEIGHTS", raising=False)
    shutil.copytree(trained_cache / "extractors", tmp_path / "extractors")
    return log


def make(tmp_path, protocols, **kw):
    kw.setdefault("ref_n", 256)
    return Evaluator("fake", protocols, domain_quality="smoke", cache_dir=tmp_path, kid_subsets=20, **kw)


# ---------------------------------------------------------------- protocol keys

@pytest.mark.parametrize("key, proto", [
    ("fid5k_domain", Protocol("fid", 5000, "domain")),
    ("kid500_inception", Protocol("kid", 500, "inception")),
    ("is10k_domain", Protocol("is", 10000, "domain")),
    ("fid50k_inception", Protocol("fid", 50000, "inception")),
    ("kid2500_domain", Protocol("kid", 2500, "domain")),
])
def test_parse_and_format_round_trip(key, proto):
    assert parse_protocol(key) == proto
    assert protocol_key(proto.metric, proto.n, proto.extractor) == key
    assert proto.key == key


def test_non_canonical_keys_normalise():
    assert parse_protocol("fid5000_domain").key == "fid5k_domain"
    assert protocol_key("fid", 500, "domain") == "fid500_domain"


@pytest.mark.parametrize("key", ["fid_domain", "fid5k", "fid5k_clip", "FID5k_domain", "fid0_domain",
                                 "fid5kk_domain", "pr5k_domain", "fid5m_domain", 5000])
def test_bad_keys(key):
    with pytest.raises(ConfigError, match="fid5k_domain"):
        parse_protocol(key)


def test_protocol_key_validation():
    with pytest.raises(ConfigError, match="metric"):
        protocol_key("lpips", 5, "domain")
    with pytest.raises(ConfigError, match="'n'"):
        protocol_key("fid", 0, "domain")


# ---------------------------------------------------------------- evaluator

def test_real_images_score_near_zero_and_shift_is_larger(tmp_path, calls):
    keys = ["fid256_domain", "kid256_domain", "is256_domain"]
    ev = make(tmp_path, keys)
    real = fake_imageset("train").images
    same = ev.evaluate(real)
    assert set(same) == set(keys) | {"kid256_domain_std", "is256_domain_std"}
    shifted = ev.evaluate((real.int() + 60).clamp(0, 255).to(torch.uint8))
    assert same["fid256_domain"] < 1e-6 * max(shifted["fid256_domain"], 1.0)
    assert shifted["fid256_domain"] > 0
    assert abs(same["kid256_domain"]) < 0.1 * shifted["kid256_domain"]
    assert 1.0 <= same["is256_domain"] <= 2.0 + 1e-9  # two classes
    # the domain extractor ran once per call: features shared by fid / kid / is
    meta = ev.metadata("kid256_domain")
    assert meta["n_generated"] == 256 and meta["reference_n"] == 256 and meta["reference_split"] == "train"
    assert meta["kid_subsets"] == 20 and meta["kid_subset_size"] == 256 and meta["kid_seed"] == 2020
    assert meta["extractor_name"] == "domain" and len(meta["extractor_sha256"]) == 64
    assert 0.0 <= meta["extractor_test_accuracy"] <= 1.0 and "torch" in meta["versions"]
    assert ev.metadata("is256_domain")["is_splits"] == 10


def test_callable_sampler_called_once_with_max_n(tmp_path, calls):
    ev = make(tmp_path, ["fid100_domain", "kid64_domain"], ref_n=None)
    asked = []

    def sample(n):
        asked.append(n)
        return fake_imageset("test", n=n).images

    out = ev.evaluate(sample)
    assert asked == [100]
    assert out["fid100_domain"] > 0 and "kid64_domain_std" in out
    assert ev.metadata("fid100_domain")["reference_n"] == 100  # default ref_n = max n of the extractor
    with pytest.raises(ConfigError, match="need 100"):
        ev.evaluate(fake_imageset("test", n=50).images)
    with pytest.raises(ConfigError, match="uint8"):
        ev.evaluate(torch.zeros(100, 3, 32, 32))


def test_features_then_metrics_equal_evaluate(tmp_path, calls):
    ev = make(tmp_path, ["fid100_domain", "kid64_domain"], ref_n=None)
    images = fake_imageset("test", n=120).images
    feats = ev.features(images)
    assert set(feats) == {"domain"} and feats["domain"].shape[0] == 100     # the largest n the protocols need
    assert ev.evaluate_features(feats) == pytest.approx(ev.evaluate(images))
    with pytest.raises(ConfigError, match="needs 100"):
        ev.evaluate_features({"domain": feats["domain"][:50]})
    with pytest.raises(ConfigError, match="needs images"):
        make(tmp_path, ["is100_domain"]).evaluate_features(feats)


def test_reference_stats_cached_and_verified(tmp_path, calls):
    ev = make(tmp_path, ["fid128_domain"])
    gen = fake_imageset("test", n=128).images
    first = ev.evaluate(gen)["fid128_domain"]
    stats = list((tmp_path / "stats").glob("*.pt"))
    assert len(stats) == 1 and stats[0].name.startswith("ref-fake-train-domain-")
    n_train_loads = calls.count(("fake", "train"))

    again = make(tmp_path, ["fid128_domain"]).evaluate(gen)["fid128_domain"]
    assert again == first
    assert calls.count(("fake", "train")) == n_train_loads  # neither extractor nor stats rebuilt

    data = bytearray(stats[0].read_bytes())
    data[-100] ^= 0xFF
    stats[0].write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="delete"):
        make(tmp_path, ["fid128_domain"]).evaluate(gen)


def test_is_inception_unavailable_is_none(tmp_path, calls):
    ev = make(tmp_path, ["is100_inception", "fid100_domain"])
    out = ev.evaluate(fake_imageset("test", n=100).images)
    assert out["is100_inception"] is None and out["is100_inception_std"] is None
    assert out["fid100_domain"] > 0
    meta = ev.metadata("is100_inception")
    assert meta["available"] is False and "PGAN_INCEPTION_WEIGHTS" in meta["reason"]


def test_real_vs_real_floor(tmp_path, calls):
    ev = make(tmp_path, ["fid256_domain"])
    floor = ev.real_vs_real(256)
    assert floor["split"] == "test" and floor["ref_split"] == "train" and floor["n"] == 256
    assert floor["fid"] > 0
    with pytest.raises(ConfigError, match="inception"):
        ev.real_vs_real(10, extractor="inception")


def test_constructor_validation(tmp_path):
    with pytest.raises(ConfigError, match="fid5k_domain"):
        Evaluator("fake", ["fid5k"], cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="protocols"):
        Evaluator("fake", "fid5k_domain", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="ref_split"):
        Evaluator("fake", ["fid5k_domain"], ref_split="val", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="duplicate"):
        Evaluator("fake", ["fid5k_domain", "fid5000_domain"], cache_dir=tmp_path)


def _has_inception() -> bool:
    try:
        inception_path()
        return True
    except DataError:
        return False


@pytest.mark.skipif(not _has_inception(), reason="Inception FID weights (default_1.pt) not installed")
def test_kid_on_inception_small(tmp_path, calls):
    ev = make(tmp_path, ["kid6_inception"], ref_n=6, batch_size=6)
    out = ev.evaluate(fake_imageset("test", n=6).images)  # 12 images through Inception (~3 s)
    assert set(out) == {"kid6_inception", "kid6_inception_std"}
    meta = ev.metadata("kid6_inception")
    assert meta["extractor_name"] == "inception" and meta["kid_subset_size"] == 6
    assert meta["extractor_sha256"].startswith("7ff4a85c")


def test_synthetic_dataset_end_to_end(tmp_path, monkeypatch):
    """The real pgan_core.data loader ('synthetic' needs no files) with a tiny smoke extractor."""
    from pgan_core.data import load_dataset

    monkeypatch.setitem(domain_mod.QUALITY_PRESETS, "smoke", TINY)
    ev = Evaluator("synthetic", ["fid128_domain", "kid128_domain"], domain_quality="smoke", cache_dir=tmp_path,
                   kid_subsets=10)
    test = load_dataset("synthetic", "test")
    out = ev.evaluate(test.images)
    assert out["fid128_domain"] > 0 and out["kid128_domain_std"] >= 0
    assert ev.metadata("fid128_domain")["reference_split_size"] == len(load_dataset("synthetic", "train"))
