"""WGAN-GP and DCGAN training iterations on CPU: fp32 eager vs channels_last vs the cpu profile's fast path (bf16 autocast + channels_last), notebook 03's config (bench/results/speed_wgan_gp_cpu.json)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pgan_core.experiments import base_config  # noqa: E402
from pgan_core.timing import time_iteration_variants  # noqa: E402

out = {}
for mode, ov in {"fp32": dict(cpu_amp=False, channels_last=False), "bf16+cl": {}, "fp32+cl": dict(cpu_amp=False)}.items():
    for m in ("wgan-gp", "dcgan"):
        cfg = base_config("cpu", notebook="03_self_sparse_gan", dataset="cifar10", **ov).replace(method=m)
        df = time_iteration_variants({m: {"method": m}}, config=cfg, iters=5, repeats=3, warmup=2)
        out[f"{m} {mode}"] = float(df["sec_per_iter"].median())
        print(m, mode, round(out[f"{m} {mode}"], 4), flush=True)
print(json.dumps(out))
