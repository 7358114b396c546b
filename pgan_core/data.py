"""Datasets, class-balanced subsets, stateless batch sampling and the uint8 <-> [-1, 1] conversion.

Everything here reads local files only (nothing is downloaded) and never writes next to them, so
the dataset root may be read-only. The root is the ``root`` argument, else ``$PGAN_DATA``, else
``../shared/data`` beside the repository (:func:`pgan_core.io.data_root`).

Datasets (all returned as uint8 ``(N, C, 32, 32)`` plus int64 labels, 10 classes each):

* ``mnist``: handwritten digits. Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-based
  learning applied to document recognition", Proc. IEEE 86(11), 1998. Layout
  ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (torchvision's raw layout).
* ``fashion-mnist``: H. Xiao, K. Rasul and R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
  Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017. Layout
  ``<root>/FashionMNIST/raw/...`` with the same file names.
* ``cifar10``: A. Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", tech. report,
  University of Toronto, 2009. Either torchvision's pickles ``<root>/cifar-10-batches-py/
  {data_batch_1..5,test_batch}`` (preferred when present: they decode fast) or this project's numpy
  packs ``<root>/cifar10/{train_0..4,test}.npz`` (uint8 ``(10000, 32, 32, 3)`` HWC ``images`` and
  int64 ``labels``, LZMA-compressed members, about 2 s each to decode). Pack ``train_k`` is
  ``data_batch_{k+1}``, so both layouts give the same images in the same order.
* ``synthetic``: 512 train / 256 test images of 10 classes of coloured shapes drawn with torch ops
  from a fixed seed. No files; only for smoke tests on machines with no data at all.

MNIST and Fashion-MNIST are 28 px; they are *padded* by 2 px of 0 on each side to 32 px, not
resized. Padding keeps the strokes' pixel statistics (no interpolation blur or new grey levels);
the border is background (0), which :func:`to_float` maps to -1 like the rest of the background.

Verification (``verify=True``, the default): the IDX archives' md5 against torchvision's known
values; the CIFAR pickles' md5 against torchvision's values; the CIFAR packs' decoded arrays
against the sha256 of their raw bytes recorded in ``cifar10/meta.json`` (a recompressed copy
still passes). Structure (IDX magic numbers, shapes, dtypes, label range) is always checked.

Decoded splits are kept in module-level LRU caches (per IDX split, per CIFAR file), so repeated
loads in one process are instant; every :class:`ImageSet` owns its tensors (never the cache's).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import lzma
import math
import os
import pickle
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import io
from .errors import ConfigError, DataError, IntegrityError, bad_param, check_choice, check_positive, check_range

# ---------------------------------------------------------------- constants

DATASETS = ("mnist", "fashion-mnist", "cifar10", "synthetic")
SPLITS = ("train", "test")
CHANNELS = {"mnist": 1, "fashion-mnist": 1, "cifar10": 3, "synthetic": 3}
NUM_CLASSES = {"mnist": 10, "fashion-mnist": 10, "cifar10": 10, "synthetic": 10}
IMG_RES = 32  # every dataset is served at 32 x 32 px

# torchvision's MNIST.resources / FashionMNIST.resources (md5 of the .gz archives)
_IDX_FOLDER = {"mnist": "MNIST/raw", "fashion-mnist": "FashionMNIST/raw"}
_IDX_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
_IDX_PREFIX = {"train": "train", "test": "t10k"}
_IDX_COUNT = {"train": 60000, "test": 10000}
_IDX_MAGIC_IMAGES, _IDX_MAGIC_LABELS = 2051, 2049  # ubyte, 3 dims / ubyte, 1 dim

# CIFAR-10: torchvision pickles (md5 = torchvision CIFAR10.train_list/test_list) ...
_CIFAR_PICKLE_FOLDER = "cifar-10-batches-py"
_CIFAR_PICKLES = {
    "train": [("data_batch_1", "c99cafc152244af753f735de768cd75f"),
              ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
              ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
              ("data_batch_4", "634d18415352ddfa80567beed471001a"),
              ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb")],
    "test": [("test_batch", "40351d587109b95175f43aff81a1287e")],
}
# ... and this project's numpy packs: (file, sha256 of raw image bytes, sha256 of int64 LE label bytes),
# copied from cifar10/meta.json (sha256_images_raw_bytes, sha256_labels_int64_le_bytes).
_CIFAR_PACK_FOLDER = "cifar10"
_CIFAR_PACKS = {
    "train": [
        ("train_0.npz", "fc115a3de050d667b88cbd5b0b9612ebf996c54230fe7758f3a14bb5af9a1c27",
         "66145c918fed3a0358c4001da734fbc15cb584ddf34c823fa524e6b9c81542b7"),
        ("train_1.npz", "89e609b642f687bc796fa3bfa4211005582a0e8131d463d996d11ddb297d312e",
         "1074c604720c88e1f4d8408e1995944e9bc65877af3e8c5503da69209d57286b"),
        ("train_2.npz", "93a365823e61729490a8801d80864ccd0ab1e8c98f19d71af65644d1c5f1486e",
         "fe1021a9820682f7eb5cc7f65ff3d015d8a33876df6dd7787404f0fa8cf5937f"),
        ("train_3.npz", "809eb95ecd057a36516318f5023ea619009dd70dd38193db9da43125a928e6fa",
         "1599745ad42ec41be72e2f3f716b65bac89321693690656a125b1ea3ca3feeea"),
        ("train_4.npz", "d05b7d66d216d6df882cc760cdc0ff2f1f0437abf699ed16005c021ef0add9cb",
         "a3a7f0cf6cafd5b2d4610fd467bd87987a0a9ff93958b860a567c925a00ad56d"),
    ],
    "test": [
        ("test.npz", "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
         "cbb7365de8ed11f05cc4c3a1e7f78144127c5e851efd83762fb18202461230bb"),
    ],
}
_CIFAR_ROWS = 10000  # rows per CIFAR batch / pack

_SYNTHETIC_COUNT = {"train": 512, "test": 256}
_SYNTHETIC_SEED = {"train": 20240601, "test": 20240602}  # content seeds; the `seed` argument only picks subsets

_ROOT_HELP = ("the dataset root is the `root` argument, else $PGAN_DATA, else ../shared/data beside the "
              "repository; put the files there or set PGAN_DATA to the folder holding them "
              "(dataset 'synthetic' needs no files)")


# ---------------------------------------------------------------- the dataset record

@dataclass
class ImageSet:
    """A loaded split: uint8 images ``(N, C, 32, 32)`` (contiguous) and int64 labels ``(N,)``."""

    images: torch.Tensor          # (N, C, 32, 32) uint8, contiguous
    labels: torch.Tensor          # (N,) int64, values in [0, num_classes)
    name: str                     # one of DATASETS
    split: str                    # 'train' | 'test'
    fraction: float               # class-balanced fraction of the split kept (1.0 = all)
    seed: int                     # seed of the subset choice (unused when fraction == 1 and no max_images)
    channels: int                 # C
    num_classes: int
    files: dict[str, str] = field(default_factory=dict)  # relative path -> 'md5:...'/'sha256:...' checked
    max_images: int | None = None  # cap applied after `fraction` (class-balanced), None = no cap

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1:] != (
                self.channels, IMG_RES, IMG_RES):
            raise IntegrityError(f"ImageSet {self.name}/{self.split}: images must be uint8 (N, {self.channels}, "
                                 f"{IMG_RES}, {IMG_RES}); got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise IntegrityError(f"ImageSet {self.name}/{self.split}: labels must be int64 ({self.images.shape[0]},); "
                                 f"got {self.labels.dtype} {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ---------------------------------------------------------------- conversions (the one quantisation path)

def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]``: ``x / 127.5 - 1`` (0 -> -1, 255 -> 1)."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        raise bad_param("x", getattr(x, "dtype", type(x).__name__), "a torch.uint8 tensor")
    return x.to(torch.float32) / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8: ``(x * 127.5 + 128).clamp(0, 255)`` truncated (NVlabs' rounding).

    ``to_uint8(to_float(k)) == k`` for every uint8 ``k`` (``k + 0.5`` truncates to ``k``); values
    outside ``[-1, 1]`` clamp to 0 / 255. Computed in float32 whatever the input precision.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise bad_param("x", getattr(x, "dtype", type(x).__name__), "a floating-point torch tensor")
    return (x.to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- class-balanced subsets

def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise bad_param("seed", seed, "an integer >= 0")
    return int(seed)


def _labels_numpy(labels: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise bad_param("labels", f"{arr.dtype} {arr.shape}", "a 1-D integer tensor")
    return arr.astype(np.int64, copy=False)


def _take_per_class(labels: np.ndarray, take: dict[int, int], seed: int) -> torch.Tensor:
    """Sorted indices holding ``take[c]`` images of each class ``c``.

    One ``default_rng(seed)`` permutation of all N indices; each class keeps its first ``take[c]``
    members in that order. So the choice is nested (more images = a superset) and identical in
    every process.
    """
    perm = np.random.default_rng(seed).permutation(labels.shape[0])   # (N,)
    permuted = labels[perm]                                           # (N,) labels in permuted order
    chosen = [perm[permuted == c][:k] for c, k in take.items() if k > 0]
    idx = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(idx.astype(np.int64))


def class_balanced_indices(labels: torch.Tensor | np.ndarray, fraction: float, seed: int) -> torch.Tensor:
    """Sorted LongTensor of indices keeping ``round(fraction * count_c)`` images of every class c.

    Rounding is to nearest, halves up. The images of each class are chosen by a
    ``numpy.random.default_rng(seed)`` permutation (see :func:`_take_per_class`), so the subset is
    deterministic and the same across processes and machines. This is the 10% / 20% limited-data
    setting (CIFAR-10 train, fraction 0.1: exactly 500 images per class).
    """
    fraction = check_range("fraction", fraction, 0.0, 1.0, lo_open=True)
    seed = _check_seed(seed)
    arr = _labels_numpy(labels)
    classes, counts = np.unique(arr, return_counts=True)
    take = {int(c): int(math.floor(fraction * int(n) + 0.5)) for c, n in zip(classes, counts)}
    return _take_per_class(arr, take, seed)


def _exact_balanced_indices(labels: np.ndarray, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of exactly ``n`` images, each class in proportion to its count.

    This is ``class_balanced_indices(labels, n / N, seed)`` with the rounding trimmed/padded to an
    exact total by the largest-remainder rule: every class gets ``floor(n * count_c / N)`` and the
    leftover images go, one each, to the classes with the largest remainders (ties: lower class).
    Integer arithmetic only, so it is exact.
    """
    total = labels.shape[0]
    classes, counts = np.unique(labels, return_counts=True)
    base = [(n * int(c)) // total for c in counts]
    rem = [(n * int(c)) % total for c in counts]
    left = n - sum(base)
    for i in sorted(range(len(classes)), key=lambda i: (-rem[i], i))[:left]:
        base[i] += 1
    return _take_per_class(labels, {int(c): k for c, k in zip(classes, base)}, seed)


# ---------------------------------------------------------------- file helpers

def _missing_error(name: str, split: str, root: Path, expected: list[str], missing: list[str],
                   alternatives: str = "") -> DataError:
    return DataError(f"dataset '{name}' split '{split}': missing {', '.join(missing)} under root {root} "
                     f"(PGAN_DATA={os.environ.get('PGAN_DATA', '<unset>')}); expected files (relative to the root): "
                     f"{', '.join(expected)}{alternatives}; {_ROOT_HELP}")


def _stat_key(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): part of every cache key, so a file replaced on disk is read again."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _check_md5(path: Path, rel: str, expected: str, verify: bool) -> str:
    if not verify:
        return "unverified"
    actual = io.md5_file(path)
    if actual != expected:
        raise IntegrityError(f"{rel} ({path}): md5 {actual} != expected {expected} (torchvision's known value); "
                             "the file is damaged, truncated or a different version: replace it")
    return f"md5:{actual}"


# ---------------------------------------------------------------- MNIST / Fashion-MNIST (IDX)

def _read_idx(path: Path, rel: str, magic: int, count: int) -> np.ndarray:
    """Decompress an IDX ``.gz`` and check magic number and shape: (count,) or (count, 28, 28) uint8."""
    try:
        with open(path, "rb") as f:
            raw = gzip.decompress(f.read())
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; truncation is EOFError
        raise IntegrityError(f"{rel} ({path}): not a readable gzip file ({type(e).__name__}: {e}); "
                             "expected a complete IDX .gz archive: replace it") from e
    header = 16 if magic == _IDX_MAGIC_IMAGES else 8
    if len(raw) < header:
        raise IntegrityError(f"{rel} ({path}): {len(raw)} bytes decompressed, shorter than the IDX header")
    dims = np.frombuffer(raw, dtype=">u4", count=header // 4)  # big-endian: magic, n[, rows, cols]
    shape = (count, 28, 28) if magic == _IDX_MAGIC_IMAGES else (count,)
    if int(dims[0]) != magic or tuple(int(d) for d in dims[1:]) != shape:
        raise IntegrityError(f"{rel} ({path}): IDX header magic {int(dims[0])} shape {tuple(int(d) for d in dims[1:])}; "
                             f"expected magic {magic} shape {shape}")
    if len(raw) != header + math.prod(shape):
        raise IntegrityError(f"{rel} ({path}): {len(raw)} bytes decompressed; expected {header + math.prod(shape)} "
                             f"for shape {shape}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@functools.lru_cache(maxsize=4)
def _idx_split(name: str, split: str, root: str, verify: bool,
               stamp: tuple) -> tuple[torch.Tensor, torch.Tensor, tuple[tuple[str, str], ...]]:
    """Decoded IDX split: images (N, 1, 32, 32) uint8 (28 px padded by 2), labels (N,) int64, files."""
    del stamp  # only part of the cache key
    folder, n = _IDX_FOLDER[name], _IDX_COUNT[split]
    files: list[tuple[str, str]] = []
    arrays = {}
    for kind, magic in (("labels-idx1", _IDX_MAGIC_LABELS), ("images-idx3", _IDX_MAGIC_IMAGES)):
        fname = f"{_IDX_PREFIX[split]}-{kind}-ubyte.gz"
        rel, path = f"{folder}/{fname}", Path(root) / folder / fname
        files.append((rel, _check_md5(path, rel, _IDX_MD5[name][fname], verify)))
        arrays[kind] = _read_idx(path, rel, magic, n)
    labels = arrays["labels-idx1"]
    if labels.max() >= NUM_CLASSES[name]:
        raise IntegrityError(f"{folder}/{_IDX_PREFIX[split]}-labels-idx1-ubyte.gz: label {int(labels.max())}; "
                             f"expected values 0..{NUM_CLASSES[name] - 1}")
    images = torch.zeros(n, 1, IMG_RES, IMG_RES, dtype=torch.uint8)       # (N, 1, 32, 32), border = 0
    images[:, 0, 2:30, 2:30] = torch.from_numpy(arrays["images-idx3"].copy())  # (N, 28, 28) in the centre
    return images, torch.from_numpy(labels.astype(np.int64)), tuple(files)


def _load_idx(name: str, split: str, root: Path, verify: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, str]]:
    folder = _IDX_FOLDER[name]
    expected = [f"{folder}/{_IDX_PREFIX[split]}-{k}-ubyte.gz" for k in ("images-idx3", "labels-idx1")]
    missing = [rel for rel in expected if not (root / rel).is_file()]
    if missing:
        raise _missing_error(name, split, root, expected, missing)
    stamp = tuple(_stat_key(root / rel) for rel in expected)
    images, labels, files = _idx_split(name, split, str(root), verify, stamp)
    return images, labels, dict(files)


# ---------------------------------------------------------------- CIFAR-10

def _pack_reader(path: Path, rel: str, sha_images: str, sha_labels: str,
                 verify: bool) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Decode one numpy pack: images (10000, 32, 32, 3) uint8 HWC, labels (10000,) int64 (~2 s, LZMA)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, lzma.LZMAError, zlib.error) as e:
        raise IntegrityError(f"{rel} ({path}): cannot be read as a CIFAR-10 pack ({type(e).__name__}: {e}); "
                             "expected an .npz with members 'images' and 'labels': replace it") from e
    if images.dtype != np.uint8 or images.shape != (_CIFAR_ROWS, 32, 32, 3):
        raise IntegrityError(f"{rel} ({path}): 'images' is {images.dtype} {images.shape}; "
                             f"expected uint8 ({_CIFAR_ROWS}, 32, 32, 3)")
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (_CIFAR_ROWS,):
        raise IntegrityError(f"{rel} ({path}): 'labels' is {labels.dtype} {labels.shape}; expected int64 ({_CIFAR_ROWS},)")
    labels = labels.astype("<i8", copy=False)
    files = {f"{rel}:images": "unverified", f"{rel}:labels": "unverified"}
    if verify:
        for member, arr, expected in (("images", images, sha_images), ("labels", labels, sha_labels)):
            actual = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
            if actual != expected:
                raise IntegrityError(f"{rel} ({path}): sha256 of the decoded '{member}' bytes is {actual}; expected "
                                     f"{expected} (cifar10/meta.json): the pack is damaged or different: replace it")
            files[f"{rel}:{member}"] = f"sha256:{actual}"
    return images, labels, files


def _pickle_reader(path: Path, rel: str, md5: str, verify: bool) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """Decode one torchvision pickle: images (10000, 32, 32, 3) uint8 HWC, labels (10000,) int64.

    The md5 is checked *before* unpickling when ``verify`` is true.
    """
    checked = _check_md5(path, rel, md5, verify)
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry["labels"] if "labels" in entry else entry["fine_labels"], dtype=np.int64)
    except Exception as e:  # any unpickling failure means the file is not a CIFAR batch
        raise IntegrityError(f"{rel} ({path}): cannot be read as a CIFAR-10 python batch ({type(e).__name__}: {e}); "
                             "replace it") from e
    if data.shape != (_CIFAR_ROWS, 3 * 32 * 32) or labels.shape != (_CIFAR_ROWS,):
        raise IntegrityError(f"{rel} ({path}): data {data.shape}, labels {labels.shape}; "
                             f"expected ({_CIFAR_ROWS}, 3072) and ({_CIFAR_ROWS},)")
    images = data.reshape(_CIFAR_ROWS, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 32, 32, 3) HWC like the packs
    return images, labels, {rel: checked}


@functools.lru_cache(maxsize=6)
def _cifar_file(kind: str, path: str, rel: str, digests: tuple[str, ...], verify: bool,
                stamp: tuple) -> tuple[torch.Tensor, torch.Tensor, tuple[tuple[str, str], ...]]:
    """One decoded CIFAR file (cached): images (10000, 3, 32, 32) uint8 CHW, labels (10000,) int64."""
    del stamp  # only part of the cache key
    if kind == "pack":
        images, labels, files = _pack_reader(Path(path), rel, digests[0], digests[1], verify)
    else:
        images, labels, files = _pickle_reader(Path(path), rel, digests[0], verify)
    if labels.min() < 0 or labels.max() >= NUM_CLASSES["cifar10"]:
        raise IntegrityError(f"{rel} ({path}): labels outside 0..9")
    chw = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()  # (N, 3, 32, 32)
    return chw, torch.from_numpy(np.array(labels, dtype=np.int64)), tuple(files.items())


def _load_cifar(split: str, root: Path, n_files: int | None,
                verify: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, str]]:
    """Read the first ``n_files`` batches of a CIFAR split (None = all) from either layout."""
    pickles = _CIFAR_PICKLES[split][:n_files]
    packs = _CIFAR_PACKS[split][:n_files]
    pickle_rels = [f"{_CIFAR_PICKLE_FOLDER}/{f}" for f, _ in pickles]
    pack_rels = [f"{_CIFAR_PACK_FOLDER}/{f}" for f, _, _ in packs]
    if all((root / rel).is_file() for rel in pickle_rels):
        jobs = [("pickle", rel, (md5,)) for rel, (_, md5) in zip(pickle_rels, pickles)]
    elif all((root / rel).is_file() for rel in pack_rels):
        jobs = [("pack", rel, (si, sl)) for rel, (_, si, sl) in zip(pack_rels, packs)]
    else:
        missing = [rel for rel in pack_rels if not (root / rel).is_file()]
        raise _missing_error("cifar10", split, root, pack_rels, missing,
                             alternatives=f" (or torchvision's layout: {', '.join(pickle_rels)})")
    images, labels, files = [], [], {}
    for kind, rel, digests in jobs:
        path = root / rel
        x, y, f = _cifar_file(kind, str(path), rel, digests, verify, _stat_key(path))
        images.append(x)
        labels.append(y)
        files.update(f)
    return torch.cat(images), torch.cat(labels), files  # (n_files * 10000, 3, 32, 32), (n_files * 10000,)


# ---------------------------------------------------------------- synthetic

def _synthetic_images(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic coloured shapes: images (N, 3, 32, 32) uint8, labels (N,) int64 (~N/10 per class).

    Class c = shape ``c % 5`` (disk, square, diamond, ring, cross) in colour ``c``, at a random
    position and size, over a dim random linear gradient. Only +, *, abs, min/max and comparisons
    are used, so the bytes are the same on every CPU.
    """
    n = _SYNTHETIC_COUNT[split]
    g = torch.Generator().manual_seed(_SYNTHETIC_SEED[split])
    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]            # (N,)
    palette = torch.tensor([[0.95, 0.25, 0.20], [0.20, 0.75, 0.30], [0.25, 0.40, 0.95], [0.95, 0.85, 0.20],
                            [0.85, 0.30, 0.85], [0.20, 0.85, 0.85], [0.98, 0.60, 0.15], [0.60, 0.95, 0.45],
                            [0.55, 0.35, 0.95], [0.95, 0.95, 0.95]])          # (10, 3) RGB in [0, 1]
    coords = (torch.arange(IMG_RES, dtype=torch.float32) + 0.5) / IMG_RES * 2 - 1  # (32,) pixel centres in [-1, 1]
    yy, xx = coords.view(1, -1, 1), coords.view(1, 1, -1)                      # (1, 32, 1), (1, 1, 32)
    cx, cy = [(torch.rand(n, generator=g) * 0.8 - 0.4).view(-1, 1, 1) for _ in range(2)]  # (N, 1, 1)
    r = (torch.rand(n, generator=g) * 0.3 + 0.35).view(-1, 1, 1)               # (N, 1, 1) size
    dx, dy = (xx - cx).abs(), (yy - cy).abs()                                  # (N, 32, 32)
    d2 = dx * dx + dy * dy
    shapes = torch.stack([
        d2 < r * r,                                                            # disk
        torch.maximum(dx, dy) < r * 0.85,                                      # square
        dx + dy < r * 1.2,                                                     # diamond
        (d2 < r * r) & (d2 > (r * 0.6) ** 2),                                  # ring
        (torch.minimum(dx, dy) < r * 0.3) & (torch.maximum(dx, dy) < r),       # cross
    ])                                                                         # (5, N, 32, 32)
    mask = shapes[labels % 5, torch.arange(n)].unsqueeze(1).float()           # (N, 1, 32, 32)
    fg = (palette[labels] + (torch.rand(n, 3, generator=g) - 0.5) * 0.2).clamp(0, 1).view(n, 3, 1, 1)
    gx, gy = [(torch.rand(n, generator=g) - 0.5).view(-1, 1, 1, 1) for _ in range(2)]
    bg_colour = (torch.rand(n, 3, generator=g) * 0.25).view(n, 3, 1, 1)
    bg = (bg_colour + 0.15 * (gx * xx.unsqueeze(0) + gy * yy.unsqueeze(0))).clamp(0, 1)  # (N, 3, 32, 32)
    img = bg * (1 - mask) + fg * mask                                          # (N, 3, 32, 32) in [0, 1]
    return (img * 255 + 0.5).clamp(0, 255).to(torch.uint8).contiguous(), labels.to(torch.int64)


@functools.lru_cache(maxsize=2)
def _synthetic_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    return _synthetic_images(split)


# ---------------------------------------------------------------- loading

def load_dataset(name: str, split: str = "train", *, root: str | os.PathLike | None = None, fraction: float = 1.0,
                 seed: int = 0, max_images: int | None = None, verify: bool = True) -> ImageSet:
    """Load a split as uint8 ``(N, C, 32, 32)``, optionally a class-balanced subset of it.

    ``fraction < 1`` keeps :func:`class_balanced_indices` of the full split (the limited-data
    settings). ``max_images`` then caps the result at exactly that many images, still class-balanced
    (largest-remainder rounding of ``max_images / N`` per class, same seed), keeping the original
    order. With ``fraction == 1`` and ``max_images`` set, CIFAR-10 reads only the first
    ``ceil(max_images / 10000)`` batches and draws the subset from them (smoke runs decode one
    pack); MNIST-type archives are single files and are read whole. ``root`` defaults to
    :func:`pgan_core.io.data_root`; ``synthetic`` never touches it.
    """
    check_choice("name", name, DATASETS)
    check_choice("split", split, SPLITS)
    fraction = check_range("fraction", fraction, 0.0, 1.0, lo_open=True)
    seed = _check_seed(seed)
    if max_images is not None:
        max_images = int(check_positive("max_images", max_images, integer=True))
    if not isinstance(verify, bool):
        raise bad_param("verify", verify, "True or False")

    if name == "synthetic":
        images, labels = _synthetic_split(split)
        files: dict[str, str] = {}
    else:
        root_path = Path(root).expanduser() if root is not None else io.data_root()
        root_path = Path(os.path.abspath(root_path))
        if name == "cifar10":
            n_files = None
            if max_images is not None and fraction == 1.0:
                n_files = min(math.ceil(max_images / _CIFAR_ROWS), len(_CIFAR_PACKS[split]))
            images, labels, files = _load_cifar(split, root_path, n_files, verify)
        else:
            images, labels, files = _load_idx(name, split, root_path, verify)

    idx: torch.Tensor | None = None
    if fraction < 1.0:
        idx = class_balanced_indices(labels, fraction, seed)
        if idx.numel() == 0:
            raise bad_param("fraction", fraction, f"a fraction leaving at least one image of the {len(labels)} "
                                                  f"in {name}/{split}")
    if max_images is not None:
        n_now = labels.shape[0] if idx is None else idx.numel()
        if max_images < n_now:
            sub_labels = (labels if idx is None else labels[idx]).numpy()
            sub = _exact_balanced_indices(sub_labels, max_images, seed)
            idx = sub if idx is None else idx[sub]
    if idx is None:  # own copy: the caches' tensors are never handed out
        images, labels = images.clone(), labels.clone()
    else:
        images, labels = images[idx].contiguous(), labels[idx]
    return ImageSet(images=images, labels=labels, name=name, split=split, fraction=fraction, seed=seed,
                    channels=CHANNELS[name], num_classes=NUM_CLASSES[name], files=files, max_images=max_images)


def clear_cache() -> None:
    """Drop every decoded split from the in-memory caches (frees memory; the next load re-reads)."""
    _idx_split.cache_clear()
    _cifar_file.cache_clear()
    _synthetic_split.cache_clear()


# ---------------------------------------------------------------- stateless batch sampling

@functools.lru_cache(maxsize=4)
def _epoch_perm(n: int, seed: int, epoch: int) -> torch.Tensor:
    """Permutation of epoch ``epoch``: randperm(n) from a generator seeded with seed * 1_000_003 + epoch."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (1 << 63))
    return torch.randperm(n, generator=g)


@functools.lru_cache(maxsize=4)
def _epoch_perm_on(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """:func:`_epoch_perm` on ``device``: copied once per epoch, so a GPU step indexes without a host copy."""
    perm = _epoch_perm(n, seed, epoch)
    return perm if device.type == "cpu" else perm.to(device)


def batch_at(dataset: ImageSet, step: int, batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch number ``step``: images float32 ``(B, C, 32, 32)`` in [-1, 1] and labels ``(B,)``.

    Stateless, so a resumed run sees exactly the batches an uninterrupted one would: the stream is
    the concatenation of per-epoch permutations (epoch e from ``seed * 1_000_003 + e``), and the
    batch is its slice ``[step * B, (step + 1) * B)``, which may span two epochs. Every image
    appears exactly once per epoch.
    """
    n = len(dataset)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise bad_param("step", step, "an integer >= 0")
    batch_size = int(check_positive("batch_size", batch_size, integer=True))
    seed = _check_seed(seed)
    if batch_size > n:
        raise ConfigError(f"parameter 'batch_size': got {batch_size}, but {dataset.name}/{dataset.split} with "
                          f"fraction={dataset.fraction} and max_images={dataset.max_images} holds only {n} images; "
                          "a data fraction that leaves fewer images than one batch: raise fraction or lower batch_size")
    start = int(step) * batch_size
    first, last = start // n, (start + batch_size - 1) // n                   # last <= first + 1 as B <= N
    dev = dataset.images.device                                               # a dataset on the GPU indexes there
    stream = torch.cat([_epoch_perm_on(n, seed, e, dev) for e in range(first, last + 1)])  # (n or 2n,)
    idx = stream[start - first * n: start - first * n + batch_size]            # (B,)
    return to_float(dataset.images[idx]), dataset.labels[idx]


# ---------------------------------------------------------------- provenance

def describe(dataset: ImageSet) -> dict[str, Any]:
    """JSON-ready provenance of a loaded set: what it is, how it was subset, which files were checked."""
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes).tolist()
    return {
        "name": dataset.name,
        "split": dataset.split,
        "n": len(dataset),
        "fraction": dataset.fraction,
        "max_images": dataset.max_images,
        "seed": dataset.seed,
        "channels": dataset.channels,
        "num_classes": dataset.num_classes,
        "class_counts": counts,
        "files": dict(dataset.files),
    }


def dataset_channels(name: str) -> int:
    """Image channels of dataset ``name`` (1 for MNIST/Fashion-MNIST, 3 for CIFAR-10/synthetic)."""
    return CHANNELS[check_choice("dataset", name, DATASETS)]
