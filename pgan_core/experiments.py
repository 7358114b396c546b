"""Grids of training runs (methods x datasets x seeds) and their tables.

A notebook states *what* to compare (method names, datasets, seeds, a profile); this module
trains each run through :func:`pgan_core.training.train` (resuming or skipping what is already
done), evaluates the final EMA generators with protocol-named metrics, and returns tidy pandas
tables: one row per run (``runs``), one row per evaluation during training (``curves``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .checkpoint import load_snapshot_generator
from .config import DATASET_NAMES, RunConfig, get_profile
from .errors import ConfigError, bad_param
from .io import atomic_write_json, runs_root, stable_hash
from .metrics.evaluate import Evaluator, parse_protocol
from .registry import get_method
from .sampling import generate, make_input
from .training import RunRecord, train


@dataclass
class Grid:
    notebook: str
    profile: str
    records: list[RunRecord] = field(default_factory=list)
    final: dict[str, dict[str, Any]] = field(default_factory=dict)   # run_dir -> final metrics
    labels: dict[str, str] = field(default_factory=dict)             # run_dir -> row label (method or variant)
    evaluators: dict[str, Any] = field(default_factory=dict)          # (dataset) -> final Evaluator

    # ------------------------------------------------------------ tables
    def runs(self):
        import pandas as pd

        rows = []
        for r in self.records:
            c = r.config
            row = {"method": self.label(r), "dataset": self.setting(r), "seed": c["seed"],
                   "data_fraction": c.get("data_fraction", 1.0), "steps": r.steps,
                   "params_G_trainable": r.params_G["trainable"], "params_D_trainable": r.params_D["trainable"],
                   "masks_G_stored": r.params_G.get("masks_stored", 0),
                   "masks_G_regenerated": r.params_G.get("masks_regenerated", 0),
                   "sec_per_iter": r.sec_per_iter, "real_img_per_s": r.real_img_per_s,
                   "train_seconds": r.train_seconds, "device": r.device, "base_method": c["method"],
                   "lr_g": c["lr_g"], "lr_d": c["lr_d"], "n_critic": c["n_critic"], "g_input": c.get("g_input", "gaussian")}
            row.update({k: v for k, v in self.final.get(r.run_dir, {}).items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def curves(self):
        import pandas as pd

        rows = []
        for r in self.records:
            c = r.config
            for h in r.history:
                rows.append({"method": self.label(r), "dataset": self.setting(r), "seed": c["seed"],
                             "data_fraction": c.get("data_fraction", 1.0),
                             **{k: v for k, v in h.items() if k != "kind"}})
        return pd.DataFrame(rows)

    @classmethod
    def combine(cls, grids: Sequence["Grid"]) -> "Grid":
        """One grid of several (e.g. each dataset with its own methods, or a row with fewer seeds): records,
        metrics and evaluators side by side. They must come from one notebook and profile and share no run."""
        grids = list(grids)
        if not grids:
            raise bad_param("grids", grids, "at least one Grid")
        if len({(g.notebook, g.profile) for g in grids}) != 1:
            raise bad_param("grids", [(g.notebook, g.profile) for g in grids], "grids of one notebook and profile")
        out = cls(notebook=grids[0].notebook, profile=grids[0].profile)
        for g in grids:
            shared = {r.run_dir for r in g.records} & {r.run_dir for r in out.records}
            if shared:
                raise bad_param("grids", sorted(shared)[:3], "grids that share no run")
            out.records += g.records
            out.final.update(g.final)
            out.labels.update(g.labels)
            for ds, ev in g.evaluators.items():
                out.evaluators.setdefault(ds, ev)
        return out

    def label(self, rec: RunRecord) -> str:
        """Row label of a run: its variant name, else its method name."""
        return self.labels.get(rec.run_dir, rec.config["method"])

    @staticmethod
    def setting(rec: RunRecord) -> str:
        """Setting label of a run (the tables' ``dataset`` column): its dataset, with the class-balanced train
        fraction when it trains on part of the split (:func:`setting_label`)."""
        return setting_label(rec.config["dataset"], rec.config.get("data_fraction", 1.0))

    def record(self, method: str, dataset: str, seed: int) -> RunRecord:
        """The run of (method or variant label, setting label (:meth:`setting`: the dataset on full data), seed)."""
        for r in self.records:
            if (self.label(r), self.setting(r), r.config["seed"]) == (method, dataset, seed):
                return r
        raise KeyError((method, dataset, seed))


def setting_label(dataset: str, fraction: float = 1.0) -> str:
    """Table label of a (dataset, class-balanced train fraction) setting: 'cifar10', 'cifar10 10%'."""
    return dataset if fraction == 1 else f"{dataset} {fraction:.0%}"


def _check_list(name: str, values: Sequence, allowed: Sequence | None = None, kind=str) -> list:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)) or not values:
        raise bad_param(name, values, f"a non-empty list" + (f" drawn from {', '.join(map(str, allowed))}" if allowed else ""))
    for v in values:
        if not isinstance(v, kind) or isinstance(v, bool) or (allowed is not None and v not in allowed):
            raise bad_param(name, v, ("one of " + ", ".join(map(str, allowed))) if allowed else f"values of type {kind.__name__}")
    if len(set(values)) != len(values):
        raise bad_param(name, list(values), "a list without repeats")
    return list(values)


def _check_methods(methods: Any) -> list[str]:
    """METHODS: registered names or composed names (pgan_core.compose); unknown ones list the known ones."""
    methods = _check_list("METHODS", methods)
    for m in methods:
        try:
            get_method(m)
        except ConfigError as e:
            raise ConfigError(f"METHODS: {e}") from None
    return methods


def base_config(profile: str, *, notebook: str | None = None, dataset: str | None = None,
                fraction: float | None = None, **overrides: Any) -> RunConfig:
    """The profile's RunConfig defaults, then its budget for ``notebook`` on ``dataset`` at the train
    ``fraction`` (``Profile.budgets``), then ``overrides`` (None values are ignored). ``fraction`` sets
    ``data_fraction`` (an override may not set it too)."""
    prof = get_profile(profile)
    given = {k: v for k, v in overrides.items() if v is not None}
    if fraction is not None and "data_fraction" in given:
        raise bad_param("data_fraction", given["data_fraction"], "None when FRACTIONS sets the train fraction")
    params = {**prof.run, **prof.budget(notebook, dataset, fraction), **given}
    if dataset is not None:
        params["dataset"] = dataset
    if fraction is not None:
        params["data_fraction"] = fraction
    return RunConfig.from_params(params)


def _check_variants(variants: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(variants, dict) or not variants:
        raise bad_param("VARIANTS", variants, "a non-empty dict: label -> RunConfig overrides including 'method'")
    for label, ov in variants.items():
        if not isinstance(label, str) or not label:
            raise bad_param("VARIANTS", label, "non-empty string labels")
        if not isinstance(ov, dict) or "method" not in ov:
            raise bad_param(f"VARIANTS[{label!r}]", ov, "a dict of RunConfig overrides including 'method'")
        for key in ("dataset", "seed"):
            if key in ov:
                raise bad_param(f"VARIANTS[{label!r}]", key, "overrides without 'dataset'/'seed' (the grid sets them)")
    return variants


def run_grid(*, notebook: str, profile: str, methods: Sequence[str] | None = None, datasets: Sequence[str],
             seeds: Sequence[int], overrides: dict[str, Any] | None = None,
             variants: dict[str, dict[str, Any]] | None = None, fractions: Sequence[float] | None = None,
             final_protocols: Sequence[str] | None = None,
             progress: bool = True, runs_dir: str | Path | None = None, concurrency: int | None = None,
             threads_per_run: int | None = None) -> Grid:
    """Train every (dataset, fraction, method, seed), evaluate each final G_ema, return the Grid.

    ``fractions`` (None: the overrides' ``data_fraction``, else the full split): class-balanced train fractions,
    each with the profile's budget for it (``Profile.budgets``); the tables label a setting ``cifar10 10%``
    (:func:`setting_label`) in their ``dataset`` column, beside ``data_fraction``.

    ``variants`` (instead of ``methods``): label -> RunConfig overrides (with ``method``), for
    comparisons within one method (learning-rate pairs, generator inputs); the label is the
    table's ``method`` column. Runs live in ``runs_dir/<notebook>/<profile>/<run name>``; finished
    runs are reused and interrupted ones resume, so re-running a notebook redoes only what is missing.

    ``concurrency`` (default ``$PGAN_CONCURRENCY``, else 1): train that many runs at once, each in its own
    process on the same device (:func:`train_concurrently`); ``threads_per_run`` CPU threads each (default:
    the cores divided among them). A run's result depends only on its config and its thread count, so the
    grid equals the one-after-another grid at the same threads per run: weights bit for bit on CPU, metrics
    to 1e-9 (their float64 statistics go through numpy's BLAS, whose thread pool is per process).
    """
    if (methods is None) == (variants is None):
        raise bad_param("METHODS", methods, "exactly one of METHODS (names) or VARIANTS (label -> overrides)")
    if variants is not None:
        variants = _check_variants(variants)
    else:
        variants = {m: {"method": m} for m in _check_methods(methods)}
    datasets = _check_list("DATASETS", datasets, DATASET_NAMES)
    seeds = _check_list("SEEDS", seeds, kind=int)
    if any(s < 0 for s in seeds):
        raise bad_param("SEEDS", list(seeds), "integers >= 0")
    fracs = [None] if fractions is None else _check_list("FRACTIONS", fractions, kind=float)
    prof = get_profile(profile)
    final_protocols = list(final_protocols if final_protocols is not None else prof.final_protocols)
    bases = {(d, f): base_config(profile, notebook=notebook, dataset=d, fraction=f, **(overrides or {}))
             for d in datasets for f in fracs}
    # validate every config before training anything
    jobs = []
    for (d, f), base in bases.items():
        for label, ov in variants.items():
            try:                                          # each run's config: built, validated and resolved once
                jobs += [(label, RunConfig.build({**base.to_dict(), **ov, "seed": s})) for s in seeds]
            except ConfigError as e:
                raise ConfigError(f"VARIANTS[{label!r}]: {e}") from None
    for (d, f), other in bases.items():
        first = bases[d, fracs[0]]
        if (other.eval_protocols, other.domain_quality) != (first.eval_protocols, first.domain_quality):
            raise bad_param("FRACTIONS", list(fractions), f"fractions whose budgets evaluate {d} alike "
                                                          f"(eval_protocols, domain_quality)")
    root = Path(runs_dir) if runs_dir is not None else runs_root()
    concurrency = _concurrency(concurrency)
    grid = Grid(notebook=notebook, profile=profile)
    for dataset in datasets:
        base = bases[dataset, fracs[0]]                  # every fraction evaluates alike (checked above)
        ev_train = Evaluator(dataset, list(base.eval_protocols), domain_quality=base.domain_quality) if base.eval_protocols else None
        ev_final = Evaluator(dataset, final_protocols, domain_quality=base.domain_quality) if final_protocols else None
        grid.evaluators[dataset] = ev_final
        todo = [(label, cfg, root / notebook / profile / cfg.run_name()) for label, cfg in jobs if cfg.dataset == dataset]
        if concurrency > 1 and len(todo) > 1:
            if ev_train is not None and any(parse_protocol(k).extractor == "domain" for k in base.eval_protocols):
                ev_train.extractor("domain")                  # train / cache the extractor once, before the workers
            records = train_concurrently([(cfg, run_dir) for _, cfg, run_dir in todo], concurrency=concurrency,
                                         threads_per_run=threads_per_run, progress=progress)
        else:
            records = [train(cfg, run_dir, evaluator=ev_train, progress=progress) for _, cfg, run_dir in todo]
        for (label, _, _), rec in zip(todo, records):
            grid.records.append(rec)
            grid.labels[rec.run_dir] = label
            if ev_final is not None:
                grid.final[rec.run_dir] = final_metrics(rec, ev_final, final_protocols)
    return grid


def plan_rows(profile: str, notebook: str, *, methods: Sequence[str], datasets: Sequence[str] | None = None,
              seeds: Sequence[int] | None = None) -> dict[str, dict[str, list[int]]]:
    """dataset -> method -> seeds that ``notebook`` trains in ``profile``: its ``methods`` on ``datasets``
    (None: the profile's datasets for the notebook), cut to the rows and seeds the profile budgets
    (``Profile.rows``, ``Profile.seeds_of``; what was cut and why: ``Profile.cuts``)."""
    prof = get_profile(profile)
    methods = _check_methods(list(methods))
    if datasets is None:
        datasets = prof.datasets_of(notebook)
        if datasets is None:
            raise bad_param("DATASETS", None, f"a list of datasets ({', '.join(DATASET_NAMES)}): profile "
                                              f"{profile!r} names none for {notebook!r}")
    datasets = _check_list("DATASETS", datasets, DATASET_NAMES)
    seeds = _check_list("SEEDS", seeds if seeds is not None else prof.seeds, kind=int)
    plan = {d: {m: prof.seeds_for(notebook, m, seeds) for m in prof.methods_of(notebook, d, methods)} for d in datasets}
    empty = [d for d, rows in plan.items() if not rows]
    if empty:
        raise bad_param("METHODS", methods, f"at least one method that profile {profile!r} trains on {empty} "
                                            f"({sorted(prof.rows.get(notebook, {}).get(empty[0], ()))})")
    return plan


def run_rows(*, notebook: str, profile: str, plan: dict[str, dict[str, list[int]]],
             overrides: dict[str, Any] | None = None, progress: bool = True, **kw: Any) -> Grid:
    """:func:`run_grid` over a :func:`plan_rows` plan (datasets with their own methods, rows with their own
    seeds), as one :class:`Grid`. Every config is validated before anything trains."""
    for d in plan:
        base_config(profile, notebook=notebook, dataset=d, **(overrides or {}))
    parts = []
    for d, rows in plan.items():
        by_seeds: dict[tuple[int, ...], list[str]] = {}
        for m, ss in rows.items():
            by_seeds.setdefault(tuple(ss), []).append(m)
        parts += [run_grid(notebook=notebook, profile=profile, methods=ms, datasets=[d], seeds=list(ss),
                           overrides=overrides, progress=progress, **kw) for ss, ms in by_seeds.items()]
    return Grid.combine(parts)


# ---------------------------------------------------------------- several runs at once

CONCURRENCY_ENV = "PGAN_CONCURRENCY"


def _concurrency(value: int | None) -> int:
    import os

    if value is None:
        raw = os.environ.get(CONCURRENCY_ENV, "1")
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{CONCURRENCY_ENV}={raw!r}: allowed: an integer >= 1") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_param("concurrency", value, "an integer >= 1")
    return value


def _train_worker(cfg_json: str, run_dir: str, threads: int | None) -> dict:
    """One run in a worker process: ``threads`` CPU threads, its own evaluator, no progress bar."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return train(RunConfig.from_params(json.loads(cfg_json)), run_dir, progress=False).to_dict()


def train_concurrently(jobs: Sequence[tuple[RunConfig, Path]], *, concurrency: int, threads_per_run: int | None = None,
                       progress: bool = True) -> list[RunRecord]:
    """Train ``jobs`` ((config, run_dir) pairs) with ``concurrency`` worker processes on the same device.

    Processes, not threads or CUDA streams: each run keeps its own RNG state, autograd graph and CUDA
    context, so a run computes exactly what it computes alone (on CPU at the same thread count). Returns
    the records in the order of ``jobs``; the first failing run's error is raised after the others end.
    """
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    concurrency = _concurrency(concurrency)
    if threads_per_run is None:
        threads_per_run = max(1, (os.cpu_count() or 1) // concurrency)
    elif isinstance(threads_per_run, bool) or not isinstance(threads_per_run, int) or threads_per_run < 1:
        raise bad_param("threads_per_run", threads_per_run, "an integer >= 1")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=min(concurrency, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_train_worker, cfg.to_json(), str(run_dir), threads_per_run) for cfg, run_dir in jobs]
        records, error = [], None
        for i, fut in enumerate(futures):
            try:
                records.append(RunRecord(**fut.result()))
            except Exception as e:  # noqa: BLE001 - report after the pool has drained
                error = error or e
                records.append(None)
            if progress:
                print(f"[{i + 1}/{len(jobs)}] {jobs[i][0].run_name()} done ({time.perf_counter() - t0:.0f} s, "
                      f"{concurrency} at once)", flush=True)
    if error is not None:
        raise error
    return records


def final_metrics(rec: RunRecord, evaluator, protocols: Sequence[str], *, n_tag: str = "final") -> dict[str, Any]:
    """Metrics of the run's final EMA snapshot, cached in ``<run_dir>/<n_tag>-<hash>.json``."""
    path = Path(rec.run_dir) / f"{n_tag}-{stable_hash(sorted(protocols))}.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("config_key") == rec.config_key:
            return cached["metrics"]
    G, cfg = load_snapshot_generator(Path(rec.run_dir) / "snapshot.pt")
    inputs = make_input(cfg)
    t0 = time.perf_counter()
    metrics = evaluator.evaluate(lambda n: generate(G, n, seed=cfg["eval_seed"] + 1, inputs=inputs))
    atomic_write_json(path, {"config_key": rec.config_key, "protocols": list(protocols), "metrics": metrics,
                             "seconds": round(time.perf_counter() - t0, 2)})
    return metrics


def inception_metrics(grid: Grid, *, protocols: Sequence[str], runs: Sequence[tuple[str, str, int]]) -> "Any":
    """Standard TF-Inception metrics for a few runs ((method or label, setting label, seed), as
    :meth:`Grid.record` takes them; slow on CPU); returns a DataFrame and the evaluators per dataset."""
    import pandas as pd

    rows, evs = [], {}
    for method, dataset, seed in runs:
        rec = grid.record(method, dataset, seed)
        name = rec.config["dataset"]                     # the setting's dataset: one reference for every fraction
        if name not in evs:
            evs[name] = Evaluator(name, list(protocols))
        m = final_metrics(rec, evs[name], protocols, n_tag="inception")
        rows.append({"method": method, "dataset": dataset, "seed": seed, **m})
    return pd.DataFrame(rows), evs


def protocol_columns(df) -> list[str]:
    cols = []
    for c in df.columns:
        try:
            parse_protocol(c)
            cols.append(c)
        except ConfigError:
            pass
    return cols
