"""Shipped whole-split Inception reference statistics: resumable chunked features, file, sidecar, provenance."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pgan_core.errors import DataError, IntegrityError
from pgan_core.metrics import reference as ref
from pgan_core.metrics.frechet import feature_stats


class CountingExtractor:
    """A stand-in for InceptionFeatures: deterministic 5-d features, counts the images it saw."""

    name, dim, sha256, impl_used = "inception", 5, "f" * 64, "fake"

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        self.seen += len(images)
        x = images.float().flatten(1)
        return torch.stack([x.mean(1), x.std(1), x[:, 0], x[:, 7], x[:, 99] * 0.5], 1)   # (N, 5)


@pytest.fixture
def tiny_split(monkeypatch, tmp_path):
    images = torch.randint(0, 256, (11, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))

    class Split:
        pass

    split = Split()
    split.images = images
    monkeypatch.setattr(ref, "_load_split", lambda dataset, s: split)
    monkeypatch.setenv("PGAN_REFERENCES", str(tmp_path / "refs"))
    monkeypatch.setenv("PGAN_CACHE", str(tmp_path / "cache"))
    return images


def test_features_are_cached_per_chunk_and_resumed(tiny_split, tmp_path):
    ext = CountingExtractor()
    first = ref.split_features("cifar10", "test", extractor=ext, chunk=4)
    assert first.shape == (11, 5) and ext.seen == 11
    chunks = sorted((tmp_path / "cache" / "inception-features").rglob("*.pt"))
    assert [p.name for p in chunks] == ["000000-000004.pt", "000004-000008.pt", "000008-000011.pt"]
    chunks[1].unlink()                                                   # an interrupted build: one chunk missing
    again = ref.split_features("cifar10", "test", extractor=ext, chunk=4)
    assert ext.seen == 15 and torch.equal(first, again)                  # only the missing chunk is recomputed
    assert torch.equal(ref.split_features("cifar10", "test", extractor=ext, chunk=4, limit=6), first[:6])


def test_built_reference_round_trips_with_sidecar_and_provenance(tiny_split, tmp_path):
    ext = CountingExtractor()
    path = ref.build_reference("cifar10", "test", extractor=ext, chunk=4, progress=False)
    assert path == tmp_path / "refs" / "inception" / "cifar10-test.npz"
    got = ref.load_reference("cifar10", "test")
    mu, sigma = feature_stats(ext(tiny_split))
    assert got["n"] == 11 and np.array_equal(got["mu"], mu) and np.array_equal(got["sigma"], sigma)
    prov = json.loads(path.with_suffix(".json").read_text())
    assert prov["n_images"] == 11 and prov["sha256"] == (path.parent / "cifar10-test.npz.sha256").read_text().strip()
    assert prov["extractor"]["weights_sha256"] == "f" * 64 and "commit" in prov and "device" in prov


def test_damaged_or_missing_reference_is_an_error_naming_it(tiny_split, tmp_path):
    with pytest.raises(DataError, match="python -m pgan_core.metrics.reference"):
        ref.load_reference("cifar10", "train")
    path = ref.build_reference("cifar10", "test", extractor=CountingExtractor(), chunk=4, progress=False)
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="cifar10-test.npz"):
        ref.load_reference("cifar10", "test")


def test_evaluator_measures_inception_fid_against_the_shipped_whole_split(tiny_split, tmp_path):
    from pgan_core.metrics.evaluate import Evaluator

    ref.build_reference("cifar10", "train", extractor=CountingExtractor(), chunk=4, progress=False)
    ev = Evaluator("cifar10", ["fid8_inception"])
    got = ev.fid_reference("inception")
    assert got["n"] == 11 and got["path"].endswith("cifar10-train.npz") and got["mu"].shape == (5,)
    from pgan_core.errors import ConfigError

    with pytest.raises(ConfigError, match="inception_reference"):
        Evaluator("cifar10", ["fid8_inception"], inception_reference="full")


def test_fid_between_two_shipped_splits_is_written_with_the_peers(tiny_split, tmp_path):
    ext = CountingExtractor()
    ref.build_reference("cifar10", "test", extractor=ext, chunk=4, progress=False)
    ref.build_reference("cifar10", "train", extractor=ext, chunk=4, progress=False)   # the same images here
    out = ref.fid_between_splits("cifar10", "test", "train")
    assert out["fid"] == pytest.approx(0.0, abs=1e-6) and out["peers"]             # identical sets: FID 0
    saved = json.loads((tmp_path / "refs" / "inception" / "cifar10-fid-test-vs-train.json").read_text())
    assert saved["fid"] == out["fid"] and saved["a"]["n"] == 11


@pytest.mark.skipif(not (ref.reference_available("cifar10", "train") and ref.reference_available("cifar10", "test")),
                    reason="the shipped CIFAR-10 reference statistics are not in this checkout")
def test_shipped_cifar10_references_are_intact_and_their_fid_is_the_recorded_one():
    from pgan_core.metrics.frechet import fid_from_stats

    a, b = ref.load_reference("cifar10", "test"), ref.load_reference("cifar10", "train")   # sha256 checked
    assert (a["n"], b["n"]) == (10_000, 50_000) and a["mu"].shape == (2048,) and b["sigma"].shape == (2048, 2048)
    assert np.array_equal(b["sigma"], b["sigma"].T) and np.linalg.eigvalsh(b["sigma"]).min() > -1e-6
    recorded = json.loads((ref.reference_root() / "inception" / "cifar10-fid-test-vs-train.json").read_text())
    assert fid_from_stats(a["mu"], a["sigma"], b["mu"], b["sigma"]) == pytest.approx(recorded["fid"], rel=1e-9)
