r"""The perturbation layer: fixed additive noise masks, a non-linearity and a 1x1 convolution.

References:
  * F. Juefei-Xu, V. N. Boddeti, M. Savvides. *Perturbative Neural Networks.* CVPR 2018,
    arXiv:1806.01817 (PNN; the layer and the ``NoiseLayer2D`` code).
  * Y. Kishi, T. Ikegami, S. O'uchi, R. Takano, W. Nogami, T. Kudoh. *Perturbative GAN: GAN with
    Perturbation Layers.* 2019, arXiv:1902.01514 (the layer in GAN generators/discriminators and the
    algorithmically generated masks, ``MTNoiseLayer2D`` / ``MTSNDNoiseLayer2D`` / ``LCGNoiseLayer2D``).

Equation (input x of shape (B, C, H, W), fan-out m, noise masks N of shape (C*m, H, W))::

    P_{c m + k} = \mathrm{act}( x_c + \ell \, N_{c m + k} ),   c = 0..C-1,  k = 0..m-1
    y_o         = \mathrm{BN}\big( \sum_{c,k} W_{o, c m + k} \, P_{c m + k} + b_o \big)

with noise level \ell (``level``), act = ReLU (or LeakyReLU 0.2, or identity), W a 1x1 convolution
C*m -> out_channels and BN a BatchNorm2d(out_channels) (optional). Channel c*m + k of the perturbed
tensor is input channel c under mask k (input channels are repeated *interleaved*, as PNN's
``x.unsqueeze(2) + noise`` followed by a view does). The masks are fixed, never trained, and take
no optimiser state.

Mask sources (``mask_source``), all drawn from ``seed`` with a private generator, so building a
layer never touches the global RNG and gives the same masks in every process:

  * ``'stored_uniform'``: U(-1, 1) from ``torch.Generator().manual_seed(seed)``, a *persistent*
    buffer (in the state_dict), as PNN stores its masks. The PNN-faithful choice.
  * ``'seeded_uniform'``: U[0, 1) from a seeded torch CPU generator (Mersenne Twister),
    regenerated at construction, non-persistent buffer (Obake ``MTNoiseLayer2D``).
  * ``'seeded_normal'``: N(0, 1) from the same generator, non-persistent (``MTSNDNoiseLayer2D``).
  * ``'lcg'``: u_k from :func:`pgan_core.layers.lcg.lcg_uniform` in raster order (c, h, w),
    non-persistent (``LCGNoiseLayer2D``; the "algorithmic generation" claim).
  * ``'lcg_forward'``: the same LCG values, regenerated from the seed inside every forward pass by
    :func:`pgan_core.layers.lcg.lcg_uniform_torch` on the input's device, and held nowhere (no buffer,
    nothing in the state_dict, nothing in memory between passes): the paper's "algorithmic mask
    generation" as it would run on hardware, so its memory saving and its time cost can be measured
    (:func:`pgan_core.params.mask_memory`, ``bench/bench_mask_regen.py``). ``layer.mask`` builds it on
    each access, bit-identical to ``'lcg'``.

``level = 0`` is the noise-off control (PNN critique, michaelklachko/pnn.pytorch README): the masks are still built,
so the network, its parameters and its state_dict are otherwise identical; y is then exactly
BN(W act(x) + b).

Deviations from the papers and their code:
  (a) One mask per (channel, position), broadcast over the batch; PNN's ``NoiseLayer2D`` draws a
      mask of the full input shape *including the batch*, i.e. each batch slot has its own mask.
  (b) Ordering +N -> act -> 1x1 conv -> BN, as the Obake MT/LCG variants; PNN's original layer is
      +N -> ReLU -> BN -> 1x1 conv.
  (c) ``'seeded_uniform'`` and ``'lcg'`` masks lie in [0, 1) / [0, 1] (non-zero mean 0.5), as in the
      code, not U(-1, 1) as in the PNN paper; ``'stored_uniform'`` is U(-1, 1).
  (d) The Obake MT variants regenerate the mask on every forward pass from the same seed (with
      ``torch.manual_seed`` inside forward, which also resets the global RNG); we generate MT and
      ``'lcg'`` masks once at construction (identical values, no per-step cost, global RNG untouched)
      and regenerate only ``'lcg_forward'`` masks per pass (the authors' ``LCGNoiseLayer2D``, which
      loops over elements in Python, does so too). Masks are not trainable (PNN's ``train_masks``
      ablation is not offered).
  (e) The 1x1 convolution is dense over all C*m perturbed channels (never grouped), so its weight
      count is C*m*out_channels; the bias is kept even when BN follows, so the trainable count is
      C*m*C_out + C_out (+ 2*C_out for BN): a 1x1 conv with bias, then BN.

Implementation: x + level*N and the activation are one out-of-place add (the repeat for fan-out is
a broadcast, never materialised) followed by an in-place activation on that fresh tensor; on CPU
the 1x1 convolution of maps of at least 16x16 runs as one batched GEMM (:func:`conv1x1`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, bad_param, check_choice, check_positive
from .lcg import lcg_uniform, lcg_uniform_torch

MASK_SOURCES = ("stored_uniform", "seeded_uniform", "seeded_normal", "lcg", "lcg_forward")
IN_FORWARD_SOURCES = ("lcg_forward",)  # regenerated inside forward: no buffer
ACTIVATIONS = ("relu", "lrelu", "identity")
LRELU_SLOPE = 0.2
MASK_BUFFER = "noise"  # name of the mask buffer (used by pgan_core.params.count_params)
BMM_MIN_PIXELS = 256   # H*W from which the 1x1 conv runs as one batched GEMM (faster fwd+bwd on CPU)


def conv1x1(p: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """1x1 convolution (B, K, H, W) -> (B, O, H, W), the same maths as ``F.conv2d(p, weight, bias)``.

    On CPU, for contiguous NCHW input with H*W >= BMM_MIN_PIXELS, it is one ``baddbmm`` on the
    (B, K, H*W) view (no copies): oneDNN's NCHW 1x1 conv forward + backward is up to 2x slower there,
    while for small maps (4x4, 8x8) ``conv2d`` is faster. Other devices and layouts use ``conv2d``.
    Results agree with ``conv2d`` to float rounding.
    """
    B, K, H, W = p.shape
    if p.device.type != "cpu" or H * W < BMM_MIN_PIXELS or not p.is_contiguous():
        return F.conv2d(p, weight, bias)
    O = weight.shape[0]
    w = weight.reshape(O, K).expand(B, O, K)                               # W: (B, O, K), no copy
    p3 = p.view(B, K, H * W)                                               # (B, K, H*W)
    y = torch.bmm(w, p3) if bias is None else torch.baddbmm(bias.view(1, O, 1), w, p3)
    return y.view(B, O, H, W)


def make_mask(mask_source: str, seed: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """The unscaled float32 mask N of ``shape`` = (C*m, H, W) for ``mask_source`` and ``seed``."""
    check_choice("mask_source", mask_source, MASK_SOURCES)
    if mask_source in ("lcg", "lcg_forward"):
        n = shape[0] * shape[1] * shape[2]
        return lcg_uniform(seed, n).view(shape)                        # u_k, raster order (c, h, w)
    gen = torch.Generator(device="cpu").manual_seed(seed)             # private Mersenne Twister
    if mask_source == "stored_uniform":
        return torch.rand(shape, generator=gen).mul_(2.0).sub_(1.0)   # U(-1, 1)
    if mask_source == "seeded_uniform":
        return torch.rand(shape, generator=gen)                       # U[0, 1)
    return torch.randn(shape, generator=gen)                          # N(0, 1)


class PerturbationLayer(nn.Module):
    """y = BN( W * act(x + level * N) ); see the module docstring for equation, sources, deviations.

    Args:
      in_channels, out_channels: C and C_out.
      spatial: (H, W) of the input; the masks have shape (C * fan_out, H, W).
      fan_out: m, the number of masks (perturbed copies) per input channel.
      level: noise level (>= 0; 0 is the noise-off control).
      mask_source: one of ``MASK_SOURCES``.
      seed: integer >= 0 the masks are drawn from.
      act: 'relu', 'lrelu' (slope 0.2) or 'identity', applied after adding the noise.
      bn: append BatchNorm2d(out_channels).
      bias: bias of the 1x1 convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, spatial: tuple[int, int], *, fan_out: int = 1,
                 level: float = 0.1, mask_source: str = "stored_uniform", seed: int = 0, act: str = "relu",
                 bn: bool = True, bias: bool = True) -> None:
        super().__init__()
        check_positive("in_channels", in_channels, integer=True)
        check_positive("out_channels", out_channels, integer=True)
        if (not isinstance(spatial, (tuple, list)) or len(spatial) != 2
                or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in spatial)):
            raise bad_param("spatial", spatial, "a pair (H, W) of integers > 0")
        check_positive("fan_out", fan_out, integer=True)
        check_positive("level", level, allow_zero=True)
        check_choice("mask_source", mask_source, MASK_SOURCES)
        check_positive("seed", seed, integer=True, allow_zero=True)
        check_choice("act", act, ACTIVATIONS)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.spatial = (int(spatial[0]), int(spatial[1]))
        self.fan_out = fan_out
        self.level = float(level)
        self.mask_source = mask_source
        self.seed = seed
        self.act = act
        self._set_mask_buffer(mask_source)
        self.conv = nn.Conv2d(in_channels * fan_out, out_channels, kernel_size=1, bias=bias)  # W, b
        self.bn = nn.BatchNorm2d(out_channels) if bn else None

    @property
    def mask_shape(self) -> tuple[int, int, int]:
        """(C * fan_out, H, W)."""
        return (self.in_channels * self.fan_out, *self.spatial)

    @property
    def mask(self) -> torch.Tensor:
        """The unscaled mask N, shape (C * fan_out, H, W); the layer adds ``level * mask``. For an
        in-forward source it is regenerated from the seed on every access (the layer's device and dtype)."""
        if self.mask_source in IN_FORWARD_SOURCES:
            w = self.conv.weight
            n = self.in_channels * self.fan_out * self.spatial[0] * self.spatial[1]
            return lcg_uniform_torch(self.seed, n, device=w.device).view(self.mask_shape).to(w.dtype)
        return getattr(self, MASK_BUFFER)

    def _set_mask_buffer(self, mask_source: str, like: torch.Tensor | None = None) -> None:
        """Build the mask buffer of ``mask_source`` (persistent only when stored), or none for an in-forward source."""
        if MASK_BUFFER in self._buffers:
            del self._buffers[MASK_BUFFER]
            self._non_persistent_buffers_set.discard(MASK_BUFFER)
        self.mask_source = mask_source
        if mask_source in IN_FORWARD_SOURCES:
            return
        mask = make_mask(mask_source, self.seed, self.mask_shape)             # N: (C*m, H, W)
        if like is not None:
            mask = mask.to(dtype=like.dtype, device=like.device)
        self.register_buffer(MASK_BUFFER, mask, persistent=(mask_source == "stored_uniform"))

    def set_mask_source(self, mask_source: str) -> None:
        """Switch to masks of ``mask_source`` from the same seed (shape, device and dtype kept)."""
        check_choice("mask_source", mask_source, MASK_SOURCES)
        self._set_mask_buffer(mask_source, like=self.conv.weight)

    def perturb(self, x: torch.Tensor) -> torch.Tensor:
        """P = act(x + level * N): (B, C, H, W) -> (B, C * fan_out, H, W)."""
        B, C, H, W = x.shape
        if (C, H, W) != (self.in_channels, *self.spatial):
            raise ConfigError(f"PerturbationLayer: input shape {tuple(x.shape)} does not match "
                              f"in_channels={self.in_channels}, spatial={self.spatial}")
        N = self.mask                                                           # one access: lcg_forward regenerates
        N = N if N.dtype == x.dtype else N.to(x.dtype)                         # bf16 under autocast
        if self.fan_out == 1:
            if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
                N = N.unsqueeze(0).contiguous(memory_format=torch.channels_last)  # (1, C, H, W) NHWC, as x
            p = torch.add(x, N, alpha=self.level)                              # x + level N: (B, C, H, W)
        else:
            m = self.fan_out
            p = torch.add(x.unsqueeze(2), N.view(C, m, H, W), alpha=self.level)  # (B, C, m, H, W)
            p = p.view(B, C * m, H, W)                                         # channel c*m + k
        if self.act == "relu":
            p = p.relu_()                                                      # in place on a fresh tensor
        elif self.act == "lrelu":
            p = F.leaky_relu_(p, LRELU_SLOPE)
        return p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = conv1x1(self.perturb(x), self.conv.weight, self.conv.bias)        # W P + b: (B, C_out, H, W)
        return self.bn(y) if self.bn is not None else y

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, spatial={self.spatial}, fan_out={self.fan_out}, "
                f"level={self.level}, mask_source={self.mask_source!r}, seed={self.seed}, act={self.act!r}")
