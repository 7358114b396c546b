"""How a run's arithmetic executes on its device: bf16 autocast, channels_last, torch.compile.

Three options of :class:`~pgan_core.config.RunConfig`, each with a default per profile:

* ``amp`` (CUDA) / ``cpu_amp`` (CPU): bf16 autocast of G's and D's forwards (losses and optimiser
  state stay float32). On a CPU it is used only where the CPU has native bf16 arithmetic
  (AVX-512 BF16 or AMX, as oneDNN needs for its bf16 kernels); elsewhere bf16 is emulated and slower
  than fp32, so the run falls back to fp32 with a one-line warning.
* ``channels_last``: NHWC models and batches (oneDNN's and cuDNN's preferred convolution layout).
* ``compile``: ``torch.compile`` of the training steps, tried once at start (a failure, e.g. no
  C++ compiler for the CPU backend, falls back to eager with a warning and a log event).

:func:`resolve_fast_path` decides once per run what actually runs; the decision (and any fallback
note) is logged as an event and stored in the run's record, so a number can always be traced to the
arithmetic that produced it. Nothing here changes the maths: ``bench/bench_speed.py`` times the
variants and ``tests/test_fastpath.py`` checks resume stays bit-exact within a mode; the fp32 vs fast
path equivalence of what is learnt is measured over seeds (README, "CPU fast path").
"""
from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import asdict, dataclass, field

import torch

__all__ = ["FastPath", "cpu_bf16_supported", "resolve_fast_path", "compiler_available"]


def cpu_bf16_supported() -> bool:
    """True iff this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX BF16)."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:                                   # an older torch without the probes
        return False


def compiler_available() -> bool:
    """True iff a C++ compiler for torch.compile's CPU backend is on PATH (``$CXX``, g++, clang++, c++)."""
    return any(shutil.which(c) for c in filter(None, (os.environ.get("CXX"), "g++", "clang++", "c++")))


@dataclass(frozen=True)
class FastPath:
    """What a run executes with: bf16 autocast, channels_last, compile (False or a mode), and why."""

    device_type: str
    autocast_bf16: bool
    channels_last: bool
    compile: bool | str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def autocast(self) -> torch.autocast:
        """The autocast context of G's and D's forwards (disabled in fp32 mode)."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.autocast_bf16)

    @property
    def mode(self) -> str:
        """Short label: 'fp32', 'bf16', 'bf16+cl', 'fp32+cl+compile', ..."""
        parts = ["bf16" if self.autocast_bf16 else "fp32"]
        if self.channels_last:
            parts.append("cl")
        if self.compile:
            parts.append("compile")
        return "+".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["notes"] = list(self.notes)
        d["mode"] = self.mode
        return d


def resolve_fast_path(cfg, device: torch.device, *, warn: bool = True) -> FastPath:
    """The fast path ``cfg`` asks for, reduced to what ``device`` can run (one-line warnings on fallback)."""
    notes: list[str] = []
    if device.type == "cuda":
        bf16 = bool(cfg.amp)
    else:
        bf16 = bool(cfg.cpu_amp)
        if bf16 and not cpu_bf16_supported():
            bf16 = False
            notes.append("cpu_amp=True but this CPU has no native bf16 (AVX-512 BF16 / AMX): training runs in fp32")
    compile_mode = cfg.compile
    if compile_mode and device.type == "cpu" and not compiler_available():
        compile_mode = False
        notes.append("compile requested but no C++ compiler (g++/clang++) is on PATH: training runs eagerly")
    if warn:
        for note in notes:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
    return FastPath(device_type=device.type, autocast_bf16=bf16, channels_last=bool(cfg.channels_last),
                    compile=compile_mode, notes=tuple(notes))
