"""Domain feature extractor: a small classifier trained by the project on each dataset, cached.

Why: the standard Inception network runs at ~15 images/s on a 2-core CPU (fast path), so FID/KID/IS
curves during CPU-scale reproductions use a native-resolution (32x32) classifier instead. Numbers from it are labelled ``*_domain`` and are never compared
with published Inception numbers.

Network (``DomainClassifier``), uint8 input mapped to [-1, 1]:

    x (B, C, 32, 32)
    -> [conv3x3 32  + BN + ReLU] -> maxpool2   (B, 32, 16, 16)
    -> [conv3x3 64  + BN + ReLU] -> maxpool2   (B, 64, 8, 8)
    -> [conv3x3 128 + BN + ReLU] -> maxpool2   (B, 128, 4, 4)
    -> [conv3x3 128 + BN + ReLU] -> avgpool   (B, 128)        = features
    -> Linear(128, num_classes)                (B, num_classes) = logits (for IS)

Training (``QUALITY_PRESETS``): Adam lr 1e-3, batch 128, seeded init and shuffling;
``full`` = whole train split, 2 epochs (4 with random flip + 2-px translation for CIFAR);
``smoke`` = 2,000 training images, 100 steps. The result is cached at
``<cache>/extractors/domain-<dataset>-<quality>-<stable_hash(train config)>.pt`` via
``save_verified`` (state_dict + config + meta), with a ``.json`` beside it holding the test
accuracy (full test split), training time, number of training images and sha256. A damaged
cache file raises IntegrityError (delete it to retrain).

Shipped extractors: the extractors committed results are measured with live in the repository,
``references/domain/<same file name>`` (+ ``.sha256``, ``.json``), about 1 MB each. When present they are
loaded instead of retrained, so a rerun on any machine measures domain metrics in the *same* feature
space (an extractor retrained on another CPU differs in its last bits, and its FIDs with it).
``$PGAN_DOMAIN_SHIPPED=0`` ignores them (the extractor is then trained here; ``source`` in its metadata
says which). ``python -m pgan_core.metrics.domain --ship cifar10 mnist [--quality smoke]`` copies the cached (or newly
trained) extractors into ``references/domain/``; the smoke profile's are shipped too (CI and smoke reruns train
no extractor).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import load_dataset
from ..errors import ConfigError, check_choice, check_positive
from ..io import atomic_write_json, cache_root, load_verified, save_verified, shown_path, stable_hash
from ..results import device_info, git_commit
from .reference import reference_root

__all__ = ["DomainClassifier", "DomainExtractor", "load_domain_extractor", "train_domain_classifier",
           "domain_cache_path", "QUALITY_PRESETS"]

ARCH_VERSION = "domain-cnn-v1"  # bump when the network or training code changes (invalidates caches)
WIDTHS = (32, 64, 128, 128)
QUALITY_PRESETS: dict[str, dict[str, Any]] = {
    # epochs per dataset family; 'cifar' matches any name containing 'cifar'
    "full": {"epochs": {"cifar": 4, "default": 2}, "n_train": None, "steps": None, "augment": {"cifar": True}},
    "smoke": {"epochs": None, "n_train": 2000, "steps": 100, "augment": {}},
}
BATCH_SIZE = 128
LR = 1e-3


# ---------------------------------------------------------------- data hook and cache lock

@contextlib.contextmanager
def cache_lock(path: Path) -> Any:
    """Exclusive advisory lock on ``<path>.lock`` so that concurrent processes build a cache file once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: no locking, atomic writes still hold
        yield
        return
    with open(str(path) + ".lock", "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _load_dataset(name: str, split: str, **kwargs: Any) -> Any:
    """``pgan_core.data.load_dataset`` (imported lazily; tests monkeypatch this function)."""
    return load_dataset(name, split, **kwargs)


def _u8_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 -> float32 [-1, 1] (same map as pgan_core.data.to_float)."""
    return x.to(torch.float32) / 127.5 - 1.0


# ---------------------------------------------------------------- network

def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class DomainClassifier(nn.Module):
    """4-block CNN classifier on 32x32 images; 128-d pooled features and class logits."""

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, ...] = WIDTHS) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ConfigError(f"parameter 'widths': got {widths!r}; allowed: 4 channel widths")
        w1, w2, w3, w4 = widths
        self.in_channels, self.num_classes, self.dim = in_channels, num_classes, w4
        self.body = nn.Sequential(
            _block(in_channels, w1), nn.MaxPool2d(2),  # (B, w1, 16, 16)
            _block(w1, w2), nn.MaxPool2d(2),           # (B, w2, 8, 8)
            _block(w2, w3), nn.MaxPool2d(2),           # (B, w3, 4, 4)
            _block(w3, w4),                            # (B, w4, 4, 4)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),     # (B, w4)
        )
        self.head = nn.Linear(w4, num_classes)         # (B, num_classes)

    def features_and_logits(self, x_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (B, C, 32, 32) -> features (B, 128), logits (B, num_classes)."""
        x = _u8_to_float(x_uint8).contiguous(memory_format=torch.channels_last)  # (B, C, 32, 32), faster on CPU
        feats = self.body(x)
        return feats, self.head(feats)

    def forward(self, x_uint8: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x_uint8)[1]


# ---------------------------------------------------------------- training

def _train_config(dataset: str, quality: str, seed: int) -> dict[str, Any]:
    """The training recipe (everything that changes the weights except the data itself)."""
    preset = QUALITY_PRESETS[quality]
    family = "cifar" if "cifar" in dataset.lower() else "default"
    epochs = preset["epochs"]
    if isinstance(epochs, dict):
        epochs = epochs.get(family, epochs.get("default"))
    return {
        "arch": ARCH_VERSION, "widths": list(WIDTHS), "dataset": dataset, "quality": quality, "seed": int(seed),
        "epochs": epochs, "steps": preset["steps"], "n_train": preset["n_train"],
        "augment": bool(preset["augment"].get(family, False)),
        "batch_size": int(preset.get("batch_size", BATCH_SIZE)), "lr": float(preset.get("lr", LR)),
    }


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random horizontal flip and integer translation by up to ``shift`` px (zero fill); uint8 in/out."""
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (shift, shift, shift, shift))  # (B, C, H+2s, W+2s)
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen).tolist()
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def _accuracy(model: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
              batch_size: int = 500) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for s in range(0, len(images), batch_size):
            logits = model(images[s:s + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == labels[s:s + batch_size]).sum())
    return correct / max(len(images), 1)


def train_domain_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, config: dict[str, Any],
                            *, device: str | torch.device = "cpu", progress: bool = False) -> DomainClassifier:
    """Train a :class:`DomainClassifier` on uint8 ``images`` (N, C, 32, 32) with int64 ``labels`` (N,).

    ``config`` is a :func:`_train_config` dict (epochs or steps, batch_size, lr, augment, seed).
    Deterministic for a given seed and thread count (seeded generator for init and shuffling).
    """
    device = torch.device(device)
    n = len(images)
    bs = min(config["batch_size"], n)
    steps_per_epoch = math.ceil(n / bs)
    total = config["steps"] if config["steps"] is not None else config["epochs"] * steps_per_epoch
    gen = torch.Generator().manual_seed(config["seed"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        model = DomainClassifier(images.shape[1], num_classes, tuple(config["widths"]))
    model = model.to(device=device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config["lr"])
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=f"domain extractor {config['dataset']}/{config['quality']}", unit="step")
    model.train()
    step, perm, pos = 0, torch.randperm(n, generator=gen), 0
    while step < total:
        if pos >= n:  # new epoch; the last batch of an epoch may be partial
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos:pos + bs]
        pos += bs
        x = images[idx]
        if config["augment"]:
            x = _augment(x, gen)
        loss = F.cross_entropy(model(x.to(device)), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=float(loss))
    if bar is not None:
        bar.close()
    return model.eval()


# ---------------------------------------------------------------- cached extractor

class DomainExtractor:
    """A trained :class:`DomainClassifier` used as a feature extractor (eval mode, no grad).

    ``extractor(x_uint8)`` -> (features (B, 128) float32, logits (B, num_classes) float32), on CPU.
    """

    name = "domain"
    has_logits = True

    def __init__(self, model: DomainClassifier, *, dataset: str, quality: str, sha256: str, test_accuracy: float,
                 meta: dict[str, Any], path: Path | None = None, batch_size: int = 500,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.model.requires_grad_(False)
        self.dataset, self.quality, self.sha256 = dataset, quality, sha256
        self.test_accuracy = float(test_accuracy)
        self.num_classes, self.channels, self.dim = model.num_classes, model.in_channels, model.dim
        self.meta, self.path = meta, path
        self.batch_size = check_positive("batch_size", batch_size, integer=True)

    def __call__(self, x_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x_uint8, torch.Tensor) or x_uint8.dtype != torch.uint8:
            raise ConfigError(f"parameter 'x': expected a uint8 tensor (B, {self.channels}, 32, 32), got "
                              f"{getattr(x_uint8, 'dtype', type(x_uint8).__name__)}")
        if x_uint8.ndim != 4 or x_uint8.shape[1] != self.channels:
            raise ConfigError(f"parameter 'x': expected shape (B, {self.channels}, H, W) for the "
                              f"{self.dataset} domain extractor, got {tuple(x_uint8.shape)}")
        self.model.eval()
        feats, logits = [], []
        with torch.inference_mode():
            for s in range(0, x_uint8.shape[0], self.batch_size):
                f, lg = self.model.features_and_logits(x_uint8[s:s + self.batch_size].to(self.device))
                feats.append(f.float().cpu())
                logits.append(lg.float().cpu())
        if not feats:
            return torch.zeros(0, self.dim), torch.zeros(0, self.num_classes)
        return torch.cat(feats), torch.cat(logits)

    def __repr__(self) -> str:
        return (f"DomainExtractor(dataset={self.dataset!r}, quality={self.quality!r}, dim={self.dim}, "
                f"num_classes={self.num_classes}, test_accuracy={self.test_accuracy:.4f}, sha256={self.sha256[:12]}...)")


def domain_cache_path(dataset: str, quality: str = "full", *, cache_dir: str | Path | None = None,
                      seed: int = 0) -> Path:
    """Where the extractor for (dataset, quality, seed) is cached."""
    check_choice("quality", quality, QUALITY_PRESETS)
    key = stable_hash(_train_config(dataset, quality, seed))
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    return root / "extractors" / f"domain-{dataset}-{quality}-{key}.pt"


def load_domain_extractor(dataset: str, *, quality: str = "full", cache_dir: str | Path | None = None,
                          seed: int = 0, progress: bool = False, device: str | torch.device = "cpu",
                          batch_size: int = 500) -> DomainExtractor:
    """Load the cached domain extractor for ``dataset``, training (and caching) it on first use.

    ``quality``: 'full' (whole train split; ~1.5-3 min on 2 CPU cores) or 'smoke' (2,000 images,
    100 steps; seconds). A damaged cache file raises IntegrityError naming the file to delete.
    """
    if not isinstance(dataset, str) or not dataset:
        raise ConfigError(f"parameter 'dataset': got {dataset!r}; allowed: a dataset name such as 'mnist'")
    check_choice("quality", quality, QUALITY_PRESETS)
    config = _train_config(dataset, quality, seed)
    path = domain_cache_path(dataset, quality, cache_dir=cache_dir, seed=seed)
    shipped = shipped_path(path.name)
    source = "shipped"
    if shipped is not None:
        path = shipped
    elif not path.is_file():
        with cache_lock(path):
            if not path.is_file():  # another process may have built it while we waited
                _train_and_cache(config, path, device=device, progress=progress)
        source = "trained here"
    else:
        source = "cache"
    blob = load_verified(path, what="domain extractor")
    meta = blob["meta"]
    model = DomainClassifier(int(meta["channels"]), int(meta["num_classes"]), tuple(blob["config"]["widths"]))
    model.load_state_dict(blob["state_dict"])
    sha = Path(str(path) + ".sha256").read_text().strip()
    return DomainExtractor(model, dataset=dataset, quality=quality, sha256=sha, test_accuracy=meta["test_accuracy"],
                           meta=dict(meta, config=blob["config"], source=source), path=path, batch_size=batch_size,
                           device=device)


SHIPPED_ENV = "PGAN_DOMAIN_SHIPPED"


def shipped_path(name: str) -> Path | None:
    """``references/domain/<name>`` if it is shipped (and ``$PGAN_DOMAIN_SHIPPED`` is not '0'), else None."""
    if os.environ.get(SHIPPED_ENV, "1") == "0":
        return None
    path = reference_root() / "domain" / name
    return path if path.is_file() else None


def ship(dataset: str, *, quality: str = "full", seed: int = 0, progress: bool = True) -> Path:
    """Copy the cached extractor of ``dataset`` (trained first if missing) into ``references/domain/``."""
    path = domain_cache_path(dataset, quality, seed=seed)
    if not path.is_file():
        load_domain_extractor(dataset, quality=quality, seed=seed, progress=progress)
    load_verified(path, what="domain extractor")                     # never ship a damaged file
    dest = reference_root() / "domain"
    dest.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".sha256"):
        shutil.copyfile(str(path) + suffix, str(dest / path.name) + suffix)
    info = json.loads(path.with_suffix(".json").read_text())
    info["shipped"] = {"commit": git_commit(), "device": device_info(),
                       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(dest / path.with_suffix(".json").name, info)
    return dest / path.name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Ship the domain extractors (copy them into references/domain/).")
    p.add_argument("--ship", nargs="+", required=True, metavar="DATASET")
    p.add_argument("--quality", default="full", choices=sorted(QUALITY_PRESETS),
                   help="the preset to ship (smoke: the smoke profile's, so CI and smoke reruns train none)")
    args = p.parse_args(argv)
    for dataset in args.ship:
        print(f"shipped {shown_path(ship(dataset, quality=args.quality))}", flush=True)
    return 0



def _train_and_cache(config: dict[str, Any], path: Path, *, device: str | torch.device, progress: bool) -> None:
    dataset = config["dataset"]
    kwargs: dict[str, Any] = {"seed": config["seed"]}
    if config["n_train"] is not None:
        kwargs["max_images"] = config["n_train"]
    train = _load_dataset(dataset, "train", **kwargs)
    images, labels = train.images, train.labels  # (N, C, 32, 32) uint8, (N,) int64
    if config["n_train"] is not None:
        images, labels = images[:config["n_train"]], labels[:config["n_train"]]
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ConfigError(f"dataset {dataset!r}: expected uint8 images (N, C, H, W), got {images.dtype} "
                          f"{tuple(images.shape)}")
    num_classes = int(train.num_classes)
    t0 = time.perf_counter()
    model = train_domain_classifier(images, labels.long(), num_classes, config, device=device, progress=progress)
    train_seconds = time.perf_counter() - t0
    test = _load_dataset(dataset, "test")
    acc = _accuracy(model, test.images, test.labels.long(), torch.device(device))
    model = model.to("cpu", memory_format=torch.contiguous_format)
    meta = {"channels": int(images.shape[1]), "num_classes": num_classes, "test_accuracy": float(acc),
            "n_test": int(len(test.images)), "train_seconds": round(train_seconds, 2), "n_train": int(len(images)),
            "torch": str(torch.__version__), "threads": torch.get_num_threads()}
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    digest = save_verified(path, {"state_dict": state, "config": config, "meta": meta})
    atomic_write_json(path.with_suffix(".json"), dict(meta, config=config, sha256=digest, file=path.name))


if __name__ == "__main__":
    raise SystemExit(main())
