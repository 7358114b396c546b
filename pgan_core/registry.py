"""One registry of methods: name -> :class:`~pgan_core.methods.MethodSpec`, for the registered names (aliases of
compositions, :data:`pgan_core.methods.ALIASES`) and for composed names (:mod:`pgan_core.compose`).

Notebooks and the training loop only ever use method *names*; the names are lowercase and
hyphenated and are reused verbatim as table row labels and file names. Each entry says which
generator and discriminator to build (with which keyword arguments), which loss and optimiser
settings the paper's baseline uses, and where the idea comes from.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch.nn as nn

from .compose import compose, is_composed
from .errors import ConfigError
from .methods import ALIASES, D_MASK_SEED, RECIPE_FIELDS, MethodSpec  # noqa: F401  (MethodSpec, D_MASK_SEED re-exported)


METHODS: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method under its name; its train_defaults must carry a complete recipe (every RECIPE_FIELDS)."""
    if spec.name in METHODS:
        raise ValueError(f"method {spec.name!r} registered twice")
    missing = [k for k in RECIPE_FIELDS if k not in spec.train_defaults]
    if missing:
        raise ValueError(f"method {spec.name!r}: train_defaults lacks {', '.join(missing)} (a complete recipe, "
                         "e.g. pgan_core.methods.RECIPES['dcgan'].train())")
    METHODS[spec.name] = spec
    return spec


for _name, (_composition, _description) in ALIASES.items():
    register(compose(_composition, label=_name, description=_description))
ALIAS_OF: dict[str, str] = {c: n for n, (c, _) in ALIASES.items()}  # composition -> registered name (compose checked it)
COMPOSED: dict[str, MethodSpec] = {}   # composed names resolved so far, kept apart from METHODS


def get_method(name: str) -> MethodSpec:
    """Look a method up by name: a registered method, or a composed name such as
    ``'g-pert+d-nice+da+mask-both+ttur'`` (:mod:`pgan_core.compose`). A composed name that a registered name
    aliases returns that method's spec (one spec, one run key). An unknown name lists the known ones."""
    if name in METHODS:
        return METHODS[name]
    if is_composed(name):
        if name in ALIAS_OF:
            return METHODS[ALIAS_OF[name]]
        if name not in COMPOSED:
            COMPOSED[name] = compose(name)
        return COMPOSED[name]
    raise ConfigError(f"parameter 'method': got {name!r}; allowed: one of {', '.join(sorted(METHODS))}, "
                      "or a composed name such as 'g-pert+d-nice+da+mask-both+ttur' (see pgan_core.compose)")


def method_names() -> list[str]:
    return sorted(METHODS)


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
