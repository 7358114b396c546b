"""Tests of pgan_core.data: loaders on the real data (skipped where absent), integrity errors on
fabricated files, subsets, the uint8 <-> float conversion and stateless batch sampling."""
from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pgan_core import data as D
from pgan_core import io
from pgan_core.errors import ConfigError, DataError, IntegrityError


# ---------------------------------------------------------------- helpers

def _real_root(*rels: str) -> Path:
    """The shared data root if it holds ``rels``; skip the test otherwise."""
    try:
        root = io.data_root()
    except DataError:
        pytest.skip("no dataset root (PGAN_DATA unset and no ../shared/data)")
    missing = [r for r in rels if not (root / r).is_file()]
    if missing:
        pytest.skip(f"dataset files absent under {root}: {missing}")
    return root


def _idx_gz(path: Path, magic: int, shape: tuple[int, ...], payload: bytes | None = None) -> None:
    header = struct.pack(">" + "I" * (1 + len(shape)), magic, *shape)
    body = payload if payload is not None else bytes(int(np.prod(shape)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + body, compresslevel=1))


CIFAR_TRAIN_0 = "cifar10/train_0.npz"
CIFAR_TEST = "cifar10/test.npz"


# ---------------------------------------------------------------- real data

def test_mnist_train_real():
    root = _real_root("MNIST/raw/train-images-idx3-ubyte.gz", "MNIST/raw/train-labels-idx1-ubyte.gz")
    ds = D.load_dataset("mnist", "train", root=root)
    assert ds.images.shape == (60000, 1, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.images.is_contiguous() and ds.labels.dtype == torch.int64 and len(ds) == 60000
    assert torch.bincount(ds.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert ds.images[:, :, border].max() == 0                      # padded, not resized
    assert ds.images[:, :, 2:30, 2:30].max() == 255
    assert ds.files["MNIST/raw/train-images-idx3-ubyte.gz"] == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    # the caches never hand out their tensors
    ds.images.zero_()
    assert D.load_dataset("mnist", "train", root=root).images.max() == 255


def test_fashion_mnist_real():
    root = _real_root("FashionMNIST/raw/train-images-idx3-ubyte.gz", "FashionMNIST/raw/train-labels-idx1-ubyte.gz")
    ds = D.load_dataset("fashion-mnist", "train", root=root)
    assert ds.images.shape == (60000, 1, 32, 32) and ds.channels == 1
    assert ds.labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert torch.bincount(ds.labels).tolist() == [6000] * 10


def test_cifar_max_images_reads_one_pack(monkeypatch):
    root = _real_root(CIFAR_TRAIN_0)
    if (root / "cifar-10-batches-py/data_batch_1").is_file():
        pytest.skip("torchvision pickles present: the pack reader is not used")
    D._cifar_file.cache_clear()
    calls: list[str] = []
    real = D._pack_reader

    def counting(path, rel, *args, **kwargs):
        calls.append(rel)
        return real(path, rel, *args, **kwargs)

    monkeypatch.setattr(D, "_pack_reader", counting)
    ds = D.load_dataset("cifar10", "train", root=root, max_images=1000, seed=0)
    assert calls == [CIFAR_TRAIN_0]
    assert set(ds.files) == {f"{CIFAR_TRAIN_0}:images", f"{CIFAR_TRAIN_0}:labels"}
    assert ds.files[f"{CIFAR_TRAIN_0}:labels"].startswith("sha256:")
    assert ds.images.shape == (1000, 3, 32, 32) and ds.images.is_contiguous()
    # class-balanced: each class within 1 image of its share of data_batch_1 (meta.json counts)
    batch1 = np.array([1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981])
    counts = torch.bincount(ds.labels, minlength=10).numpy()
    assert counts.sum() == 1000 and np.all(np.abs(counts - batch1 / 10) < 1)
    again = D.load_dataset("cifar10", "train", root=root, max_images=1000, seed=0)
    assert calls == [CIFAR_TRAIN_0] and torch.equal(again.images, ds.images)   # cached, identical


def test_cifar_test_real():
    root = _real_root(CIFAR_TEST)
    ds = D.load_dataset("cifar10", "test", root=root)
    assert ds.images.shape == (10000, 3, 32, 32) and ds.images.is_contiguous() and ds.channels == 3
    assert ds.labels[0].item() == 3                                 # cat
    assert ds.images[0, 0, 0, :3].tolist() == [158, 159, 165]       # red channel, first row
    assert torch.bincount(ds.labels).tolist() == [1000] * 10


def test_cifar_fraction_tenth_real():
    root = _real_root(*(f"cifar10/train_{k}.npz" for k in range(5)))
    ds = D.load_dataset("cifar10", "train", root=root, fraction=0.1, seed=3)
    assert len(ds) == 5000 and torch.bincount(ds.labels).tolist() == [500] * 10
    info = D.describe(ds)
    assert info["n"] == 5000 and info["fraction"] == 0.1 and info["seed"] == 3 and len(info["files"]) == 10
    same = D.load_dataset("cifar10", "train", root=root, fraction=0.1, seed=3)     # cached: instant
    other = D.load_dataset("cifar10", "train", root=root, fraction=0.1, seed=4)
    assert torch.equal(same.images, ds.images) and not torch.equal(other.images, ds.images)
    capped = D.load_dataset("cifar10", "train", root=root, fraction=0.2, max_images=300, seed=3)
    assert torch.bincount(capped.labels).tolist() == [30] * 10


def test_cifar_torchvision_pickles(tmp_path):
    root = _real_root(CIFAR_TEST)
    ref = D.load_dataset("cifar10", "test", root=root)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    entry = {"batch_label": "testing batch 1 of 1", "labels": ref.labels.tolist(),
             "data": ref.images.reshape(10000, 3072).numpy(), "filenames": ["x.png"] * 10000}
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(entry, f, protocol=2)
    ds = D.load_dataset("cifar10", "test", root=tmp_path, verify=False)
    assert torch.equal(ds.images, ref.images) and torch.equal(ds.labels, ref.labels)
    with pytest.raises(IntegrityError, match="md5"):            # not torchvision's original pickle
        D.load_dataset("cifar10", "test", root=tmp_path, verify=True)


# ---------------------------------------------------------------- damaged and missing files

def test_corrupt_label_archive(tmp_path):
    src = _real_root("MNIST/raw/t10k-labels-idx1-ubyte.gz", "MNIST/raw/t10k-images-idx3-ubyte.gz") / "MNIST/raw"
    raw = tmp_path / "MNIST/raw"
    raw.mkdir(parents=True)
    (raw / "t10k-images-idx3-ubyte.gz").symlink_to(src / "t10k-images-idx3-ubyte.gz")
    blob = bytearray((src / "t10k-labels-idx1-ubyte.gz").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match=r"t10k-labels-idx1-ubyte\.gz.*md5"):
        D.load_dataset("mnist", "test", root=tmp_path)
    with pytest.raises(IntegrityError, match=r"t10k-labels-idx1-ubyte\.gz"):   # CRC / deflate error
        D.load_dataset("mnist", "test", root=tmp_path, verify=False)


def test_fabricated_idx_files(tmp_path):
    raw = tmp_path / "MNIST/raw"
    labels = (np.arange(10000) % 10).astype(np.uint8).tobytes()
    _idx_gz(raw / "t10k-labels-idx1-ubyte.gz", 2049, (10000,), labels)
    _idx_gz(raw / "t10k-images-idx3-ubyte.gz", 2051, (10000, 28, 28))
    ds = D.load_dataset("mnist", "test", root=tmp_path, verify=False)
    assert ds.images.shape == (10000, 1, 32, 32) and ds.files["MNIST/raw/t10k-labels-idx1-ubyte.gz"] == "unverified"
    with pytest.raises(IntegrityError, match="md5"):
        D.load_dataset("mnist", "test", root=tmp_path, verify=True)
    _idx_gz(raw / "t10k-images-idx3-ubyte.gz", 2049, (10000, 28, 28))          # wrong magic
    with pytest.raises(IntegrityError, match="expected magic 2051"):
        D.load_dataset("mnist", "test", root=tmp_path, verify=False)
    _idx_gz(raw / "t10k-images-idx3-ubyte.gz", 2051, (9999, 28, 28))           # wrong count
    with pytest.raises(IntegrityError, match=r"\(10000, 28, 28\)"):
        D.load_dataset("mnist", "test", root=tmp_path, verify=False)
    full = gzip.compress(struct.pack(">IIII", 2051, 10000, 28, 28) + bytes(10000 * 784))
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(full[: len(full) // 2])  # truncated
    with pytest.raises(IntegrityError, match="t10k-images-idx3-ubyte.gz"):
        D.load_dataset("mnist", "test", root=tmp_path, verify=False)


def test_missing_files(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="PGAN_DATA") as e:
        D.load_dataset("mnist", "train", root=tmp_path / "nowhere")
    assert "MNIST/raw/train-images-idx3-ubyte.gz" in str(e.value) and str(tmp_path / "nowhere") in str(e.value)
    with pytest.raises(DataError, match="FashionMNIST/raw/t10k-labels-idx1-ubyte.gz"):
        D.load_dataset("fashion-mnist", "test", root=tmp_path)
    with pytest.raises(DataError, match="PGAN_DATA") as e:
        D.load_dataset("cifar10", "train", root=tmp_path)
    assert "cifar10/train_4.npz" in str(e.value) and "cifar-10-batches-py/data_batch_1" in str(e.value)
    with pytest.raises(DataError, match="cifar10/train_0.npz") as e:
        D.load_dataset("cifar10", "train", root=tmp_path, max_images=10)
    assert "train_1.npz" not in str(e.value)                         # only the needed pack is expected
    monkeypatch.setenv("PGAN_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="PGAN_DATA"):
        D.load_dataset("mnist")
    assert len(D.load_dataset("synthetic")) == 512                   # needs no root at all


def test_bad_parameters():
    with pytest.raises(ConfigError, match="'mnist'.*'fashion-mnist'.*'cifar10'.*'synthetic'"):
        D.load_dataset("svhn")
    with pytest.raises(ConfigError, match="split"):
        D.load_dataset("synthetic", "val")
    for bad in (0, 0.0, -0.1, 1.5, float("nan"), "0.1"):
        with pytest.raises(ConfigError, match="fraction"):
            D.load_dataset("synthetic", fraction=bad)
    for bad in (0, -3, 2.5):
        with pytest.raises(ConfigError, match="max_images"):
            D.load_dataset("synthetic", max_images=bad)
    with pytest.raises(ConfigError, match="seed"):
        D.load_dataset("synthetic", seed=-1)
    with pytest.raises(ConfigError, match="fraction"):
        D.load_dataset("synthetic", fraction=1e-4)                   # leaves no image at all


# ---------------------------------------------------------------- synthetic, subsets

def test_synthetic_deterministic():
    a_img, a_lab = D._synthetic_images("train")
    b_img, b_lab = D._synthetic_images("train")
    assert torch.equal(a_img, b_img) and torch.equal(a_lab, b_lab)
    ds = D.load_dataset("synthetic", "train")
    assert ds.images.shape == (512, 3, 32, 32) and ds.images.is_contiguous() and torch.equal(ds.images, a_img)
    assert torch.bincount(ds.labels).tolist() == [52, 52] + [51] * 8 and ds.files == {}
    test = D.load_dataset("synthetic", "test")
    assert test.images.shape == (256, 3, 32, 32) and not torch.equal(test.images[:8], ds.images[:8])
    means = torch.stack([ds.images[ds.labels == c].float().mean(0) for c in range(10)])  # (10, 3, 32, 32)
    assert torch.cdist(means.flatten(1), means.flatten(1)).fill_diagonal_(1e9).min() > 100  # classes differ
    sub = D.load_dataset("synthetic", "train", max_images=100, seed=1)
    assert len(sub) == 100 and torch.bincount(sub.labels).tolist() == [10] * 10


def test_class_balanced_indices():
    labels = torch.arange(1000) % 10                                  # 100 per class
    idx = D.class_balanced_indices(labels, 0.25, seed=7)
    assert idx.dtype == torch.int64 and torch.equal(idx, idx.sort().values)
    assert torch.bincount(labels[idx]).tolist() == [25] * 10      # round(0.25 * 100)
    assert torch.equal(idx, D.class_balanced_indices(labels.numpy(), 0.25, seed=7))
    assert not torch.equal(idx, D.class_balanced_indices(labels, 0.25, seed=8))
    small = D.class_balanced_indices(labels, 0.1, seed=7)
    assert set(small.tolist()) <= set(idx.tolist())               # nested: more images = superset
    skew = torch.tensor([0] * 7 + [1] * 3 + [2] * 90)
    exact = D._exact_balanced_indices(skew.numpy(), 11, seed=0)
    assert exact.numel() == 11 and torch.bincount(skew[exact], minlength=3).tolist() == [1, 0, 10]
    with pytest.raises(ConfigError, match="fraction"):
        D.class_balanced_indices(labels, 0.0, seed=0)


# ---------------------------------------------------------------- conversions

def test_uint8_float_round_trip():
    k = torch.arange(256, dtype=torch.int64).to(torch.uint8)
    f = D.to_float(k)
    assert f.dtype == torch.float32 and f[0] == -1 and f[255] == 1
    assert torch.equal(D.to_uint8(f), k)
    assert torch.equal(D.to_uint8(f.half()), k) and torch.equal(D.to_uint8(f.double()), k)
    assert D.to_uint8(torch.tensor([-5.0, -1.0001, 1.0001, 7.0])).tolist() == [0, 0, 255, 255]
    with pytest.raises(ConfigError):
        D.to_float(f)
    with pytest.raises(ConfigError):
        D.to_uint8(k)


# ---------------------------------------------------------------- stateless batches

def test_batch_at_deterministic_and_exhaustive():
    ds = D.load_dataset("synthetic", "train")                         # N = 512
    forward = [D.batch_at(ds, s, 64, seed=5) for s in range(16)]      # two epochs
    backward = [D.batch_at(ds, s, 64, seed=5) for s in reversed(range(16))][::-1]
    for (xa, ya), (xb, yb) in zip(forward, backward):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    x, y = forward[0]
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.shape == (64,)
    assert x.min() >= -1 and x.max() <= 1
    # each epoch (8 steps of 64) holds every image exactly once: identify images by their bytes
    key = {img.numpy().tobytes(): i for i, img in enumerate(ds.images)}
    assert len(key) == 512
    for epoch in range(2):
        seen = [key[D.to_uint8(img).numpy().tobytes()] for s in range(8 * epoch, 8 * epoch + 8)
                for img in forward[s][0]]
        assert sorted(seen) == list(range(512))
    assert not torch.equal(forward[0][0], forward[8][0])             # epochs are shuffled differently
    assert not torch.equal(D.batch_at(ds, 0, 64, seed=6)[0], x)
    # a batch spanning two epochs is the tail of one permutation and the head of the next
    xs, _ = D.batch_at(ds, 5, 100, seed=5)                            # images 500..599 of the stream
    assert torch.equal(xs[:12], D.to_float(ds.images[D._epoch_perm(512, 5, 0)[500:]]))
    assert torch.equal(xs[12:], D.to_float(ds.images[D._epoch_perm(512, 5, 1)[:88]]))


def test_batch_at_errors():
    ds = D.load_dataset("synthetic", "test", max_images=40)
    with pytest.raises(ConfigError, match="batch_size.*fraction"):
        D.batch_at(ds, 0, 64, seed=0)
    for step in (-1, 1.5):
        with pytest.raises(ConfigError, match="step"):
            D.batch_at(ds, step, 8, seed=0)
    with pytest.raises(ConfigError, match="batch_size"):
        D.batch_at(ds, 0, 0, seed=0)


def test_describe_synthetic():
    ds = D.load_dataset("synthetic", "test", fraction=0.5, seed=2)
    info = D.describe(ds)
    assert info["name"] == "synthetic" and info["split"] == "test" and info["n"] == len(ds)
    assert sum(info["class_counts"]) == len(ds) and info["files"] == {} and info["seed"] == 2
