r"""A fused, memory-lean perturbation layer: the same maths and state_dict as ``PerturbationLayer``.

``FusedPerturbationLayer`` computes exactly what :class:`pgan_core.layers.perturbation.PerturbationLayer`
computes (see that module for the equation, the mask sources and the deviations from the papers)::

    y = BN( W act(x + level N) + b )

References: Y. Kishi et al., *Perturbative GAN: GAN with Perturbation Layers*, arXiv:1902.01514;
F. Juefei-Xu, V. N. Boddeti, M. Savvides, *Perturbative Neural Networks*, CVPR 2018, arXiv:1806.01817.

What is fused: noise add + activation + 1x1 convolution run inside one ``torch.autograd.Function``
(:class:`_PerturbConv1x1`) that builds the perturbed tensor P = act(x + level N) (fan-out m as a
broadcast of x against the (C, m, H, W) view of the masks, the repeat is never materialised), applies
y = W P + b and then *frees P*.

What is saved for backward: only x (the layer's input, which already exists), the mask buffer N and
the weight W, all references to existing tensors; the reference layer keeps P alive instead, a fresh
(B, C*m, H, W) tensor (m times the size of x). Backward recomputes P = act(x + level N), then
grad_W = sum_b grad_y P^T, grad_b = sum grad_y, grad_x = act'(x + level N) * (W^T grad_y) summed over
the m fan-out copies. BatchNorm stays a regular ``nn.BatchNorm2d`` after the fused op, so running
statistics and the BN state_dict are unchanged.

CPU (float32/float64, no autocast): the batch is cut into blocks of about ``CHUNK_BYTES`` of P. Per
block, P is written into one reused buffer and consumed by the GEMMs while it is in cache: y = W P + b
and W^T grad_y as one batched GEMM each (``baddbmm``/``bmm`` on the (n, C, H*W) views, written in place
into y / grad_x with ``out=``); grad_W as *one* GEMM (O, n*H*W) @ (n*H*W, K), for which backward writes P
channel-major and copies the grad_y block so (``addbmm`` would run one small GEMM per sample); grad_b
summed off the grad_y block; the ReLU/LeakyReLU gradient applied in place on the grad_x block. The only
full-size tensors a fwd+bwd allocates are y and grad_x (the reference also allocates P, grad_P and a
separate grad_x); the block buffers add at most 1/2 of P (``MIN_BLOCKS``), the grad_y copy none when it
fits in the grad_x block (C_out <= C). Blocks are few (2 at the benched shapes, at most 8 MiB of P each)
because every op is a parallel region: with the cores shared with other processes, many small regions
wait on each other far more than a few large ones, and on the benched CPU (large L3) smaller blocks
bought no measurable speed.
CUDA, autocast (e.g. bf16 on CUDA) and other dtypes take one whole-batch pass (``conv1x1`` /
``aten.convolution_backward``); under autocast P, W and b are cast to the autocast dtype for the
convolution exactly where autocast casts the reference's convolution (the add and the activation stay
in the input's precision, gradients come back in the dtypes of x, W and b).

Masks are read from the stored buffer N, not regenerated: N is (C*m, H, W), 1/B of x, and stays in
cache across the batch, while regenerating LCG values (a 32-bit LCG step and a float64 divide per
element, :mod:`pgan_core.layers.lcg`) costs more than the pass that reads them: on one CPU thread the
(64, 32, 32) mask takes ~0.45 ms to regenerate against ~2.6 ms for add + ReLU over the whole
(64, 64, 32, 32) batch (~0.02 ms per sample), so regenerating per pass adds ~35% to that pass and per
block far more, to save 256 KiB. The masks stay bit-exact ``make_mask`` values either way.

Same constructor signature, argument validation (the reference's, via subclassing), masks
(:func:`make_mask`, same seed -> same masks), buffers and state_dict keys as ``PerturbationLayer``,
so a state_dict loads into either class. Verified equal to the reference (forward and all gradients,
float32 rtol 1e-4 / atol 1e-5, every activation, mask source, fan-out, level and BN setting; and
``torch.autograd.gradcheck`` in float64) by ``tests/layers/test_layers_perturbation_fused.py``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .perturbation import LRELU_SLOPE, PerturbationLayer, conv1x1

__all__ = ["FusedPerturbationLayer", "perturb_conv1x1"]

_HAS_ADD_RELU = hasattr(torch.ops.aten, "_add_relu")  # aten's fused add + ReLU (one memory pass; a CPU kernel only)
CHUNK_BYTES = 1 << 23  # CPU path: at most this many bytes of P per batch block (module docstring)
MIN_BLOCKS = 2         # ... and at least this many blocks: the P buffer stays <= 1/2 of a full-size P


def _perturb(x: torch.Tensor, N: torch.Tensor, level: float, act: str, m: int,
             out: torch.Tensor | None = None) -> torch.Tensor:
    """P = act(x + level N), (b, C, H, W) -> (b, C*m, H, W), channel c*m + k; into ``out`` if given."""
    B, C, H, W = x.shape
    a, b = (x, N) if m == 1 else (x.unsqueeze(2), N.view(C, m, H, W))      # fan-out by broadcasting
    if out is not None:
        out = out.view(a.shape[:1] + b.shape)
    if act == "relu" and _HAS_ADD_RELU and a.dtype == b.dtype and a.device.type == "cpu":
        if out is None:
            p = torch.ops.aten._add_relu(a, b, alpha=level)                 # one pass: relu(a + level b)
        else:
            p = torch.ops.aten._add_relu.out(a, b, alpha=level, out=out)
    else:
        p = torch.add(a, b, alpha=level) if out is None else torch.add(a, b, alpha=level, out=out)
        if act == "relu":
            p.relu_()
        elif act == "lrelu":
            F.leaky_relu_(p, LRELU_SLOPE)
    return p.view(B, C * m, H, W)


def _act_backward_(gp: torch.Tensor, p: torch.Tensor, act: str) -> torch.Tensor:
    """gp *= act'(x + level N) in place, read off P (P > 0 <=> x + level N > 0 for ReLU and LeakyReLU)."""
    if act == "relu":
        torch.ops.aten.threshold_backward.grad_input(gp, p, 0, grad_input=gp)
    elif act == "lrelu":
        torch.ops.aten.leaky_relu_backward.grad_input(gp, p, LRELU_SLOPE, True, grad_input=gp)
    return gp


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast runs a convolution in on ``device_type`` (e.g. bfloat16), None when it is off."""
    try:
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
    except (RuntimeError, TypeError, ValueError):                          # a device type autocast lacks
        pass
    return None


def _blocked(x: torch.Tensor, N: torch.Tensor, weight: torch.Tensor, cast: torch.dtype | None) -> bool:
    """CPU path: batch-blocked GEMMs (no autocast, one float dtype; other cases take the generic path)."""
    return (x.device.type == "cpu" and cast is None and x.dtype in (torch.float32, torch.float64)
            and N.dtype == x.dtype and weight.dtype == x.dtype)


def _block(B: int, per_sample_bytes: int) -> int:
    """Samples per batch block: about CHUNK_BYTES of P and at most 1/MIN_BLOCKS of the batch, at least one."""
    return max(1, min(-(-B // MIN_BLOCKS), CHUNK_BYTES // max(1, per_sample_bytes)))


class _PerturbConv1x1(torch.autograd.Function):
    """y = W act(x + level N) + b; saves x, N, W only and recomputes P in backward.

    CPU (float32/64, no autocast): batch blocks of about ``CHUNK_BYTES`` of P (module docstring); per
    block P is written into one reused buffer and consumed by the GEMMs while it is in cache, y / grad_x
    are written in place (``out=``), and the bias gradient is summed off the grad_y block. Elsewhere
    (CUDA, autocast, other dtypes): one pass over the whole batch, ``conv1x1`` /
    ``convolution_backward``, with the autocast dtype applied explicitly to P, W and b as autocast would
    apply it to the reference's convolution (the add and the activation stay in the input's precision;
    gradients come back in the dtypes of x, W and b).
    """

    @staticmethod
    def forward(ctx, x, N, weight, bias, level: float, act: str, m: int):
        cast = _autocast_dtype(x.device.type)
        x = x.contiguous()
        B, C, H, W = x.shape
        O, K, HW = weight.shape[0], weight.shape[1], H * W
        ctx.save_for_backward(x, N, weight)
        ctx.level, ctx.act, ctx.m, ctx.cast = level, act, m, cast
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.blocked = _blocked(x, N, weight, cast)
        if not ctx.blocked:
            p = _perturb(x, N, level, act, m)
            if cast is None:
                return conv1x1(p, weight, bias)
            with torch.autocast(x.device.type, enabled=False):             # the conv in the autocast dtype
                return F.conv2d(p.to(cast), weight.to(cast), None if bias is None else bias.to(cast))
        bias3 = None if bias is None else bias.to(x.dtype).view(1, O, 1)
        y = x.new_empty(B, O, HW)
        w = weight.view(O, K)
        step = _block(B, K * HW * x.element_size())
        buf = x.new_empty(step, K, HW)                                      # P of one block, reused
        for i in range(0, B, step):
            n = min(step, B - i)
            p = _perturb(x[i:i + n], N, level, act, m, out=buf[:n]).view(n, K, HW)
            if bias3 is None:
                torch.bmm(w.expand(n, O, K), p, out=y[i:i + n])
            else:
                torch.baddbmm(bias3, w.expand(n, O, K), p, out=y[i:i + n])
        return y.view(B, O, H, W)

    @staticmethod
    def backward(ctx, gy):
        x, N, weight = ctx.saved_tensors
        level, act, m, cast = ctx.level, ctx.act, ctx.m, ctx.cast
        need_x, _, need_w, need_b = ctx.needs_input_grad[:4]
        need_b = need_b and ctx.bias_dtype is not None
        B, C, H, W = x.shape
        O, K, HW = weight.shape[0], weight.shape[1], H * W
        gx = gw = gb = None
        if not ctx.blocked:
            p = _perturb(x, N, level, act, m)                               # recomputed P: (B, K, H, W)
            pc, wc = (p, weight) if cast is None else (p.to(cast), weight.to(cast))
            gy = gy.to(pc.dtype).contiguous()
            gp, gw, gb = torch.ops.aten.convolution_backward(
                gy, pc, wc, [O] if need_b else None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [bool(need_x), bool(need_w), bool(need_b)])
            if need_x:
                gp = _act_backward_(gp.to(p.dtype), p, act)
                gx = (gp if m == 1 else gp.view(B, C, m, H, W).sum(2)).to(x.dtype)
        else:
            gy3 = gy.to(x.dtype).contiguous().view(B, O, HW)
            wt = weight.view(O, K).t().contiguous()                          # W^T: (K, O), tiny
            step = _block(B, K * HW * x.element_size())
            # grad_W as one GEMM per block, (O, n*HW) @ (n*HW, K): P is written channel-major, (K, n, HW),
            # and the grad_y block copied so (in cache); no per-sample GEMMs (addbmm's loop)
            pbuf = x.new_empty(step * K * HW) if (need_w or act != "identity") else None
            # the grad_y copy goes into the grad_x block where it fits (grad_x is written after grad_W)
            gybuf = x.new_empty(step * O * HW) if need_w and not (need_x and O <= C) else None
            gbuf = x.new_empty(step, K, HW) if need_x and m > 1 else None
            if need_x:
                gx = torch.empty_like(x, memory_format=torch.contiguous_format)
            gw = x.new_empty(O, K) if need_w else None
            for i in range(0, B, step):
                n = min(step, B - i)
                g = gy3[i:i + n]                                            # grad_y block: (n, O, HW)
                p = None
                if pbuf is not None:
                    pt = pbuf[:n * K * HW].view(K, n, HW)
                    p = pt.transpose(0, 1) if need_w else pbuf[:n * K * HW].view(n, K, HW)
                    p = _perturb(x[i:i + n], N, level, act, m, out=p).view(n, K, HW)
                if need_w:                                                  # sum_b grad_y P^T
                    gt = (gx[i:i + n].view(-1) if gybuf is None else gybuf)[:n * O * HW].view(O, n, HW)
                    gt.copy_(g.transpose(0, 1))
                    a, b = gt.view(O, n * HW), pt.view(K, n * HW).t()
                    if i == 0:
                        torch.mm(a, b, out=gw)
                    else:
                        gw.addmm_(a, b)
                if need_b:
                    gb = g.sum((0, 2)) if i == 0 else gb.add_(g.sum((0, 2)))
                if need_x:                                                  # act'(.) * W^T grad_y, in place
                    gxb = gx[i:i + n].view(n, C, HW)
                    gp = torch.bmm(wt.expand(n, K, O), g, out=gxb if m == 1 else gbuf[:n])
                    if p is not None:
                        _act_backward_(gp, p, act)
                    if m > 1:
                        torch.sum(gp.view(n, C, m, HW), 2, out=gxb)
        if gw is not None:
            gw = gw.to(weight.dtype).view_as(weight)
        if gb is not None:
            gb = gb.to(ctx.bias_dtype)
        return gx, None, gw, gb, None, None, None


def perturb_conv1x1(x: torch.Tensor, N: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    level: float, act: str, fan_out: int) -> torch.Tensor:
    """Functional form: ``W act(x + level N) + b`` for x (B, C, H, W), N (C*fan_out, H, W)."""
    return _PerturbConv1x1.apply(x, N, weight, bias, float(level), act, int(fan_out))


class FusedPerturbationLayer(PerturbationLayer):
    """Drop-in fused ``PerturbationLayer`` (same arguments, masks, state_dict; see module docstring).

    It subclasses the reference only to share its validation, buffers and parameters
    (``conv.weight``, ``conv.bias``, ``bn.*``, ``noise``); ``forward`` is the fused op.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        if (C, H, W) != (self.in_channels, *self.spatial):
            raise ConfigError(f"FusedPerturbationLayer: input shape {tuple(x.shape)} does not match "
                              f"in_channels={self.in_channels}, spatial={self.spatial}")
        y = perturb_conv1x1(x, self.mask, self.conv.weight, self.conv.bias, self.level, self.act, self.fan_out)
        return self.bn(y) if self.bn is not None else y
