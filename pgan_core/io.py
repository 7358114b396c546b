"""Atomic file writing, hashing and the project's configurable locations.

Every file pgan_core writes goes through :func:`atomic_write`: the bytes land in a temporary
file in the same folder, are flushed and fsync'ed, and then ``os.replace`` swaps them in. A crash
at any moment leaves either the previous version or the new one, never a half-written file.

Locations (environment variables; nothing is ever downloaded):

* ``PGAN_DATA``  dataset root holding ``MNIST/raw``, ``FashionMNIST/raw``, ``cifar10/``
  (default: ``../shared/data`` beside the repository, if it exists).
* ``PGAN_CACHE`` cache for domain extractors and reference statistics (default ``<repo>/.cache``).
* ``PGAN_RUNS``  training run folders, checkpoints and logs (default ``<repo>/runs``).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import DataError, IntegrityError

REPO_ROOT = Path(__file__).resolve().parent.parent


def shown_path(path: str | os.PathLike) -> str:
    """A path as messages and provenance show it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


# ---------------------------------------------------------------- locations

def data_root() -> Path:
    """Dataset root: ``$PGAN_DATA``, else ``../shared/data`` beside the repo if present."""
    env = os.environ.get("PGAN_DATA")
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise DataError(f"PGAN_DATA={env!r} is not a folder; set PGAN_DATA to the folder holding "
                            "MNIST/raw, FashionMNIST/raw and cifar10/")
        return root
    default = REPO_ROOT.parent / "shared" / "data"
    if default.is_dir():
        return default
    raise DataError("no dataset root: set PGAN_DATA to the folder holding MNIST/raw, FashionMNIST/raw "
                    "and cifar10/ (or use dataset 'synthetic' for smoke tests)")


def cache_root() -> Path:
    """Cache folder for extractors and reference statistics: ``$PGAN_CACHE`` or ``<repo>/.cache``."""
    return Path(os.environ.get("PGAN_CACHE") or REPO_ROOT / ".cache").expanduser()


def runs_root() -> Path:
    """Folder of training runs: ``$PGAN_RUNS`` or ``<repo>/runs``."""
    return Path(os.environ.get("PGAN_RUNS") or REPO_ROOT / "runs").expanduser()


def runs_relative(path: str) -> str:
    """``path`` as a config stores it: relative to :func:`runs_root` when it lies under it (so a run key and its
    provenance name no machine's folders), unchanged otherwise."""
    p = Path(path).expanduser()
    if p.is_absolute():
        root = runs_root().resolve()
        with contextlib.suppress(ValueError):
            return p.resolve().relative_to(root).as_posix()
    return str(path)


def in_runs(path: str) -> Path:
    """The file a config's runs-relative ``path`` names (an absolute path is taken as it is)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else runs_root() / p


# ---------------------------------------------------------------- atomic writes

@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file beside ``path``; on clean exit fsync and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)                              # mkstemp makes 0600; keep the usual file mode
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def torch_save_bytes(obj: Any) -> bytes:
    """Serialise ``obj`` with ``torch.save`` into bytes (so it can be hashed and written atomically)."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_verified(path: str | os.PathLike, obj: Any) -> str:
    """``torch.save`` ``obj`` atomically with a ``<path>.sha256`` sidecar; return the digest.

    The sidecar is written after the data file, each atomically; :func:`load_verified` refuses a
    file whose digest does not match, so a truncated or altered file is never used.
    """
    data = torch_save_bytes(obj)
    digest = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(path, data)
    atomic_write_text(str(path) + ".sha256", digest + "\n")
    return digest


def load_verified(path: str | os.PathLike, *, what: str = "file") -> Any:
    """Load a file written by :func:`save_verified` with ``weights_only=True`` after checking its hash."""
    import torch

    path = Path(path)
    side = Path(str(path) + ".sha256")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not side.is_file():
        raise IntegrityError(f"{what} {path} has no {side.name} hash file; delete it to rebuild")
    data = path.read_bytes()
    expected = side.read_text().strip()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise IntegrityError(f"{what} {path} is damaged: sha256 {actual[:12]}... != recorded {expected[:12]}...; "
                             "delete it to rebuild")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # structure damage that somehow kept the hash (should not happen)
        raise IntegrityError(f"{what} {path} cannot be read: {e}") from e


# ---------------------------------------------------------------- hashing

def file_digest(path: str | os.PathLike, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file's bytes, read in chunks (``algorithm``: a hashlib name)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return file_digest(path, "sha256", chunk)


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return file_digest(path, "md5", chunk)


def stable_hash(obj: Any, n: int = 12) -> str:
    """Short sha256 of a JSON-serialisable object (sorted keys), for cache and run keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]
