"""One registry of methods: name -> :class:`MethodSpec`.

Notebooks and the training loop only ever use method *names*; the names are lowercase and
hyphenated and are reused verbatim as table row labels and file names. Each entry says which
generator and discriminator to build (with which keyword arguments), which loss and optimiser
settings the paper's baseline uses, and where the idea comes from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch.nn as nn

from .errors import ConfigError


@dataclass(frozen=True)
class MethodSpec:
    name: str                                  # registry key, e.g. "pgan-g"
    build_G: Callable[..., nn.Module]          # builder(img_channels, img_res, z_dim, width, **g_kwargs)
    build_D: Callable[..., nn.Module]          # builder(img_channels, img_res, width, **d_kwargs)
    g_kwargs: dict[str, Any] = field(default_factory=dict)
    d_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str = "ns"                           # default adversarial loss (key of losses.LOSSES)
    train_defaults: dict[str, Any] = field(default_factory=dict)  # RunConfig fields the paper fixes
    description: str = ""                      # one line for tables
    paper: str = ""                            # citation key, e.g. "Kishi et al. 2019, arXiv:1902.01514"


METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} registered twice")
    METHODS[spec.name] = spec
    return spec


COMPOSED: dict[str, MethodSpec] = {}   # composed names resolved so far (pgan_core.compose), kept apart from METHODS


def get_method(name: str) -> MethodSpec:
    """Look a method up by name: a registered method, or a composed name such as
    ``'g-pert+d-nice+da+mask-both+ttur'`` (:mod:`pgan_core.compose`). An unknown name lists the known ones."""
    _ensure_loaded()
    if name in METHODS:
        return METHODS[name]
    from .compose import compose, is_composed

    if is_composed(name):
        if name not in COMPOSED:
            COMPOSED[name] = compose(name)
        return COMPOSED[name]
    raise ConfigError(f"parameter 'method': got {name!r}; allowed: one of {', '.join(sorted(METHODS))}, "
                      "or a composed name such as 'g-pert+d-nice+da+mask-both+ttur' (see pgan_core.compose)")


def method_names() -> list[str]:
    _ensure_loaded()
    return sorted(METHODS)


def build_models(name: str, *, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 64,
                 g_overrides: dict | None = None, d_overrides: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for method ``name``. G maps (B, z_dim) -> (B, img_channels, img_res, img_res) in [-1, 1];
    D maps images to (B,) logits."""
    spec = get_method(name)
    G = spec.build_G(img_channels=img_channels, img_res=img_res, z_dim=z_dim, width=width,
                     **{**spec.g_kwargs, **(g_overrides or {})})
    D = spec.build_D(img_channels=img_channels, img_res=img_res, width=width,
                     **{**spec.d_kwargs, **(d_overrides or {})})
    return G, D


def builder_overrides(name: str, *, mask_seed: int, noise_level: float | None,
                      d_options: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """(g_overrides, d_overrides) forwarding a run's ``mask_seed`` and ``noise_level`` to the builders of
    method ``name`` that accept them (conv-only builders get neither), and ``d_options`` (D keyword
    arguments such as ``pconv_rate`` or ``nice_gamma``; None values are skipped) to the D builder, which
    must accept them."""
    import inspect

    spec = get_method(name)
    out = []
    for builder, kw in ((spec.build_G, spec.g_kwargs), (spec.build_D, spec.d_kwargs)):
        params = inspect.signature(builder).parameters
        o: dict[str, Any] = {}
        if "mask_seed" in params or "mask_seed" in kw:
            o["mask_seed"] = mask_seed
        if noise_level is not None and ("level" in params or "level" in kw):
            o["level"] = noise_level
        out.append(o)
    params = inspect.signature(spec.build_D).parameters
    for key, value in (d_options or {}).items():
        if value is None:
            continue
        if key not in params:
            raise ConfigError(f"parameter {key!r}: got {value!r}; allowed: None for method {name!r} (its D builder "
                              f"{spec.build_D.__name__} has no such option)")
        out[1][key] = value
    return out[0], out[1]


def _ensure_loaded() -> None:
    """Import the modules that register methods (kept lazy to avoid import cycles)."""
    from . import methods  # noqa: F401  (registers entries on import)
