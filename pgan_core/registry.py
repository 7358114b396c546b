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
    arch_version: int = 0                      # bumped when G or D of this name changes; enters the run key when > 0


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


D_MASK_SEED = 1000  # D's mask seeds start this far above G's (G uses base + 0..71), so D's masks never repeat G's
PERTURBATION_OVERRIDES = ("mask_seed", "noise_level")  # RunConfig fields that reach the builders of perturbation layers


def owns_perturbation(builder: Callable[..., nn.Module], kwargs: dict[str, Any]) -> bool:
    """Whether ``builder(**kwargs)`` builds perturbation layers: the builder says so through its
    ``has_perturbation(kwargs)``; builders without one (SNGAN ResNet) have none."""
    test = getattr(builder, "has_perturbation", None)
    return bool(test is not None and test(kwargs))


def build_models(name: str, *, img_channels: int, img_res: int = 32, z_dim: int = 128, width: int = 64,
                 g_overrides: dict | None = None, d_overrides: dict | None = None) -> tuple[nn.Module, nn.Module]:
    """Build (G, D) for method ``name``. G maps (B, z_dim) -> (B, img_channels, img_res, img_res) in [-1, 1];
    D maps images to (B,) logits. Without overrides the masks use a run's default seeds (mask_seed 0:
    G's from 0, D's from D_MASK_SEED; see :func:`builder_overrides`)."""
    spec = get_method(name)
    g_base, d_base = builder_overrides(name, mask_seed=0, noise_level=None)
    G = spec.build_G(img_channels=img_channels, img_res=img_res, z_dim=z_dim, width=width,
                     **{**spec.g_kwargs, **g_base, **(g_overrides or {})})
    D = spec.build_D(img_channels=img_channels, img_res=img_res, width=width,
                     **{**spec.d_kwargs, **d_base, **(d_overrides or {})})
    return G, D


def builder_overrides(name: str, *, mask_seed: int, noise_level: float | None,
                      d_options: dict[str, Any] | None = None) -> tuple[dict, dict]:
    """(g_overrides, d_overrides) for a run of method ``name``.

    ``mask_seed`` and ``noise_level`` go to every builder that builds perturbation layers
    (:func:`owns_perturbation`): G's masks start at seed ``mask_seed`` (+ G's spec ``mask_seed``, 0 in every
    registered method), D's at ``mask_seed`` + D's spec ``mask_seed`` (default D_MASK_SEED), so G and D never
    share a seed. An override that no builder owns is refused: ``noise_level`` other than None or ``mask_seed``
    other than 0 for a method without perturbation layers raises a ConfigError naming the parameter.
    ``d_options`` (D keyword arguments such as ``pconv_rate`` or ``nice_gamma``; None values are skipped) go to
    the D builder, which must accept them."""
    import inspect

    spec = get_method(name)
    owners = (owns_perturbation(spec.build_G, spec.g_kwargs), owns_perturbation(spec.build_D, spec.d_kwargs))
    if not any(owners):
        for key, value, default in (("noise_level", noise_level, None), ("mask_seed", mask_seed, 0)):
            if value != default:
                raise ConfigError(f"parameter {key!r}: got {value!r}; allowed: {default!r} for method {name!r} "
                                  "(it has no perturbation layers)")
    out = []
    for owns, kw, base in zip(owners, (spec.g_kwargs, spec.d_kwargs), (0, D_MASK_SEED)):
        o: dict[str, Any] = {}
        if owns:
            o["mask_seed"] = mask_seed + kw.get("mask_seed", base)
            if noise_level is not None:
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
