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

Non-persistent buffers that are not masks are not counted. Shared tensors are counted once.
"""
from __future__ import annotations

import torch.nn as nn

from .layers.perturbation import MASK_BUFFER, PerturbationLayer

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
