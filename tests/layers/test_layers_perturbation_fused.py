"""FusedPerturbationLayer: forward and every gradient equal the reference PerturbationLayer, gradcheck,
state_dict interchangeable, eval mode, the reference's argument errors, less saved for backward."""
from __future__ import annotations

import itertools

import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.layers.perturbation import ACTIVATIONS, MASK_SOURCES, PerturbationLayer
from pgan_core.layers.perturbation_fused import FusedPerturbationLayer, perturb_conv1x1

TOL = dict(rtol=1e-4, atol=1e-5)


def pair(cin, cout, res, **kw):
    """A reference layer and a fused layer with the same state (parameters, masks, BN statistics)."""
    torch.manual_seed(0)
    ref = PerturbationLayer(cin, cout, res, **kw)
    fused = FusedPerturbationLayer(cin, cout, res, **kw)
    fused.load_state_dict(ref.state_dict())
    if ref.bn is not None:                                   # non-trivial affine BN parameters
        with torch.no_grad():
            ref.bn.weight.uniform_(0.5, 1.5)
            ref.bn.bias.uniform_(-0.5, 0.5)
        fused.load_state_dict(ref.state_dict())
    return ref, fused


def run(layer, x, gy):
    layer.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(gy)
    grads = {n: p.grad for n, p in layer.named_parameters()}
    return y.detach(), x.grad, grads


def assert_same(ref, fused, x):
    gy = torch.randn(x.shape[0], ref.out_channels, *x.shape[2:])
    y0, gx0, g0 = run(ref, x, gy)
    y1, gx1, g1 = run(fused, x, gy)
    torch.testing.assert_close(y1, y0, **TOL)
    torch.testing.assert_close(gx1, gx0, **TOL)
    assert g0.keys() == g1.keys()
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], **TOL, msg=lambda m, k=k: f"grad of {k}: {m}")
    if ref.bn is not None:
        torch.testing.assert_close(fused.bn.running_mean, ref.bn.running_mean, **TOL)
        torch.testing.assert_close(fused.bn.running_var, ref.bn.running_var, **TOL)


@pytest.mark.parametrize("act,fan_out,level,source,bn", list(itertools.product(
    ACTIVATIONS, (1, 3), (0.0, 0.1), MASK_SOURCES, (True, False))))
def test_matches_reference_odd_shapes(act, fan_out, level, source, bn):
    ref, fused = pair(3, 4, (5, 5), fan_out=fan_out, level=level, mask_source=source, seed=7, act=act, bn=bn)
    torch.testing.assert_close(fused.mask, ref.mask, rtol=0, atol=0)     # same masks (make_mask)
    x = torch.randn(2, 3, 5, 5)
    assert_same(ref, fused, x)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("fan_out", [1, 2])
@pytest.mark.parametrize("res", [(16, 16), (4, 4)])      # 16x16: batched-GEMM forward path
def test_matches_reference_gemm_paths(act, fan_out, res):
    ref, fused = pair(6, 5, res, fan_out=fan_out, level=0.3, mask_source="seeded_normal", act=act, bias=True)
    assert_same(ref, fused, torch.randn(3, 6, *res))


def test_no_bias_matches_reference():
    ref, fused = pair(3, 4, (16, 16), fan_out=2, bias=False, bn=False)
    assert fused.conv.bias is None
    assert_same(ref, fused, torch.randn(2, 3, 16, 16))


def test_input_grad_off_and_channels_last_input():
    ref, fused = pair(3, 4, (16, 16), bn=False)
    x = torch.randn(2, 3, 16, 16).to(memory_format=torch.channels_last)
    torch.testing.assert_close(fused(x), ref(x), **TOL)                  # x not requiring grad
    fused(x).sum().backward()
    ref(x).sum().backward()
    torch.testing.assert_close(fused.conv.weight.grad, ref.conv.weight.grad, **TOL)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("res", [(3, 2), (16, 16)])
def test_gradcheck_float64(act, res):
    torch.manual_seed(3)
    x = torch.randn(2, 2, *res, dtype=torch.float64, requires_grad=True)
    N = torch.randn(4, *res, dtype=torch.float64)
    w = torch.randn(3, 4, 1, 1, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():                                    # keep x + level N away from the ReLU kink
        pre = x.unsqueeze(2) + 0.5 * N.view(2, 2, *res)
        x += torch.where(pre.abs() < 1e-3, 0.01, 0.0).sum(2)
    assert torch.autograd.gradcheck(lambda x, w, b: perturb_conv1x1(x, N, w, b, 0.5, act, 2), (x, w, b))


def test_gradcheck_layer_float64_with_bn():
    torch.manual_seed(4)
    layer = FusedPerturbationLayer(2, 3, (3, 3), fan_out=2, level=0.2, act="lrelu").double()
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


@pytest.mark.parametrize("source", MASK_SOURCES)
def test_state_dict_interchangeable(source):
    ref = PerturbationLayer(3, 4, (5, 5), fan_out=2, mask_source=source, seed=5)
    fused = FusedPerturbationLayer(3, 4, (5, 5), fan_out=2, mask_source=source, seed=5)
    sd_r, sd_f = ref.state_dict(), fused.state_dict()
    assert list(sd_r) == list(sd_f)
    assert ("noise" in sd_f) == (source == "stored_uniform")
    torch.testing.assert_close(fused.mask, ref.mask, rtol=0, atol=0)
    torch.manual_seed(9)
    other = FusedPerturbationLayer(3, 4, (5, 5), fan_out=2, mask_source=source, seed=5)
    ref.load_state_dict(other.state_dict())                     # fused -> reference
    fused.load_state_dict(ref.state_dict())                     # reference -> fused
    for k, v in other.state_dict().items():
        torch.testing.assert_close(fused.state_dict()[k], v, rtol=0, atol=0)


def test_eval_mode_matches_reference():
    ref, fused = pair(3, 4, (5, 5), fan_out=3, act="lrelu")
    x = torch.randn(4, 3, 5, 5)
    for _ in range(3):                                           # move the running statistics
        ref(x), fused(x)
    ref.eval(), fused.eval()
    with torch.no_grad():
        torch.testing.assert_close(fused(x[:1]), ref(x[:1]), **TOL)
    assert_same(ref, fused, x)                                   # grads in eval mode too


@pytest.mark.parametrize("kw", [dict(fan_out=0), dict(level=-0.1), dict(mask_source="mt"), dict(act="tanh"),
                                dict(seed=-1), dict(spatial=(4,)), dict(in_channels=0), dict(fan_out=1.5)])
def test_bad_arguments_same_errors(kw):
    args = dict(in_channels=3, out_channels=4, spatial=(5, 5))
    args.update(kw)
    with pytest.raises(ConfigError) as e_ref:
        PerturbationLayer(**args)
    with pytest.raises(ConfigError) as e_fused:
        FusedPerturbationLayer(**args)
    assert str(e_fused.value) == str(e_ref.value)


def test_wrong_input_shape():
    with pytest.raises(ConfigError, match="does not match"):
        FusedPerturbationLayer(3, 4, (5, 5))(torch.randn(2, 3, 4, 5))


def saved_bytes(layer, x):
    """Bytes of the tensors autograd saves for backward that are new allocations (not x/params/buffers)."""
    known = {t.untyped_storage().data_ptr() for t in [x, *layer.parameters(), *layer.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in known:
            seen[ptr] = t.untyped_storage().nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        layer(x)
    return sum(seen.values())


@pytest.mark.parametrize("bn", [True, False])
def test_saves_less_than_reference(bn):
    ref, fused = pair(8, 8, (16, 16), fan_out=2, bn=bn)
    x = torch.randn(4, 8, 16, 16, requires_grad=True)
    p_bytes = 4 * 8 * 2 * 16 * 16 * 4                            # the perturbed tensor P
    assert saved_bytes(ref, x) - saved_bytes(fused, x) >= p_bytes
    if not bn:
        assert saved_bytes(fused, x) == 0


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("fan_out", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_generic_path_matches_reference(monkeypatch, act, fan_out, bias):
    """The whole-batch path CUDA and autocast take (conv1x1 / convolution_backward), run here on CPU."""
    import pgan_core.layers.perturbation_fused as pf
    monkeypatch.setattr(pf, "_blocked", lambda *a: False)
    ref, fused = pair(3, 4, (16, 16), fan_out=fan_out, act=act, bias=bias, bn=False)
    assert_same(ref, fused, torch.randn(2, 3, 16, 16))


@pytest.mark.parametrize("chunk", [1, 3 * 16 * 16 * 4 * 2, 1 << 30])     # 1 or 2 samples, MIN_BLOCKS cap
def test_blocks_any_size(monkeypatch, chunk):
    """The CPU path cuts the batch into blocks of CHUNK_BYTES of P (last block shorter): same results."""
    import pgan_core.layers.perturbation_fused as pf
    monkeypatch.setattr(pf, "CHUNK_BYTES", chunk)
    ref, fused = pair(3, 4, (16, 16), fan_out=2, act="lrelu", bn=True)     # C_out > C: own grad_y buffer
    assert_same(ref, fused, torch.randn(5, 3, 16, 16))
    ref, fused = pair(4, 3, (16, 16), act="relu", bn=False)                # C_out <= C: grad_y copy in grad_x
    assert_same(ref, fused, torch.randn(5, 4, 16, 16))


def _autocast_matches(device):
    ref, fused = pair(8, 6, (16, 16), fan_out=2, bn=True)
    ref, fused = ref.to(device), fused.to(device)
    x = torch.randn(4, 8, 16, 16, device=device)
    gy = torch.randn(4, 6, 16, 16, device=device)
    out = []
    for layer in (ref, fused):
        layer.zero_grad(set_to_none=True)
        xr = x.clone().requires_grad_(True)
        with torch.autocast(device, dtype=torch.bfloat16):
            y = layer(xr)
        y.backward(gy.to(y.dtype))
        out.append((y.detach(), xr.grad, {n: p.grad for n, p in layer.named_parameters()}))
    (y0, gx0, g0), (y1, gx1, g1) = out
    assert y1.dtype == y0.dtype and gx1.dtype == gx0.dtype == torch.float32

    def close(a, b, what):                        # bf16 GEMMs on both sides (and the reference's W grad is
        err = (a.float() - b.float()).norm() / b.float().norm()     # summed over the batch in bf16): 2% in norm
        assert err < 2e-2, f"{what}: relative error {err:.3g}"
    close(y1, y0, "y")
    close(gx1, gx0, "grad x")
    for k in g0:
        assert g1[k].dtype == g0[k].dtype == torch.float32
        close(g1[k], g0[k], f"grad of {k}")


def test_autocast_bf16_cpu_matches_reference():
    _autocast_matches("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("bn", [True, False])
def test_cuda_matches_reference(bn):
    ref, fused = pair(8, 6, (16, 16), fan_out=2, bn=bn)
    ref, fused = ref.cuda(), fused.cuda()
    gy = torch.randn(4, 6, 16, 16, device="cuda")
    x = torch.randn(4, 8, 16, 16, device="cuda")
    y0, gx0, g0 = run(ref, x, gy)
    y1, gx1, g1 = run(fused, x, gy)
    tol = dict(rtol=1e-3, atol=1e-3)                                     # TF32 may differ between the two
    torch.testing.assert_close(y1, y0, **tol)
    torch.testing.assert_close(gx1, gx0, **tol)
    for k in g0:
        torch.testing.assert_close(g1[k], g0[k], **tol)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_autocast_bf16_cuda_matches_reference():
    _autocast_matches("cuda")
