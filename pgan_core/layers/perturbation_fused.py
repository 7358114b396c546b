r"""A fused, memory-lean perturbation layer: the same maths and state_dict as ``PerturbationLayer``.

``FusedPerturbationLayer`` computes exactly what :class:`pgan_core.layers.perturbation.PerturbationLayer`
computes (see that module for the equation, the mask sources and the deviations from the papers)::

    y = BN( W act(x + level N) + b )

References: Y. Kishi et al., *Perturbative GAN: GAN with Perturbation Layers*, arXiv:1902.01514;
F. Juefei-Xu, V. N. Boddeti, M. Savvides, *Perturbative Neural Networks*, CVPR 2018, arXiv:1806.01817.

What is fused: noise add + activation + 1x1 convolution run inside one ``torch.autograd.Function``
(:class:`_PerturbConv1x1`). Its forward builds the perturbed tensor P = act(x + level N) (fan-out m as
a broadcast of x against the (C, m, H, W) view of the masks, the repeat is never materialised),
applies the 1x1 convolution y = W P + b (one batched GEMM on CPU for maps of >= 16x16, ``conv2d``
otherwise, as the reference's ``conv1x1``) and then *frees P*.

What is saved for backward: only x (the layer's input, which already exists), the mask buffer N and
the weight W, all references to existing tensors; the reference layer keeps P alive instead, a fresh
(B, C*m, H, W) float tensor (m times the size of x). Backward recomputes P = act(x + level N) (one
element-wise pass), then grad_P = W^T grad_y, grad_x = act'(x + level N) * grad_P summed over the m
fan-out copies, grad_W = sum_b grad_y P^T and grad_b = sum grad_y. BatchNorm stays a regular
``nn.BatchNorm2d`` after the fused op, so running statistics and the BN state_dict are unchanged.

Trade-off: the layer's own activation memory drops by B*C*m*H*W*4 bytes (what is left is what BN
saves, if present) for one extra element-wise pass over P in backward, which is cheap beside the GEMMs
and is paid back by fewer autograd nodes and kernel launches (no separate add/activation nodes).

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

_HAS_ADD_RELU = hasattr(torch.ops.aten, "_add_relu")  # aten's fused add + ReLU (one memory pass)


def _perturb(x: torch.Tensor, N: torch.Tensor, level: float, act: str, m: int) -> torch.Tensor:
    """P = act(x + level N), (B, C, H, W) -> (B, C*m, H, W), channel c*m + k; a fresh tensor."""
    B, C, H, W = x.shape
    a, b = (x, N) if m == 1 else (x.unsqueeze(2), N.view(C, m, H, W))      # fan-out by broadcasting
    if act == "relu" and _HAS_ADD_RELU:
        p = torch.ops.aten._add_relu(a, b, alpha=level)                     # one pass: relu(a + level b)
    else:
        p = torch.add(a, b, alpha=level)
        if act == "relu":
            p.relu_()
        elif act == "lrelu":
            F.leaky_relu_(p, LRELU_SLOPE)
    return p.view(B, C * m, H, W)


def _use_bmm(p: torch.Tensor) -> bool:
    """Backward as batched GEMMs: on CPU this beats oneDNN's 1x1 conv backward at every map size."""
    return p.device.type == "cpu" and p.is_contiguous()


class _PerturbConv1x1(torch.autograd.Function):
    """y = W act(x + level N) + b; saves x, N, W only and recomputes P in backward."""

    @staticmethod
    def forward(ctx, x, N, weight, bias, level: float, act: str, m: int):
        x = x.contiguous()
        p = _perturb(x, N, level, act, m)
        y = conv1x1(p, weight, bias)
        ctx.save_for_backward(x, N, weight)
        ctx.level, ctx.act, ctx.m, ctx.has_bias = level, act, m, bias is not None
        return y

    @staticmethod
    def backward(ctx, gy):
        x, N, weight = ctx.saved_tensors
        level, act, m = ctx.level, ctx.act, ctx.m
        need_x, _, need_w, need_b = ctx.needs_input_grad[:4]
        B, C, H, W = x.shape
        O, K = weight.shape[0], weight.shape[1]
        gy = gy.contiguous()
        p = _perturb(x, N, level, act, m)                                   # recomputed P: (B, K, H, W)
        gx = gw = gb = None
        if _use_bmm(p):
            gy3, p3 = gy.view(B, O, H * W), p.view(B, K, H * W)
            if need_x:
                gp = torch.bmm(weight.reshape(O, K).t().expand(B, K, O), gy3).view(B, K, H, W)
            if need_w:
                gw = torch.addbmm(weight.new_empty(O, K), gy3, p3.transpose(1, 2), beta=0).view_as(weight)
            if need_b:
                gb = gy.sum((0, 2, 3))
        else:
            gp, gw, gb = torch.ops.aten.convolution_backward(
                gy, p, weight, [O] if ctx.has_bias else None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [bool(need_x), bool(need_w), bool(need_b and ctx.has_bias)])
        if need_x:
            # act'(x + level N) from the recomputed P (P > 0 <=> x + level N > 0), in place on the fresh gp
            if act == "relu":
                torch.ops.aten.threshold_backward.grad_input(gp, p, 0, grad_input=gp)
            elif act == "lrelu":
                torch.ops.aten.leaky_relu_backward.grad_input(gp, p, LRELU_SLOPE, True, grad_input=gp)
            gx = gp if m == 1 else gp.view(B, C, m, H, W).sum(2)
        return gx, None, gw, gb if ctx.has_bias else None, None, None, None


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
