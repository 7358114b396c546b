"""Parameter and buffer counts of a module, split the way the perturbation papers argue.

PNN (arXiv:1806.01817) and Perturbative GAN (arXiv:1902.01514) claim fewer *trainable*
parameters; their noise masks are fixed, so they are counted separately, and separately again
depending on whether they are stored in the checkpoint or regenerated from a seed.

Fields of :func:`count_params` (element counts, ints; the categories are disjoint):

* ``trainable``          parameters with ``requires_grad=True``;
* ``frozen``             parameters with ``requires_grad=False``;
* ``buffers_stored``     persistent buffers other than perturbation masks, e.g. BatchNorm's
                         running mean and variance; BatchNorm's ``num_batches_tracked`` counter is
                         left out (it is one integer per BN layer, not model state in any useful sense);
* ``masks_stored``       perturbation masks in the state_dict (``mask_source='stored_uniform'``);
* ``masks_regenerated``  perturbation masks rebuilt from a seed at construction (non-persistent).

Non-persistent buffers that are not masks are not counted. Shared tensors are counted once. Masks
regenerated inside forward (``mask_source='lcg_forward'``) are no buffers and count in neither field.

:func:`mask_memory` gives the bytes of mask memory by where the masks live (checkpoint and memory, memory
only, or regenerated in forward), and :func:`mask_memory_saved` what regenerating them in forward saves
for a registered method at the paper's width (the paper's hardware claim, "algorithmic mask generation").
"""
from __future__ import annotations

import torch.nn as nn

from .errors import bad_param, check_choice
from .layers.perturbation import IN_FORWARD_SOURCES, MASK_BUFFER, MASK_SOURCES, PerturbationLayer
from .registry import build_models, get_method, owns_perturbation

FIELDS = ("trainable", "frozen", "buffers_stored", "masks_stored", "masks_regenerated")


def count_params(module: nn.Module) -> dict[str, int]:
    """Element counts of ``module``'s parameters, buffers and masks (see the module docstring)."""
    counts = dict.fromkeys(FIELDS, 0)
    for p in module.parameters():                                   # deduplicated
        counts["trainable" if p.requires_grad else "frozen"] += p.numel()
    seen: set[int] = set()
    for mod in module.modules():                                    # deduplicated
        for name, buf in mod.named_buffers(recurse=False):
            if buf is None or id(buf) in seen:
                continue
            seen.add(id(buf))
            persistent = name not in mod._non_persistent_buffers_set
            if isinstance(mod, PerturbationLayer) and name == MASK_BUFFER:
                counts["masks_stored" if persistent else "masks_regenerated"] += buf.numel()
            elif persistent and not (isinstance(mod, nn.modules.batchnorm._NormBase) and name == "num_batches_tracked"):
                counts["buffers_stored"] += buf.numel()
    return counts


def param_table(models: dict[str, nn.Module]) -> list[dict]:
    """One row per model: ``{"name": key, **count_params(model)}``, in the dict's order."""
    return [{"name": name, **count_params(m)} for name, m in models.items()]


# ---------------------------------------------------------------- mask memory (the "algorithmic masks" claim)

MASK_MEMORY_FIELDS = ("stored_bytes", "held_bytes", "in_forward_elements", "largest_in_forward_bytes")


def mask_memory(module: nn.Module) -> dict[str, int]:
    """Bytes of perturbation-mask memory of ``module``, by where the masks live:

    * ``stored_bytes``: persistent mask buffers ('stored_uniform'), in memory and in every checkpoint;
    * ``held_bytes``: non-persistent mask buffers ('seeded_*', 'lcg'), rebuilt at construction, in memory;
    * ``in_forward_elements``: elements of masks regenerated inside forward ('lcg_forward'), which hold no
      memory between passes;
    * ``largest_in_forward_bytes``: the largest of those masks, alive only while its layer runs (plus the
      generator's working memory, :mod:`pgan_core.layers.lcg`).
    """
    out = dict.fromkeys(MASK_MEMORY_FIELDS, 0)
    for mod in {id(m): m for m in module.modules() if isinstance(m, PerturbationLayer)}.values():
        if mod.mask_source in IN_FORWARD_SOURCES:
            n = mod.in_channels * mod.fan_out * mod.spatial[0] * mod.spatial[1]
            out["in_forward_elements"] += n
            out["largest_in_forward_bytes"] = max(out["largest_in_forward_bytes"], n * mod.conv.weight.element_size())
        else:
            buf = getattr(mod, MASK_BUFFER)
            persistent = MASK_BUFFER not in mod._non_persistent_buffers_set
            out["stored_bytes" if persistent else "held_bytes"] += buf.numel() * buf.element_size()
    return out


def mask_memory_saved(method: str = "pgan-g", *, width: int = 128, img_channels: int = 3, z_dim: int = 128,
                      mask_source: str = "lcg_forward") -> dict:
    """Mask memory of ``method``'s G and D at ``width`` (the paper's 128) as registered, against the same
    models with ``mask_source`` masks (default: regenerated inside forward), both measured with
    :func:`mask_memory`. Returns method, width, mask_source, ``masks`` (elements), ``registered_bytes``
    (mask memory as registered: stored + held), ``registered_stored_bytes`` (of those, in checkpoints),
    ``alternative_bytes`` and ``alternative_stored_bytes`` (the same with ``mask_source``), ``saved_bytes``
    (registered - alternative memory), ``largest_in_forward_bytes`` and ``trainable_bytes`` (float32 bytes of
    G's and D's trainable parameters, for scale)."""
    check_choice("mask_source", mask_source, MASK_SOURCES)
    spec = get_method(method)
    owners = (owns_perturbation(spec.build_G, spec.g_kwargs), owns_perturbation(spec.build_D, spec.d_kwargs))
    if not any(owners):
        raise bad_param("method", method, "a method with perturbation layers (its G or D has masks)")
    alt = {"mask_source": mask_source}
    kw = dict(img_channels=img_channels, z_dim=z_dim, width=width)
    ref = build_models(method, **kw)
    other = build_models(method, **kw, g_overrides=alt if owners[0] else None, d_overrides=alt if owners[1] else None)
    a = [mask_memory(m) for m in ref]
    b = [mask_memory(m) for m in other]
    registered = sum(m["stored_bytes"] + m["held_bytes"] for m in a)
    alternative = sum(m["stored_bytes"] + m["held_bytes"] for m in b)
    masks = sum(m.in_channels * m.fan_out * m.spatial[0] * m.spatial[1]
                for net in ref for m in net.modules() if isinstance(m, PerturbationLayer))
    return {"method": method, "width": width, "mask_source": mask_source, "masks": masks,
            "registered_bytes": registered, "registered_stored_bytes": sum(m["stored_bytes"] for m in a),
            "alternative_bytes": alternative, "alternative_stored_bytes": sum(m["stored_bytes"] for m in b),
            "saved_bytes": registered - alternative,
            "largest_in_forward_bytes": max(m["largest_in_forward_bytes"] for m in b),
            "trainable_bytes": 4 * sum(count_params(m)["trainable"] for m in ref)}
