"""Domain feature extractor: network shapes, training + cache, integrity, and real MNIST accuracy."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from pgan_core.errors import ConfigError, IntegrityError
from pgan_core.io import data_root
from pgan_core.metrics import DomainClassifier, load_domain_extractor
from pgan_core.metrics import domain as domain_mod

TINY = {"epochs": None, "n_train": 256, "steps": 12, "augment": {}, "batch_size": 32}



def fake_imageset(split: str, n: int = 256, channels: int = 3, **_):
    """Two easily separable classes: dark vs bright images (+ noise), fixed per split."""
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    labels = torch.arange(n) % 2
    base = torch.where(labels[:, None, None, None] == 1, 190, 60)
    noise = torch.randint(-40, 41, (n, channels, 32, 32), generator=g)
    images = (base + noise).clamp(0, 255).to(torch.uint8)
    return SimpleNamespace(images=images, labels=labels.long(), name="fake", split=split, num_classes=2,
                           channels=channels)


@pytest.fixture
def fake_data(monkeypatch):
    calls = []

    def loader(name, split, **kwargs):
        calls.append((name, split))
        return fake_imageset(split, **kwargs)

    monkeypatch.setattr(domain_mod, "_load_dataset", loader)
    monkeypatch.setitem(domain_mod.QUALITY_PRESETS, "smoke", TINY)
    return calls


def test_classifier_shapes():
    net = DomainClassifier(3, 7).eval()
    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    feats, logits = net.features_and_logits(x)
    assert feats.shape == (5, 128) and logits.shape == (5, 7)
    assert (feats >= 0).all()  # ReLU then average pool
    assert net(x).shape == (5, 7)
    with pytest.raises(ConfigError, match="widths"):
        DomainClassifier(3, 7, widths=(8, 8))


def test_train_cache_reuse_and_attributes(tmp_path, fake_data):
    ext = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path)
    assert (ext.name, ext.dataset, ext.quality, ext.dim, ext.num_classes) == ("domain", "fake", "smoke", 128, 2)
    assert ext.has_logits and ext.test_accuracy > 0.9  # trivially separable
    files = sorted(p.name for p in (tmp_path / "extractors").iterdir())
    pt = [f for f in files if f.endswith(".pt")]
    assert len(pt) == 1 and pt[0].startswith("domain-fake-smoke-") and pt[0] + ".sha256" in files
    assert pt[0][:-3] + ".json" in files
    assert len(ext.sha256) == 64
    n_calls = len(fake_data)
    assert n_calls == 2  # train + test split

    x = fake_imageset("test", n=7)
    feats, logits = ext(x.images)
    assert feats.shape == (7, 128) and logits.shape == (7, 2)
    assert feats.dtype == torch.float32 and logits.dtype == torch.float32

    again = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path)
    assert len(fake_data) == n_calls  # no retraining, no data loading
    assert again.sha256 == ext.sha256 and again.test_accuracy == ext.test_accuracy
    torch.testing.assert_close(again(x.images)[0], feats, rtol=0, atol=0)


def test_deterministic_for_seed(tmp_path, fake_data):
    a = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "a")
    b = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "b")
    c = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "c", seed=1)
    x = fake_imageset("test", n=8).images
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=0, atol=0)
    assert not torch.equal(a(x)[0], c(x)[0])
    assert a.path.name != c.path.name  # the seed is part of the cache key


def test_corrupted_cache_raises(tmp_path, fake_data):
    ext = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path)
    data = bytearray(ext.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ext.path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="delete"):
        load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path)


def test_input_checks(tmp_path, fake_data):
    ext = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="uint8"):
        ext(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ConfigError, match="channels|shape"):
        ext(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="quality"):
        load_domain_extractor("fake", quality="best", cache_dir=tmp_path)


def test_augment_keeps_shape_and_dtype():
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    y = domain_mod._augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == torch.uint8


def test_full_preset_recipe():
    cfg = domain_mod._train_config("cifar10", "full", 0)
    assert cfg["epochs"] == 4 and cfg["augment"] and cfg["steps"] is None and cfg["n_train"] is None
    cfg = domain_mod._train_config("mnist", "full", 0)
    assert cfg["epochs"] == 2 and not cfg["augment"] and cfg["batch_size"] == 128 and cfg["lr"] == 1e-3
    smoke = domain_mod._train_config("mnist", "smoke", 0)
    assert smoke["steps"] == 100 and smoke["n_train"] == 2000


def _mnist_available() -> bool:
    try:
        return (data_root() / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    except Exception:
        return False


@pytest.mark.skipif(not _mnist_available(), reason="real MNIST not found under PGAN_DATA")
def test_mnist_smoke_extractor_accuracy():
    """The smoke extractor the smoke notebooks measure with (shipped in references/domain/, so CI trains none)
    classifies the whole MNIST test split; training on real data is what the notebooks' full extractors show."""
    torch.set_num_threads(2)  # (the autouse fixture restores the count)
    ext = load_domain_extractor("mnist", quality="smoke")
    assert ext.channels == 1 and ext.num_classes == 10
    assert ext.test_accuracy > 0.80
    assert ext.meta["n_train"] == 2000 and ext.meta["n_test"] == 10000
    assert ext.meta["source"] == "shipped"


def test_shipped_extractor_is_loaded_instead_of_trained(tmp_path, fake_data, monkeypatch):
    monkeypatch.setenv("PGAN_REFERENCES", str(tmp_path / "refs"))
    monkeypatch.setenv("PGAN_CACHE", str(tmp_path / "cache"))
    shipped = domain_mod.ship("fake", quality="smoke", progress=False)            # trains, then ships
    assert shipped.parent == tmp_path / "refs" / "domain"
    assert (shipped.parent / (shipped.name + ".sha256")).is_file() and shipped.with_suffix(".json").is_file()
    trained = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "cache")

    def no_training(*a, **k):
        raise AssertionError("a shipped extractor must not be retrained")

    monkeypatch.setattr(domain_mod, "_train_and_cache", no_training)
    got = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "empty")   # another machine
    assert got.meta["source"] == "shipped" and got.sha256 == trained.sha256 and got.path == shipped
    monkeypatch.setenv("PGAN_DOMAIN_SHIPPED", "0")                   # retraining stays possible
    with pytest.raises(AssertionError, match="must not be retrained"):
        load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "empty")


def test_damaged_shipped_extractor_is_refused(tmp_path, fake_data, monkeypatch):
    monkeypatch.setenv("PGAN_REFERENCES", str(tmp_path / "refs"))
    trained = load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "cache")
    dest = tmp_path / "refs" / "domain"
    dest.mkdir(parents=True)
    data = bytearray(trained.path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (dest / trained.path.name).write_bytes(bytes(data))
    (dest / (trained.path.name + ".sha256")).write_text(trained.sha256 + "\n")
    with pytest.raises(IntegrityError, match=trained.path.name):
        load_domain_extractor("fake", quality="smoke", cache_dir=tmp_path / "other")
