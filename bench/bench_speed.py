"""Benchmark on a CPU, side by side in one run: training eager fp32 vs the fast path, the plain Inception file
vs the fast Inception, runs one after another vs concurrently.

Training (``--train``): seconds per iteration of the real loop (:func:`pgan_core.training.train`, CIFAR-10,
eval off, no checkpoint inside the window) at ``--width`` (32) and batch 64, for each method in the variants

  * ``fp32``:         eager, NCHW, float32: the reference;
  * ``bf16``, ``cl``, ``bf16+cl``: ``cpu_amp`` (bf16 autocast) and/or ``channels_last`` (pgan_core.fastpath);
  * ``bf16+cl+compile``: + torch.compile (the one-off compile time is reported, not timed);
  * ``main``: fp32 as the loop ran before the fast-path work ("today" in the speed issue): D's weight
    gradients computed in the G step (``training.FREEZE_D_IN_G_STEP = False``) and, for sngan, the generator
    block with ``F.interpolate`` nearest up-sampling and its 1x1 shortcut after it.

Variants of a method alternate over ``--rounds`` rounds (A B C .. A B C ..) and the median is reported, so
a background load hits them alike. Inception (``--inception``): images/s of the FID features of
``--n-images`` CIFAR-10 test images through the TorchScript file (``impl='plain'``) and the fast module
(``impl='fast'``), alternating, with the relative difference of their features. Concurrency
(``--concurrency``): wall time of 2 short DCGAN runs one after another vs 2 at once
(:func:`pgan_core.experiments.train_concurrently`).

    python bench/bench_speed.py [--train] [--inception] [--concurrency] [--out bench/results/speed_cpu.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.config import RunConfig  # noqa: E402
from pgan_core.io import atomic_write_json  # noqa: E402
from pgan_core.results import provenance  # noqa: E402
from pgan_core.training import train  # noqa: E402

VARIANTS = {
    "fp32": dict(cpu_amp=False, channels_last=False, compile=False),
    "bf16": dict(cpu_amp=True, channels_last=False, compile=False),
    "cl": dict(cpu_amp=False, channels_last=True, compile=False),
    "bf16+cl": dict(cpu_amp=True, channels_last=True, compile=False),
    "bf16+cl+compile": dict(cpu_amp=True, channels_last=True, compile=True),
    "main": dict(cpu_amp=False, channels_last=False, compile=False),
}


def _old_upblock_forward(self, x):
    """The SNGAN G block before the fast-path work (for the 'main' variant)."""
    import torch.nn.functional as F

    h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
    h = self.c2(F.relu(self.bn2(self.c1(h))))
    return h + self.sc(F.interpolate(x, scale_factor=2, mode="nearest"))


def time_variant(method: str, variant: str, *, width: int, steps: int, warmup: int) -> dict:
    """Seconds per iteration of ``steps - warmup`` iterations of the real loop after ``warmup``."""
    from pgan_core import training
    from pgan_core.models import resnet

    cfg = RunConfig(method=method, dataset="cifar10", width=width, batch_size=64, steps=steps, seed=0,
                    eval_protocols=(), eval_every=0, ckpt_every=steps, log_every=warmup, device="cpu",
                    **VARIANTS[variant])
    saved = resnet.UpBlock.forward
    if variant == "main":
        resnet.UpBlock.forward = _old_upblock_forward
        training.FREEZE_D_IN_G_STEP = False
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rec = train(cfg, tmp, progress=False, resume=False)
            log = [json.loads(line) for line in (Path(tmp) / "log.jsonl").read_text().splitlines()]
    finally:
        resnet.UpBlock.forward = saved
        training.FREEZE_D_IN_G_STEP = True
    ts = {e["step"]: e["train_seconds"] for e in log if e.get("kind") == "loss"}
    compiled = [e for e in log if e.get("event") in ("compiled", "compile_failed")]
    return {"sec_per_iter": (ts[steps] - ts[warmup]) / (steps - warmup), "mode": rec.fast_path.get("mode"),
            "compile": compiled[0] if compiled else None}


def bench_train(methods: list[str], width: int, rounds: int) -> list[dict]:
    rows = []
    for method in methods:
        steps, warmup = (8, 2) if method.startswith("sngan") else (30, 6)
        names = [v for v in VARIANTS if v != "bf16+cl+compile" or not method.startswith("sngan")]
        times: dict[str, list[float]] = {v: [] for v in names}
        info: dict[str, dict] = {}
        for r in range(rounds):
            for v in names:
                if v == "bf16+cl+compile" and r > 0:      # compile once: its time is mostly the compiler's
                    continue
                out = time_variant(method, v, width=width, steps=steps, warmup=warmup)
                times[v].append(out["sec_per_iter"])
                info[v] = out
                print(f"  {method:8s} {v:16s} round {r}: {out['sec_per_iter']:.3f} s/iter ({out['mode']})", flush=True)
        base = statistics.median(times["fp32"])
        for v in names:
            med = statistics.median(times[v])
            rows.append({"method": method, "variant": v, "width": width, "batch": 64, "sec_per_iter": round(med, 4),
                         "speedup_vs_fp32": round(base / med, 3), "rounds": len(times[v]),
                         "all": [round(t, 4) for t in times[v]], "mode": info[v]["mode"],
                         "compile_event": info[v]["compile"]})
        main = statistics.median(times["main"])
        for row in rows:
            if row["method"] == method:
                row["speedup_vs_main"] = round(main / row["sec_per_iter"], 3)
    return rows


def bench_inception(n_images: int, rounds: int) -> dict:
    from pgan_core.data import load_dataset
    from pgan_core.metrics.inception import InceptionFeatures

    images = load_dataset("cifar10", "test").images[:n_images]
    nets = {"plain": InceptionFeatures(impl="plain", batch_size=32), "fast": InceptionFeatures(impl="fast", batch_size=16)}
    feats, rates = {}, {k: [] for k in nets}
    for name, net in nets.items():                                    # warm-up (the fast path traces and freezes)
        net(images[:net.batch_size])
        net(images[:net.batch_size])
    for _ in range(rounds):
        for name, net in nets.items():
            t0 = time.perf_counter()
            feats[name] = net(images)
            rates[name].append(n_images / (time.perf_counter() - t0))
    a, b = feats["plain"], feats["fast"]
    out = {"n_images": n_images, "rounds": rounds,
           "images_per_s": {k: round(statistics.median(v), 2) for k, v in rates.items()},
           "all_images_per_s": {k: [round(x, 2) for x in v] for k, v in rates.items()},
           "feature_rel_diff_frobenius": float((a - b).norm() / a.norm()),
           "feature_max_abs_diff_over_max": float((a - b).abs().max() / a.abs().max())}
    out["speedup"] = round(out["images_per_s"]["fast"] / out["images_per_s"]["plain"], 3)
    return out


def bench_concurrency(steps: int) -> dict:
    from pgan_core.experiments import train_concurrently

    cfgs = [RunConfig(method="dcgan", dataset="cifar10", width=16, batch_size=64, steps=steps, seed=s,
                      eval_protocols=(), eval_every=0, ckpt_every=steps, log_every=steps) for s in (0, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for i, c in enumerate(cfgs):
            train(c, Path(tmp) / f"seq{i}", progress=False, resume=False)
        seq = time.perf_counter() - t0
        t0 = time.perf_counter()
        train_concurrently([(c, Path(tmp) / f"par{i}") for i, c in enumerate(cfgs)], concurrency=2, progress=False)
        par = time.perf_counter() - t0
    return {"runs": 2, "steps": steps, "method": "dcgan", "width": 16, "sequential_wall_s": round(seq, 2),
            "concurrent_wall_s": round(par, 2), "threads": {"sequential": torch.get_num_threads(), "concurrent": "1 each"},
            "speedup": round(seq / par, 3)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true")
    p.add_argument("--inception", action="store_true")
    p.add_argument("--concurrency", action="store_true")
    p.add_argument("--methods", nargs="+", default=["dcgan", "pgan-g", "sngan"])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--n-images", type=int, default=64)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "speed_cpu.json"))
    p.add_argument("--merge", action="store_true", help="keep the other sections and methods of an existing --out")
    args = p.parse_args(argv)
    if not (args.train or args.inception or args.concurrency):
        args.train = args.inception = args.concurrency = True
    t0 = time.perf_counter()
    out: dict = {"what": __doc__.splitlines()[0]}
    previous = json.loads(Path(args.out).read_text()) if args.merge and Path(args.out).is_file() else {}
    if args.train:
        rows = bench_train(args.methods, args.width, args.rounds)
        kept = [r for r in previous.get("train", []) if r["method"] not in args.methods]
        out["train"] = kept + rows
        if kept:                                                     # the other rows come from an earlier sitting
            out["train_rerun"] = {"methods": args.methods, "earlier_rows_provenance": previous.get("provenance")}
    for key in ("inception", "concurrency"):
        if key in previous:
            out[key] = previous[key]
    if args.inception:
        out["inception"] = bench_inception(args.n_images, args.rounds)
        print(f"  inception: {out['inception']['images_per_s']} images/s, speed-up {out['inception']['speedup']}x, "
              f"features rel. diff {out['inception']['feature_rel_diff_frobenius']:.2e}", flush=True)
    if args.concurrency:
        out["concurrency"] = bench_concurrency(120)
        print(f"  concurrency: {out['concurrency']}", flush=True)
    out["provenance"] = provenance(t0)
    atomic_write_json(args.out, out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
