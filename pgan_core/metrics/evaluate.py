"""Protocol names and the evaluator that computes FID / KID / IS for generated images.

A protocol key names everything that changes the number: ``<metric><n>_<extractor>``, e.g.
``fid5k_domain`` (FID, 5,000 generated images, domain classifier features), ``kid500_inception``
(KID, 500 generated images, TF Inception pool_3), ``is10k_domain``, ``fidinf2k_inception`` (FID-infinity:
FID extrapolated in 1/N from subsets of the 2,000 images, Chong & Forsyth 2020, arXiv:1911.07023). Numbers of different keys
are never comparable; ``*_domain`` numbers are never comparable with published Inception ones.

References: FID, Heusel et al. 2017 (TTUR, arXiv:1706.08500); KID, Binkowski et al. 2018
(arXiv:1801.01401); IS, Salimans et al. 2016 (arXiv:1606.03498). Protocol conventions follow
StyleGAN2-ADA (``fid50k_full``, ``kid50k_full``: 100 subsets of <= 1000) and torch-fidelity
(seed 2020, 10 IS splits).

Reference statistics of the real split (mu, sigma in float64, and the features themselves in
float32 for KID) are cached per (dataset, split, extractor, extractor sha256, ref_n, seed) under
``<cache>/stats/`` with a sha256 sidecar; a damaged file raises IntegrityError (delete it).

Inception FID uses the shipped statistics of the *whole* split when they exist
(``references/inception/<dataset>-<split>.npz``, :mod:`pgan_core.metrics.reference`; e.g. all 50,000
CIFAR-10 training images, the standard protocol), otherwise the seeded subset above;
``metadata(key)['reference_n']`` says which. KID always uses reference *features* (a subset).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ConfigError, check_choice, check_positive
from ..io import REPO_ROOT, cache_root, shown_path, load_verified, save_verified, stable_hash
from . import domain as _domain
from .frechet import feature_stats, fid_infinity, fid_to_reference
from .inception import (InceptionFeatures, TorchFidelityInception, inception_logits_available,
                        inception_weights_path)
from .inception_score import inception_score
from .kid import kid
from .reference import load_reference, reference_available

__all__ = ["Protocol", "parse_protocol", "protocol_key", "Evaluator"]

METRICS = ("fid", "kid", "is", "fidinf")
EXTRACTORS = ("domain", "inception")
_KEY_RE = re.compile(r"^(fidinf|fid|kid|is)(\d+)(k?)_(domain|inception)$")
_KEY_FORM = ("'<metric><n>_<extractor>' with metric in fid|kid|is|fidinf, n digits with optional 'k' (x1000), "
             "extractor in domain|inception, e.g. 'fid5k_domain', 'kid500_inception'")
STATS_FORMAT = 1  # bump when the reference-statistics file layout changes
_INCEPTION_MAX_BATCH = 64  # 299x299 activations: keep CPU memory bounded (the GPU takes the full batch_size)


# ---------------------------------------------------------------- protocols

@dataclass(frozen=True)
class Protocol:
    """One evaluation protocol: metric, number of generated images, feature extractor."""

    metric: str
    n: int
    extractor: str

    @property
    def key(self) -> str:
        return protocol_key(self.metric, self.n, self.extractor)


def protocol_key(metric: str, n: int, extractor: str) -> str:
    """Inverse of :func:`parse_protocol`: ('fid', 5000, 'domain') -> 'fid5k_domain'; 2500 -> '2500'."""
    check_choice("metric", metric, METRICS)
    check_choice("extractor", extractor, EXTRACTORS)
    check_positive("n", n, integer=True)
    count = f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return f"{metric}{count}_{extractor}"


def parse_protocol(key: str) -> Protocol:
    """'fid5k_domain' -> Protocol('fid', 5000, 'domain'); ConfigError with the allowed form otherwise."""
    m = _KEY_RE.match(key) if isinstance(key, str) else None
    if m is None:
        raise ConfigError(f"unknown protocol key {key!r}; allowed: {_KEY_FORM}")
    metric, digits, k, extractor = m.groups()
    n = int(digits) * (1000 if k else 1)
    if n <= 0:
        raise ConfigError(f"protocol key {key!r}: the number of images must be > 0; allowed: {_KEY_FORM}")
    return Protocol(metric, n, extractor)


def _versions() -> dict[str, str]:
    import torch_fidelity

    return {"torch": str(torch.__version__), "numpy": np.__version__, "torch_fidelity": torch_fidelity.__version__}


_shown = shown_path


# ---------------------------------------------------------------- evaluator

class Evaluator:
    """Computes the requested protocols for generated images of ``dataset``.

    ``protocols``: keys such as ['fid5k_domain', 'kid500_inception', 'is10k_domain'].
    ``ref_split``: real split for the reference statistics; ``ref_n``: number of real images
    (default: max n of that extractor's protocols, capped by the split size; a seeded subset of
    the split when smaller). ``seed`` drives the reference subset, the KID subsets (and nothing
    about generation: the caller controls the generator's seeds).
    """

    def __init__(self, dataset: str, protocols: list[str], *, ref_split: str = "train", ref_n: int | None = None,
                 domain_quality: str = "full", cache_dir: str | Path | None = None, seed: int = 2020,
                 batch_size: int = 250, device: str | torch.device = "cpu", kid_subsets: int = 100,
                 kid_subset_size: int = 1000, is_splits: int = 10, domain_seed: int = 0,
                 progress: bool = False, inception_reference: str = "auto") -> None:
        if not isinstance(dataset, str) or not dataset:
            raise ConfigError(f"parameter 'dataset': got {dataset!r}; allowed: a dataset name such as 'mnist'")
        if isinstance(protocols, str) or not protocols:
            raise ConfigError(f"parameter 'protocols': got {protocols!r}; allowed: a non-empty list of keys, {_KEY_FORM}")
        self.protocols = [parse_protocol(k) for k in protocols]
        self.keys = [p.key for p in self.protocols]
        if len(set(self.keys)) != len(self.keys):
            raise ConfigError(f"parameter 'protocols': duplicate keys in {protocols!r}")
        check_choice("ref_split", ref_split, ("train", "test"))
        if ref_n is not None:
            check_positive("ref_n", ref_n, integer=True)
        check_choice("domain_quality", domain_quality, _domain.QUALITY_PRESETS)
        self.dataset, self.ref_split, self.ref_n_requested = dataset, ref_split, ref_n
        self.domain_quality, self.domain_seed, self.seed = domain_quality, domain_seed, int(seed)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else cache_root()
        self.batch_size = check_positive("batch_size", batch_size, integer=True)
        self.device = torch.device(device)
        self.kid_subsets = check_positive("kid_subsets", kid_subsets, integer=True)
        self.kid_subset_size = check_positive("kid_subset_size", kid_subset_size, integer=True)
        self.is_splits = check_positive("is_splits", is_splits, integer=True)
        self.progress = progress
        # 'auto': Inception FID against the shipped whole-split statistics when they exist; 'subset': never
        self.inception_reference = check_choice("inception_reference", inception_reference, ("auto", "subset"))
        self._extractors: dict[str, Any] = {}
        self._is_net: TorchFidelityInception | None = None
        self._refs: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------ helpers

    def _needed(self, extractor: str, *, reference: bool = False) -> int:
        """Max n of the protocols using ``extractor`` (for the reference: fid/kid only)."""
        ns = [p.n for p in self.protocols if p.extractor == extractor and (not reference or p.metric != "is")]
        return max(ns, default=0)

    def _inception_batch(self) -> int:
        """Inception batch: the full ``batch_size`` on a GPU, at most 64 on a CPU (memory)."""
        return self.batch_size if self.device.type == "cuda" else min(self.batch_size, _INCEPTION_MAX_BATCH)

    def extractor(self, name: str) -> Any:
        """The feature extractor 'domain' or 'inception' (loaded or trained on first use)."""
        check_choice("extractor", name, EXTRACTORS)
        if name not in self._extractors:
            if name == "domain":
                self._extractors[name] = _domain.load_domain_extractor(
                    self.dataset, quality=self.domain_quality, cache_dir=self.cache_dir, seed=self.domain_seed,
                    progress=self.progress, device=self.device, batch_size=self.batch_size)
            else:
                self._extractors[name] = InceptionFeatures(batch_size=self._inception_batch(), device=self.device)
        return self._extractors[name]

    def _features(self, name: str, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(feats (N, d) float32, logits (N, K) float32 or None) of uint8 ``images`` with extractor ``name``."""
        ext = self.extractor(name)
        if name == "domain":
            return ext(images)
        return ext(images), None

    def _ref_n_for(self, extractor: str) -> int:
        """Real images behind the reference statistics of ``extractor`` (0 if no fid/kid protocol uses it)."""
        needed = self._needed(extractor, reference=True)
        if needed == 0:
            return 0
        return self.ref_n_requested if self.ref_n_requested is not None else needed

    def stats_path(self, extractor: str) -> Path:
        """Cache file of the reference statistics for ``extractor``."""
        ext = self.extractor(extractor)
        ref_n = self._ref_n_for(extractor)
        ident = {"format": STATS_FORMAT, "dataset": self.dataset, "split": self.ref_split, "extractor": ext.name,
                 "sha256": ext.sha256, "ref_n": ref_n, "seed": self.seed}
        return (self.cache_dir / "stats"
                / f"ref-{self.dataset}-{self.ref_split}-{ext.name}-{ext.sha256[:12]}-n{ref_n}-{stable_hash(ident)}.pt")

    def _select(self, n_total: int, n: int, seed: int) -> torch.Tensor:
        """Indices of a seeded subset of size min(n, n_total) (all, in order, when n >= n_total)."""
        if n >= n_total:
            return torch.arange(n_total)
        idx = np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))
        return torch.from_numpy(idx)

    def _build_reference(self, extractor: str, path: Path) -> None:
        real = _domain._load_dataset(self.dataset, self.ref_split)
        ref_n = self._ref_n_for(extractor)
        idx = self._select(len(real.images), ref_n, self.seed)
        feats, _ = self._features(extractor, real.images[idx])  # (ref_n, d)
        mu, sigma = feature_stats(feats)  # (d,), (d, d) float64
        ext = self.extractor(extractor)
        save_verified(path, {
            "mu": torch.from_numpy(mu), "sigma": torch.from_numpy(sigma), "feats": feats.float().contiguous(),
            "n": int(len(idx)), "n_split": int(len(real.images)), "ref_n_requested": int(ref_n),
            "dataset": self.dataset, "split": self.ref_split, "extractor": ext.name, "sha256": ext.sha256,
            "seed": self.seed, "format": STATS_FORMAT})

    def reference(self, extractor: str) -> dict[str, Any]:
        """Reference statistics {'mu', 'sigma', 'feats', 'n', ...} of the real split (cached on disk)."""
        if extractor in self._refs:
            return self._refs[extractor]
        path = self.stats_path(extractor)
        if not path.is_file():
            with _domain.cache_lock(path):
                if not path.is_file():  # another process may have built it while we waited
                    self._build_reference(extractor, path)
        blob = load_verified(path, what="reference statistics")
        blob["path"] = _shown(path)
        self._refs[extractor] = blob
        return blob

    def fid_reference(self, extractor: str) -> dict[str, Any]:
        """{'mu', 'sigma', 'n', 'path'} the FID of ``extractor`` is measured against: the shipped whole-split
        Inception statistics when available (and ``inception_reference='auto'``), else :meth:`reference`."""
        if (extractor == "inception" and self.inception_reference == "auto"
                and reference_available(self.dataset, self.ref_split)):
            key = "inception-shipped"
            if key not in self._refs:
                std = load_reference(self.dataset, self.ref_split)
                self._refs[key] = {"mu": torch.from_numpy(std["mu"]), "sigma": torch.from_numpy(std["sigma"]),
                                   "n": std["n"], "n_split": std["n"], "path": std["path"]}
            return self._refs[key]
        return self.reference(extractor)

    def _generated(self, sample_uint8: Callable[[int], torch.Tensor] | torch.Tensor, n: int) -> torch.Tensor:
        images = sample_uint8 if isinstance(sample_uint8, torch.Tensor) else sample_uint8(n)
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
            raise ConfigError("parameter 'sample_uint8': expected a uint8 tensor (N, C, H, W) or a callable returning "
                              f"one, got {getattr(images, 'dtype', type(images).__name__)} "
                              f"{tuple(getattr(images, 'shape', ()))}; quantize with pgan_core.data.to_uint8")
        if images.shape[0] < n:
            raise ConfigError(f"parameter 'sample_uint8': got {images.shape[0]} generated images, the protocols "
                              f"{self.keys} need {n}")
        return images[:n]

    # ------------------------------------------------------------ public

    def _feature_counts(self) -> dict[str, int]:
        """Generated images each extractor's fid/kid/fidinf protocols need (IS on Inception uses its own network)."""
        return {"domain": self._needed("domain"),
                "inception": max((p.n for p in self.protocols if p.extractor == "inception" and p.metric != "is"),
                                 default=0)}

    def features(self, sample_uint8: Callable[[int], torch.Tensor] | torch.Tensor) -> dict[str, torch.Tensor]:
        """{extractor: features (n, d) float32} of the images the protocols need, for :meth:`evaluate_features`
        (resampling studies: features computed once, metrics of many index sets)."""
        counts = {name: n for name, n in self._feature_counts().items() if n > 0}
        images = self._generated(sample_uint8, max(counts.values(), default=0))
        return {name: self._features(name, images[:n])[0] for name, n in counts.items()}

    def evaluate_features(self, feats: dict[str, torch.Tensor]) -> dict[str, float]:
        """The fid / kid / fidinf protocols from precomputed features (:meth:`features`; IS needs the images:
        refused). Each protocol uses the first ``n`` rows of its extractor's features."""
        out: dict[str, float] = {}
        for p in self.protocols:
            if p.metric == "is":
                raise ConfigError(f"parameter 'protocols': {p.key!r} needs images (use evaluate), not features")
            f = feats.get(p.extractor)
            if f is None or len(f) < p.n:
                raise ConfigError(f"parameter 'feats': {p.key!r} needs {p.n} {p.extractor} features, "
                                  f"got {0 if f is None else len(f)}")
            out.update(self._from_features(p, f[:p.n]))
        return out

    def _from_features(self, p: Protocol, f: torch.Tensor) -> dict[str, float]:
        if p.metric == "fid":
            ref = self.fid_reference(p.extractor)
            return {p.key: fid_to_reference(f, ref["mu"].numpy(), ref["sigma"].numpy())}
        if p.metric == "fidinf":
            ref = self.fid_reference(p.extractor)
            return {p.key: fid_infinity(f, ref["mu"].numpy(), ref["sigma"].numpy(), seed=self.seed)["fid_inf"]}
        ref = self.reference(p.extractor)                              # kid
        r = kid(f, ref["feats"], n_subsets=self.kid_subsets, subset_size=self.kid_subset_size, seed=self.seed)
        return {p.key: r["mean"], p.key + "_std": r["std"]}

    def evaluate(self, sample_uint8: Callable[[int], torch.Tensor] | torch.Tensor) -> dict[str, float | None]:
        """One value per protocol key (KID: mean; ``<key>_std`` added for kid and is).

        ``sample_uint8``: ``n -> uint8 (n, C, H, W)`` generated images, or such a tensor (its first n
        images are used). It is called once, for the largest n needed; each extractor runs once
        on the images its protocols need, and its features are shared by fid/kid/is.
        """
        logits_ok = inception_logits_available()
        n_feat = self._feature_counts()
        n_is_inception = max((p.n for p in self.protocols if p.extractor == "inception" and p.metric == "is"),
                             default=0) if logits_ok else 0
        n_max = max(*n_feat.values(), n_is_inception)
        images = self._generated(sample_uint8, n_max) if n_max > 0 else None

        feats: dict[str, torch.Tensor] = {}
        logits: dict[str, torch.Tensor | None] = {}
        for name, n in n_feat.items():
            if n > 0:
                feats[name], logits[name] = self._features(name, images[:n])  # (n, d), (n, K) or None

        out: dict[str, float | None] = {}
        for p in self.protocols:
            key = p.key
            if p.metric != "is":
                out.update(self._from_features(p, feats[p.extractor][:p.n]))
                continue
            if p.extractor == "domain":
                lg = logits["domain"][:p.n]
            elif logits_ok:
                if self._is_net is None:
                    self._is_net = TorchFidelityInception(batch_size=self._inception_batch(), device=self.device)
                _, lg = self._is_net(images[:p.n])
            else:
                out[key], out[key + "_std"] = None, None
                continue
            out[key], out[key + "_std"] = inception_score(lg, splits=self.is_splits)
        return out

    def metadata(self, key: str) -> dict[str, Any]:
        """Protocol details for ``key``: counts, reference, extractor identity, KID/IS settings, versions."""
        p = parse_protocol(key)
        if p.key not in self.keys:
            raise ConfigError(f"parameter 'key': {key!r} is not one of this evaluator's protocols {self.keys}")
        meta: dict[str, Any] = {"key": p.key, "metric": p.metric, "n_generated": p.n, "extractor": p.extractor,
                                "dataset": self.dataset, "seed": self.seed, "versions": _versions()}
        if p.metric == "is" and p.extractor == "inception":
            if inception_logits_available():
                meta.update({"extractor_name": TorchFidelityInception.name,
                             "extractor_weights": str(inception_weights_path()),
                             "extractor_sha256": self._is_net.sha256 if self._is_net is not None else None,
                             "available": True})
            else:
                meta.update({"available": False,
                             "reason": "IS on Inception needs torch-fidelity's logits weights: set "
                                       "PGAN_INCEPTION_WEIGHTS to weights-inception-2015-12-05-6726825d.pth"})
            meta.update({"is_splits": self.is_splits})
            return meta
        ext = self.extractor(p.extractor)
        meta.update({"extractor_name": ext.name, "extractor_sha256": ext.sha256, "available": True})
        if p.extractor == "domain":
            meta.update({"extractor_quality": ext.quality, "extractor_test_accuracy": ext.test_accuracy,
                         "extractor_dataset": ext.dataset, "extractor_seed": self.domain_seed})
        else:
            meta.update({"extractor_weights": ext.path.name, "extractor_impl": ext.impl_used,
                         "resize": "tf1-bilinear 299x299 (torch-fidelity's arithmetic)"})
        if p.metric in ("fid", "kid", "fidinf"):
            ref = self.reference(p.extractor) if p.metric == "kid" else self.fid_reference(p.extractor)
            meta.update({"reference_split": self.ref_split, "reference_n": int(ref["n"]),
                         "reference_split_size": int(ref["n_split"]), "reference_stats": ref["path"]})
        if p.metric == "kid":
            meta.update({"kid_subsets": self.kid_subsets,
                         "kid_subset_size": min(self.kid_subset_size, p.n, int(self.reference(p.extractor)["n"])),
                         "kid_seed": self.seed, "kid_kernel": "(x.y/d + 1)^3"})
        if p.metric == "is":
            meta.update({"is_splits": self.is_splits})
        if p.metric == "fidinf":
            meta.update({"fidinf_points": 8, "fidinf_n_range": [p.n // 4, p.n], "fidinf_fit": "least squares in 1/N",
                         "fidinf_seed": self.seed})
        return meta

    def real_vs_real(self, n: int, *, extractor: str = "domain") -> dict[str, Any]:
        """FID of n real images of the *other* split against this evaluator's reference statistics.

        With ref_split='train' this is FID(train reference, n test images): the floor a perfect
        generator would reach under the same protocol (the two sets are disjoint).
        Returns {'fid', 'n', 'split', 'ref_split', 'ref_n', 'extractor'}.
        """
        check_positive("n", n, integer=True)
        check_choice("extractor", extractor, EXTRACTORS)
        if self._ref_n_for(extractor) <= 0:
            raise ConfigError(f"parameter 'extractor': no fid/kid protocol of this evaluator uses {extractor!r}")
        other = "test" if self.ref_split == "train" else "train"
        real = _domain._load_dataset(self.dataset, other)
        idx = self._select(len(real.images), n, self.seed + 1)
        feats, _ = self._features(extractor, real.images[idx])
        ref = self.fid_reference(extractor)
        return {"fid": fid_to_reference(feats, ref["mu"].numpy(), ref["sigma"].numpy()), "n": int(len(idx)),
                "split": other, "ref_split": self.ref_split, "ref_n": int(ref["n"]), "extractor": extractor}
