"""Benchmark: training and metric throughput, plain fp32 vs optimised, on whatever device it runs on.

Training (``--train``): images per second of the real loop (:func:`pgan_core.training.train`, eval off,
no checkpoints inside the window) for each method at the paper width (128) and batch (64), in variants

  * ``plain``:           a textbook fp32 loop written here (batches and latents made on the CPU and copied,
                         default Adam, the losses read with ``.item()`` every iteration), the reference;
  * ``fp32``:            the project loop in fp32 (dataset and draws on the device, fused Adam, checks
                         resolved at log steps), NCHW, eager;
  * ``bf16``:            + bf16 autocast (``RunConfig.amp``);
  * ``bf16+cl``:         + ``channels_last``;
  * ``*+compile[-ro]``:  + ``compile`` (torch.compile, default mode or ``reduce-overhead``, i.e. CUDA graphs;
                         the one-off compile time is reported, not timed).

Throughput = real images consumed by D per second of training time between the end of the warm-up
(``--warmup`` iterations) and the end of the run, read from the ``train_seconds`` the loop logs; the
loop synchronises the GPU before each log line, so the window holds all the work queued in it.

Inception (``--inception``): TF-Inception pool3 features (:class:`pgan_core.metrics.InceptionFeatures`,
the FID network) of ``--n-images`` uint8 32 px images of the dataset, resized to 299 on the device, at
several batch sizes, NCHW fp32 (TF32 convolutions, PyTorch's default on Ampere+) vs channels_last;
the maximum feature difference between the two is printed, since FID features must not change.

    python bench/bench_gpu.py [--train] [--inception] [--methods dcgan pgan-g] [--dataset mnist]
                              [--steps 300] [--warmup 100] [--out bench_gpu.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.config import RunConfig  # noqa: E402
from pgan_core.training import train  # noqa: E402

VARIANTS = {
    "plain": None,
    "fp32": dict(amp=False, channels_last=False, compile=False),
    "bf16": dict(amp=True, channels_last=False, compile=False),
    "bf16+cl": dict(amp=True, channels_last=True, compile=False),
    "fp32+compile": dict(amp=False, channels_last=False, compile=True),
    "bf16+compile": dict(amp=True, channels_last=False, compile=True),
    "fp32+compile-ro": dict(amp=False, channels_last=False, compile="reduce-overhead"),
    "bf16+compile-ro": dict(amp=True, channels_last=False, compile="reduce-overhead"),
    "bf16+cl+compile": dict(amp=True, channels_last=True, compile=True),
}
DEFAULT_VARIANTS = ["plain", "fp32", "bf16", "bf16+cl", "bf16+compile", "fp32+compile-ro", "bf16+compile-ro"]


def plain_throughput(method: str, *, dataset: str, width: int, batch: int, steps: int, warmup: int,
                     device: str) -> dict:
    """The reference: a textbook fp32 GAN loop on the same models, losses and data."""
    from pgan_core.data import batch_at, dataset_channels, load_dataset
    from pgan_core.losses import get_loss
    from pgan_core.registry import build_models

    cfg = RunConfig(method=method, dataset=dataset, width=width, batch_size=batch).resolved()
    dev = torch.device(device)
    torch.manual_seed(0)
    G, D = build_models(method, img_channels=dataset_channels(dataset), z_dim=cfg.z_dim, width=width)
    G, D = G.to(dev).train(), D.to(dev).train()
    og = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas_g)
    od = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d)
    loss, data = get_loss(cfg.loss), load_dataset(dataset, "train")
    t_start = None
    for step in range(steps):
        if step == warmup:
            torch.cuda.synchronize() if dev.type == "cuda" else None
            t_start = time.perf_counter()
        for k in range(cfg.n_critic):
            real = batch_at(data, step * cfg.n_critic + k, batch, 0)[0].to(dev)
            z = torch.randn(batch, cfg.z_dim).to(dev)
            with torch.no_grad():
                fake = G(z)
            ld, _ = loss.d_loss(D, real, fake, None, gp_lambda=cfg.gp_lambda)
            od.zero_grad(); ld.backward(); od.step()
        lg = loss.g_loss(D, G(torch.randn(batch, cfg.z_dim).to(dev)))
        og.zero_grad(); lg.backward(); og.step()
        _ = (ld.item(), lg.item())                                         # what a plain loop logs
    torch.cuda.synchronize() if dev.type == "cuda" else None
    seconds = time.perf_counter() - t_start
    return {"method": method, "variant": "plain", "width": width, "batch": batch, "n_critic": cfg.n_critic,
            "timed_iters": steps - warmup, "seconds": round(seconds, 4),
            "img_per_s": round((steps - warmup) * batch * cfg.n_critic / seconds, 1),
            "ms_per_iter": round(1e3 * seconds / (steps - warmup), 3), "events": []}


def profile_iterations(method: str, *, dataset: str, width: int, batch: int, device: str, rows: int = 30) -> str:
    """torch.profiler table (self CPU time) of a 30-iteration fp32 run of the project loop, after a warm-up run."""
    from torch.profiler import ProfilerActivity, profile

    cfg = RunConfig(method=method, dataset=dataset, width=width, batch_size=batch, steps=10, seed=0, eval_protocols=(),
                    eval_every=0, ckpt_every=1000, log_every=10, device=device, amp=False)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as tmp2:
        train(cfg, tmp, progress=False, resume=False)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with profile(activities=acts) as prof:
            train(cfg.replace(steps=30), tmp2, progress=False)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


def train_throughput(method: str, variant: str, *, dataset: str, width: int, batch: int, steps: int,
                     warmup: int, device: str) -> dict:
    """Images/s of ``steps - warmup`` iterations of the real loop after ``warmup`` iterations."""
    if variant == "plain":
        return plain_throughput(method, dataset=dataset, width=width, batch=batch, steps=steps, warmup=warmup,
                                device=device)
    if steps % warmup:
        raise SystemExit(f"--steps ({steps}) must be a multiple of --warmup ({warmup})")
    cfg = RunConfig(method=method, dataset=dataset, width=width, batch_size=batch, steps=steps, seed=0,
                    eval_protocols=(), eval_every=0, ckpt_every=steps, log_every=warmup, device=device,
                    **VARIANTS[variant])
    with tempfile.TemporaryDirectory() as tmp:
        rec = train(cfg, tmp, progress=False, resume=False)
        log = [json.loads(line) for line in (Path(tmp) / "log.jsonl").read_text().splitlines()]
    ts = {e["step"]: e["train_seconds"] for e in log if e.get("kind") == "loss"}
    events = [e for e in log if e.get("kind") == "event"]
    n_critic = rec.config["n_critic"]
    seconds = ts[steps] - ts[warmup]
    return {"method": method, "variant": variant, "width": width, "batch": batch, "n_critic": n_critic,
            "timed_iters": steps - warmup, "seconds": round(seconds, 4),
            "img_per_s": round((steps - warmup) * batch * n_critic / seconds, 1),
            "ms_per_iter": round(1e3 * seconds / (steps - warmup), 3), "events": events}


def inception_throughput(n_images: int, batch_sizes: list[int], dataset: str, device: str) -> list[dict]:
    from pgan_core.data import load_dataset
    from pgan_core.metrics.inception import InceptionFeatures

    imgs = load_dataset(dataset, "test").images[:n_images]                 # (N, C, 32, 32) uint8
    rows, feats = [], {}
    for cl in (False, True):
        for bs in batch_sizes:
            net = InceptionFeatures(batch_size=bs, device=device, channels_last=cl)
            for _ in range(3):                                             # warm-up: cuDNN autotune, TorchScript
                net(imgs[:2 * bs])                                         # executor specialisation (2 runs)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            f = net(imgs)
            if device == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            feats[(cl, bs)] = f
            rows.append({"channels_last": cl, "batch": bs, "n": n_images, "seconds": round(dt, 3),
                         "img_per_s": round(n_images / dt, 1)})
    ref = feats[(False, batch_sizes[0])]
    for r in rows:
        r["max_abs_diff_vs_nchw"] = float((feats[(r["channels_last"], r["batch"])] - ref).abs().max())
    return rows


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--inception", action="store_true")
    ap.add_argument("--methods", nargs="+", default=["dcgan", "pgan-g"])
    ap.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    ap.add_argument("--profile", default=None, metavar="METHOD", help="print a torch.profiler table of METHOD's loop")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--n-images", type=int, default=5000)
    ap.add_argument("--inception-batches", type=int, nargs="+", default=[100, 250, 500])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=("cpu", "cuda"))
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA GPU is visible")
    from pgan_core.results import device_info, git_commit

    out = {"device": device_name(), "device_info": device_info(), "code": git_commit(), "torch": torch.__version__,
           "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": vars(args),
           "train": [], "inception": []}
    if args.train:
        for m in args.methods:
            for v in args.variants:
                try:
                    row = train_throughput(m, v, dataset=args.dataset, width=args.width, batch=args.batch,
                                           steps=args.steps, warmup=args.warmup, device=args.device)
                except Exception as e:                                     # noqa: BLE001 - report and go on
                    row = {"method": m, "variant": v, "error": f"{type(e).__name__}: {e}"[:500],
                           "trace": traceback.format_exc()[-1500:]}
                out["train"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "trace"}), flush=True)
        base = {r["method"]: r["img_per_s"] for r in out["train"] if r.get("variant") == "plain" and "img_per_s" in r}
        for r in out["train"]:
            if "img_per_s" in r and r["method"] in base:
                r["speedup_vs_plain"] = round(r["img_per_s"] / base[r["method"]], 2)
    if args.profile:
        out["profile"] = profile_iterations(args.profile, dataset=args.dataset, width=args.width, batch=args.batch,
                                            device=args.device)
        print(out["profile"])
    if args.inception:
        try:
            out["inception"] = inception_throughput(args.n_images, args.inception_batches, args.dataset, args.device)
        except Exception as e:                                             # noqa: BLE001
            out["inception"] = [{"error": f"{type(e).__name__}: {e}"[:500], "trace": traceback.format_exc()[-1500:]}]
        for r in out["inception"]:
            print(json.dumps(r), flush=True)
    print(f"# {out['device']}, torch {out['torch']}")
    for r in out["train"]:
        if "img_per_s" in r:
            print(f"train {r['method']:>8} {r['variant']:>16}: {r['img_per_s']:>9.1f} img/s  {r['ms_per_iter']:>7.2f} ms/it"
                  f"  x{r.get('speedup_vs_plain', float('nan')):.2f} vs plain")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
