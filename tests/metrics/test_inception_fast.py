"""The CPU fast path of the FID Inception: same features as the plain TorchScript file, same FID."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pgan_core.errors import ConfigError, DataError
from pgan_core.metrics import fid_from_features
from pgan_core.metrics.inception import InceptionFeatures, inception_path, resize_tf1_bilinear
from pgan_core.metrics.inception_fast import fold_conv_bn


def _has_file() -> bool:
    try:
        inception_path()
        return True
    except DataError:
        return False


needs_file = pytest.mark.skipif(not _has_file(), reason="Inception FID weights (default_1.pt) not installed")


def _cifar_test(n: int) -> torch.Tensor:
    from pgan_core.data import load_dataset

    try:
        return load_dataset("cifar10", "test").images[:n]                  # (n, 3, 32, 32) uint8, real images
    except DataError:
        pytest.skip("CIFAR-10 not available (set PGAN_DATA)")


def test_resize_is_bit_identical_to_torch_fidelity():
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x as ref

    g = torch.Generator().manual_seed(0)
    for shape in ((3, 3, 32, 32), (2, 3, 28, 28), (1, 3, 17, 9)):
        x = torch.randint(0, 256, shape, generator=g).float()
        assert torch.equal(resize_tf1_bilinear(x), ref(x, size=(299, 299), align_corners=False))


def test_fold_matches_conv_then_batchnorm():
    class Layer:                                     # the attributes of the file's Conv2dLayer
        stride, padding = 1, [1, 0]

    g = torch.Generator().manual_seed(1)
    layer = Layer()
    layer.weight = torch.randn(6, 4, 3, 1, generator=g)
    layer.mean, layer.beta = torch.randn(6, generator=g), torch.randn(6, generator=g)
    layer.var = torch.rand(6, generator=g) + 0.1
    x = torch.randn(2, 4, 9, 9, generator=g)
    ref = torch.nn.functional.batch_norm(torch.nn.functional.conv2d(x, layer.weight, None, 1, (1, 0)),
                                         layer.mean, layer.var, None, layer.beta, False, 0.1, 1e-3)
    out = fold_conv_bn(layer)(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_unknown_impl_is_refused():
    with pytest.raises(ConfigError, match="impl"):
        InceptionFeatures(impl="onnx", verify=False)


@needs_file
def test_fast_features_equal_the_plain_file_on_real_cifar10():
    images = _cifar_test(20)
    plain = InceptionFeatures(impl="plain", batch_size=8)
    fast = InceptionFeatures(impl="fast", batch_size=8)                    # 20 = 8 + 8 + 4: the padded last batch
    assert (plain.impl_used, fast.impl_used) == ("plain", "fast")
    a, b = plain(images), fast(images)                                     # (20, 2048) each
    assert a.shape == b.shape == (20, 2048)
    rel = ((a - b).norm() / a.norm()).item()
    assert rel < 1e-5, rel
    assert ((a - b).abs().max() / a.abs().max()).item() < 1e-5
    one = fast(images[19:20])                                              # alone, padded to the batch shape
    torch.testing.assert_close(one, b[19:20], rtol=1e-5, atol=1e-6)
    # FID of the same two image sets (the first 10 vs the last 10) through both paths
    fid_plain, fid_fast = fid_from_features(a[:10], a[10:]), fid_from_features(b[:10], b[10:])
    assert abs(fid_plain - fid_fast) / fid_plain < 1e-4, (fid_plain, fid_fast)


@needs_file
def test_auto_picks_fast_on_cpu_and_grayscale_works():
    net = InceptionFeatures(batch_size=4)
    assert net.impl_used == "fast"
    g = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    out = net(g)
    assert out.shape == (3, 2048) and torch.isfinite(out).all()
    assert np.isclose(float(out.min()), max(0.0, float(out.min())))       # pool_3 of ReLUs: non-negative
