"""Pilot the baseline's FID curve to choose a notebook's cpu budget (the convergence rule of the README).

Trains ``--method`` (default DCGAN) with the ``cpu`` profile's settings (fast path included) on each
``--dataset`` for ``--steps`` iterations, evaluating ``--protocol`` every ``--eval-every`` iterations, and
applies :func:`pgan_core.claims.convergence` at each candidate budget (every evaluation from a quarter of
the run on): the budget is converged when over its last quarter the seed-mean FID changes by less than 10%.
Writes the curves, the verdict per candidate budget and provenance to
``bench/results/pilot_<method>_<dataset>_cpu.json`` and a figure (curve + final samples) beside it.

    python bench/pilot_baseline.py --dataset cifar10 --steps 6000 --eval-every 500 [--width 16] [--seeds 0]
        [--ema-kimg 10] [--lr-decay 0.5] [--notebook 01_perturbative_gan] [--z-dim 100]

The JSON also records the real-data floor of the protocol (n real test images against the train reference: what a
perfect generator would score), drawn as a dashed line.

``--lr-decay f``: both learning rates decayed linearly to zero from ``f * steps`` on (RunConfig.lr_decay).
``--notebook``: the notebook whose run folder (and cpu budget) the pilot uses (default ``bench-pilot``, its own);
with a notebook's name, finished runs of the same configuration are reused, not retrained.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core import claims, plotting  # noqa: E402
from pgan_core.checkpoint import load_snapshot_generator  # noqa: E402
from pgan_core.experiments import run_grid  # noqa: E402
from pgan_core.io import atomic_write_json  # noqa: E402
from pgan_core.metrics.evaluate import parse_protocol  # noqa: E402
from pgan_core.results import provenance  # noqa: E402
from pgan_core.sampling import generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", nargs="+", default=["cifar10"])
    p.add_argument("--method", default="dcgan")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--protocol", default="fid2k_domain")
    p.add_argument("--ema-kimg", type=float, default=10.0, help="half-life of G's EMA (0: evaluate G itself)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--lr-decay", type=float, default=None, help="decay both rates linearly to 0 from this fraction on")
    p.add_argument("--z-dim", type=int, default=None, help="G's latent size (default: RunConfig's; notebook 07 uses 100)")
    p.add_argument("--notebook", default="bench-pilot", help="run folder (and budget) of this notebook")
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args(argv)
    if args.eval_every <= 0 or args.steps % args.eval_every:
        p.error(f"--eval-every must divide --steps ({args.steps}); got {args.eval_every}")
    out_dir = Path(args.out_dir)
    for ds in args.dataset:
        t0 = time.perf_counter()
        grid = run_grid(notebook=args.notebook, profile="cpu", methods=[args.method], datasets=[ds], seeds=args.seeds,
                        overrides=dict(steps=args.steps, width=args.width, eval_every=args.eval_every,
                                       ckpt_every=args.eval_every, eval_protocols=(args.protocol,),
                                       ema_kimg=args.ema_kimg, lr_decay=args.lr_decay, z_dim=args.z_dim),
                        final_protocols=[args.protocol], progress=False)
        curves = grid.curves().dropna(subset=[args.protocol])
        budgets = []
        for s in sorted(curves["step"].unique()):
            if s < args.steps // 4 or (args.lr_decay is not None and s != args.steps):
                continue                                      # a decayed run's schedule is its budget's alone
            row = claims.convergence(curves[curves["step"] <= s], args.protocol, method=args.method, dataset=ds)
            budgets.append({"steps": int(s), **{k: row.get(k) for k in ("window", "start", "end", "trend_start", "trend_end",
                                                                         "relative_change", "max_excursion", "converged")}})
        rec = grid.records[0]
        # the floor a perfect generator would reach under the same protocol: n real images of the other split
        n_floor = parse_protocol(args.protocol).n
        floor = grid.evaluators[ds].real_vs_real(n_floor, extractor=parse_protocol(args.protocol).extractor)
        stem = f"pilot_{args.method}_{ds}{'_decay' if args.lr_decay is not None else ''}_cpu"
        out = {"what": __doc__.splitlines()[0], "dataset": ds, "method": args.method, "steps": args.steps,
               "width": args.width, "z_dim": rec.config["z_dim"], "ema_kimg": args.ema_kimg, "lr_decay": args.lr_decay, "run_folder_of": args.notebook, "batch_size": rec.config["batch_size"], "protocol": args.protocol,
               "seeds": args.seeds, "real_data_floor": floor, "rule": "relative change of the seed-mean curve over the last quarter < 0.10",
               "curve": curves[["seed", "step", "train_seconds", args.protocol]].to_dict(orient="records"),
               "budgets": budgets, "sec_per_iter": [r.sec_per_iter for r in grid.records],
               "runs_code": [r.code for r in grid.records],                     # the commit each run finished at
               "figure": f"bench/results/{stem}.png",
               "provenance": provenance(t0, fast_path=rec.fast_path)}
        G, _ = load_snapshot_generator(f"{rec.run_dir}/snapshot.pt")
        fig = plotting.pilot(curves, args.protocol, generate(G, 64, seed=2024), title=f"{args.method} on {ds}, width {args.width}",
                              samples_title="final EMA samples" if args.ema_kimg else "final samples (G, no EMA)",
                              floor=floor["fid"])
        fig.savefig(out_dir / f"{stem}.png", dpi=110)
        atomic_write_json(out_dir / f"{stem}.json", out)
        for b in budgets:
            if b["converged"] is None:
                continue
            print(f"{ds} {b['steps']:>6} it: {args.protocol} {b['start']:.2f} -> {b['end']:.2f} over {b['window']}, trend "
                  f"{b['trend_start']:.2f} -> {b['trend_end']:.2f} ({100 * b['relative_change']:.1f}%): "
                  f"{'converged' if b['converged'] else 'not converged'}")
        print(f"sec/iter {out['sec_per_iter']}; wrote {out_dir / (stem + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
