"""Composition of methods by name: one generator-side, one discriminator-side, input-side and
optimiser choices, joined with ``+`` (e.g. ``g-pert+d-nice+da+mask-both+ttur``): the grammar, its
checks and the spec a name builds. The parts, the recipe table and the registered aliases are the
method table of :mod:`pgan_core.methods`.

Every paper of this companion changes one part of a GAN: the generator's layers (Perturbative GAN,
Self-Sparse GAN), the generator's input (Spider GAN), the discriminator (PNN-style perturbation,
PConv, NICE), what the discriminator sees (DiffAugment, MaskedGAN) or the optimiser (TTUR). A
composed name picks one choice per part; :func:`pgan_core.registry.get_method` resolves such names
to a :class:`~pgan_core.methods.MethodSpec` on demand, so a composed name works wherever a method
name does (``RunConfig.method``, ``run_grid(methods=...)``, snapshots, torchrun workers).

Grammar (tokens in this order; ``[...]`` optional)::

    <g> [+spider-<dataset>] + <d> [+da] [+mask-spatial|mask-spectral|mask-both] [+ns|hinge|wgan-gp] [+ttur]

The training recipe (loss, Adam settings, D steps per G step) follows the discriminator's family,
as in the paper that introduced it: DCGAN-style D (``d-dcgan``, ``d-pnn``): non-saturating loss,
Adam 2e-4 (0.5, 0.999), 1 D step (Radford et al. 2016; Kishi et al. 2019); SNGAN ResNet D
(``d-sn``, ``d-pconv``, ``d-nice``): hinge loss, Adam 2e-4 (0, 0.9), 5 D steps (Miyato et al. 2018);
``wgan-gp`` switches to WGAN-GP's recipe (Adam 1e-4 (0.5, 0.9), 5 critic steps; Gulrajani et al.
2017). ``ttur`` sets two time scales, lr_D 4e-4 and lr_G 1e-4 [A: SAGAN/BigGAN's pair; Heusel et
al. 2017 use other pairs per task, see notebook 06]; without it both learning rates are equal.
Any of these can still be overridden per run through ``RunConfig``.

Combinations that cannot work raise a ConfigError saying why, e.g. two generator choices, SASTM on
the perturbative generator (SASTM follows transposed convolutions, which that generator has none
of), NICE or PConv on a non-ResNet D (they are implemented in the SNGAN ResNet D), or WGAN-GP's
per-sample gradient penalty with a batch-normalised D.
"""
from __future__ import annotations

from typing import Any

from .errors import ConfigError
from .methods import ALIASES, DA_POLICY, PARTS, RECIPE_FIELDS, RECIPES, TTUR_LRS, MethodSpec, Part  # noqa: F401

SEP = "+"
_BY_TOKEN: dict[str, Part] = {p.token: p for p in PARTS}


def _parts() -> dict[str, Part]:
    """token -> Part (read-only)."""
    return _BY_TOKEN


ROLE_ORDER = ("g", "input", "d", "aug", "mask", "loss", "opt")
ROLE_NAMES = {"g": "generator", "input": "generator input (Spider)", "d": "discriminator", "aug": "DiffAugment",
              "mask": "MaskedGAN mask", "loss": "loss", "opt": "optimiser"}


def is_composed(name: Any) -> bool:
    """Whether ``name`` is meant in the composition grammar (``+``-joined, or a lone ``g-``/``d-`` token)."""
    return isinstance(name, str) and (SEP in name or name.startswith(("g-", "d-")))


def grammar() -> str:
    """One line per part listing its tokens (used in error messages and the README)."""
    parts = _parts()
    lines = []
    for role in ROLE_ORDER:
        toks = [t for t, p in parts.items() if p.role == role]
        need = "exactly one" if role in ("g", "d") else ("at most one" if role != "aug" else "optional")
        lines.append(f"  {ROLE_NAMES[role]} ({need}): {', '.join(toks)}")
    return "\n".join(lines)


def _fail(name: str, why: str) -> ConfigError:
    parts = "; ".join(line.strip() for line in grammar().splitlines())    # one line, as every error
    return ConfigError(f"parameter 'method': got {name!r}; {why}. Composed names are '+'-joined tokens in this "
                       f"order: {parts}; e.g. 'g-pert+d-nice+da+mask-both+ttur'")


def parse(name: str) -> list[Part]:
    """The parts of a composed name, checked: known tokens, one per role (G and D required), the
    canonical order, and combinations that can work."""
    parts = _parts()
    tokens = name.split(SEP)
    unknown = [t for t in tokens if t not in parts]
    if unknown:
        raise _fail(name, f"unknown token {unknown[0]!r}")
    chosen = [parts[t] for t in tokens]
    for role in ROLE_ORDER:
        n = sum(p.role == role for p in chosen)
        if n > 1:
            extra = (" (SASTM follows transposed convolutions; the perturbative generator has none, so "
                     "'g-sastm' and 'g-pert*' cannot be combined)" if role == "g" and
                     any(t.startswith("g-sastm") for t in tokens) and any(t.startswith("g-pert") for t in tokens) else "")
            raise _fail(name, f"{n} {ROLE_NAMES[role]} choices ({', '.join(p.token for p in chosen if p.role == role)})"
                              f"; allowed: at most one{extra}")
    for role in ("g", "d"):
        if not any(p.role == role for p in chosen):
            raise _fail(name, f"no {ROLE_NAMES[role]} token")
    canonical = SEP.join(p.token for p in sorted(chosen, key=lambda p: ROLE_ORDER.index(p.role)))
    if canonical != name:
        raise _fail(name, f"tokens out of order; write it as {canonical!r}")
    d = next(p for p in chosen if p.role == "d")
    if any(p.token == "wgan-gp" for p in chosen) and d.batchnorm:
        raise _fail(name, f"WGAN-GP's gradient penalty is per sample, but {d.token!r} uses BatchNorm, which mixes "
                          "the samples of a batch; use 'd-critic' (no normalisation) or a spectral-norm D ('d-sn', "
                          "'d-pconv', 'd-nice')")
    return chosen


def compose(name: str, *, label: str | None = None, description: str | None = None) -> MethodSpec:
    """The :class:`~pgan_core.methods.MethodSpec` of a composed name (see the module docstring): named ``label``
    (a registered alias of it) when given, else the composed name itself."""
    chosen = parse(name)
    by_role = {p.role: p for p in chosen}
    g, d = by_role["g"], by_role["d"]
    loss = by_role["loss"].token if "loss" in by_role else None
    recipe = RECIPES["wgan-gp" if loss == "wgan-gp" else d.family]
    train = recipe.train()
    for p in chosen:
        train.update(dict(p.train))
    train.pop("loss", None)
    papers = []
    for p in chosen:
        if p.paper and p.paper not in papers:
            papers.append(p.paper)
    return MethodSpec(name=label or name, build_G=g.builder, build_D=d.builder,
                      g_kwargs=dict(g.kwargs), d_kwargs=dict(d.kwargs), loss=loss or recipe.loss, train_defaults=train,
                      description=description or "composed: " + " + ".join(p.description for p in chosen),
                      paper="; ".join(papers), arch_version=max(g.arch_version, d.arch_version))


def tokens() -> dict[str, str]:
    """token -> role, for the leaderboard and the explorer."""
    return {t: p.role for t, p in _parts().items()}
