"""SASTM's gate start and the signal through G at initialisation (bench/results/sastm_init_signal.json).

For notebook 03's generator (DCGAN G + SASTM, 'mul', width 16, CIFAR-10) with the gate biases at +1 (``sastm``) and
at 0 (``sastm-b0``, the bias-free formula), over 5 initialisation seeds: the std of each SASTM's input F and output
F' on a batch of 256 latents in training mode, the variance of F' against the eps of the BatchNorm that follows it
(a variance far below eps means BN no longer normalises: the block's output shrinks towards its bias), the fraction
of exactly-zero coefficients, and the std of G's output images (0: a constant image for every latent).

    python bench/sastm_init_signal.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.build import generator  # noqa: E402
from pgan_core.experiments import base_config  # noqa: E402
from pgan_core.io import atomic_write_json  # noqa: E402
from pgan_core.layers.sastm import SASTM  # noqa: E402
from pgan_core.results import provenance  # noqa: E402


def measure(method: str, seed: int) -> dict:
    cfg = base_config("cpu", notebook="03_self_sparse_gan", dataset="cifar10").replace(method=method).resolved()
    torch.manual_seed(seed)
    G = generator(cfg)
    gates = [m for m in G.modules() if isinstance(m, SASTM)]
    bns = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    blocks = []
    hooks = [g.register_forward_hook(lambda mod, inp, out: blocks.append(
        {"in_std": float(inp[0].float().std()), "out_std": float(out.float().std()),
         "out_var": float(out.float().var())})) for g in gates]
    for g in gates:
        g.record = True
    G.train()
    with torch.no_grad():
        x = G(torch.randn(256, cfg.z_dim, generator=torch.Generator().manual_seed(1000 + seed)))
    for h in hooks:
        h.remove()
    for b, g, bn in zip(blocks, gates, bns):
        b.update(bn_eps=bn.eps, var_over_eps=b["out_var"] / bn.eps, zero_channel=g.last_zero_channel,
                 zero_spatial=g.last_zero_spatial)
    per_latent = x.float().flatten(1)
    return {"method": method, "gate_bias": gates[0].gate_bias, "seed": seed, "blocks": blocks,
            "image_std": float(per_latent.std()), "image_std_across_latents": float(per_latent.std(0).mean())}


def main() -> int:
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = [measure(m, s) for m in ("sastm", "sastm-b0") for s in range(5)]
    for r in rows:
        print(r["method"], r["seed"], "F'/F std per block:",
              [f"{b['out_std'] / b['in_std']:.1e}" for b in r["blocks"]],
              "var/eps:", [f"{b['var_over_eps']:.1e}" for b in r["blocks"]],
              f"image std across latents {r['image_std_across_latents']:.2e}")
    out = Path(__file__).resolve().parent / "results" / "sastm_init_signal.json"
    atomic_write_json(out, {
        "what": __doc__.splitlines()[0], "command": "python bench/sastm_init_signal.py", "rows": rows,
        "provenance": provenance(t0)})
    print(f"wrote {out.relative_to(Path(__file__).resolve().parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
