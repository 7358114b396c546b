"""The training loop: ``train(cfg, run_dir) -> RunRecord``.

One function runs a GAN from a :class:`~pgan_core.config.RunConfig`: D steps then a G step per
iteration, an EMA of G, protocol-named metrics every ``eval_every`` iterations, a JSONL log,
atomic checkpoints, and exact resume.

Reproducibility contract (CPU): all randomness of iteration ``t`` (data order, latents, WGAN-GP
interpolation, and the global torch RNG that stochastic layers such as PConv draw from) comes from
generators seeded by ``(seed, t)``; the model's initial weights come
from ``seed``. So a run interrupted at any point and resumed from its last ``state.pt`` ends
with weights and metrics bit-identical to the uninterrupted run on the same machine and thread
count. On CUDA, cuDNN/cuBLAS kernels may differ run to run (see README).

GPU path (same maths, fewer waits): the dataset lives on the GPU (32 px sets are small), the
per-iteration generators are CUDA generators so latents and loss randomness are drawn there, and
the loop never reads a device value inside an iteration: the finiteness checks of losses and
gradient norms, the exploding-gradient alarm and the loss log are resolved together at each
log/eval/checkpoint step (one synchronisation), still naming the first bad iteration, before any
checkpoint is written. ``channels_last`` and ``compile`` (torch.compile, tried once at start on a
copy of the state; a failure falls back to eager with a warning and a log event) are opt-in.

Under ``torchrun`` the same function trains data-parallel: each rank takes its shard of the global
batch, gradients are averaged, rank 0 alone evaluates and writes files (:mod:`pgan_core.distributed`).

Models, optimisers and the D the losses see come from the build seam (:mod:`pgan_core.build`).
Discriminator-side methods hook in without touching the loop's structure: input transforms wrap D
for the losses (:class:`~pgan_core.build.AugmentedD` for DiffAugment, :class:`~pgan_core.build.MaskedD`
for MaskedGAN masks, applied as D(mask(augment(x)))), and a D may carry a *D plugin* (``D.d_plugin``, e.g. NICE's
:class:`~pgan_core.layers.nice.NiceRegularizer`) with three methods the D step calls::

    begin_d_step()                 before the D loss's forwards
    d_regularizer() -> (loss | None, terms)   extra D loss collected during them (added to L_D, terms logged)
    after_d_step(terms) -> terms   after opt_d.step(), given the loss terms (s_t = terms['d_real_sign']);
                                   adapts the plugin's state (kept in D's buffers, so in state.pt) and logs

Probes at every evaluation: G's mechanism probes and D's memorisation gap (:mod:`pgan_core.probes`).

Files in ``run_dir``: ``config.json``, ``log.jsonl`` (one JSON object per line, ``kind`` = loss,
metric or event), ``state.pt`` / ``snapshot.pt`` (+ ``.sha256``), ``record.json`` once complete.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from .build import (AugmentedD, MaskedD, build_run_models, d_input_mask, loss_view,  # noqa: F401 (re-exported)
                    make_optimizers, optimizers, run_models, to_channels_last)
from .checkpoint import SNAPSHOT_FILE, STATE_FILE, load_checkpoint, save_snapshot, save_state
from .config import RunConfig
from .data import batch_at, load_dataset, to_float
from .distributed import average_gradients, init_distributed
from .ema import ema_update
from .errors import ConfigError, IntegrityError, TrainingDiverged
from .fastpath import FastPath, resolve_fast_path
from .io import atomic_write_json, atomic_write_text, runs_root
from .losses import get_loss
from .metrics.evaluate import Evaluator
from .params import count_params
from .results import git_commit
from .probes import discriminator_probes, generator_probes
from .sampling import generate, make_input

LOG_FILE = "log.jsonl"
RECORD_FILE = "record.json"
PROBE_BATCH = 64            # evaluation inputs on which G's mechanism probes run (pgan_core.probes)
MEM_PROBE_IMAGES = 512      # fixed training / held-out (test split) images of D's memorisation gap probe
D_GRAD_ALARM = 1e4          # a discriminator gradient norm above this is logged and reported as exploding


@dataclass
class RunRecord:
    """What a finished (or resumed-and-finished) run reports."""
    config: dict[str, Any]
    config_key: str
    run_dir: str
    steps: int
    train_seconds: float                    # time in D/G updates only (no evaluation, no checkpoints)
    sec_per_iter: float
    real_img_per_s: float                   # real images consumed by D per training second
    params_G: dict[str, int]
    params_D: dict[str, int]
    history: list[dict[str, Any]] = field(default_factory=list)  # metric evaluations during training
    final: dict[str, Any] = field(default_factory=dict)          # metrics of the last evaluation
    device: str = "cpu"
    resumed_from_step: int | None = None
    status: str = "complete"
    alarms: list[dict[str, Any]] = field(default_factory=list)   # e.g. exploding D gradients (first step, count, max)
    code: dict[str, Any] = field(default_factory=dict)           # git commit (and dirty flag) the run finished at
    world_size: int = 1                                          # processes that trained it (pgan_core.distributed)
    fast_path: dict[str, Any] = field(default_factory=dict)      # what ran: bf16 / channels_last / compile, fallbacks

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("parameter 'device': got 'cuda' but no CUDA GPU is visible; allowed: 'auto' or 'cpu'")
    return torch.device(name)


def _step_seed(seed: int, step: int, k: int) -> int:
    """Seed of stream ``k`` (< 64) of iteration ``step``: D steps use k = 0.., the global RNG 62, the G step 63."""
    return (seed * 1_000_003 + step) * 64 + k


def _step_generator(seed: int, step: int, k: int, device: torch.device | None = None) -> torch.Generator:
    """The generator of stream ``k`` of iteration ``step``; on a CUDA device a CUDA generator (draws stay there)."""
    dev = device if device is not None and device.type == "cuda" else "cpu"
    return torch.Generator(device=dev).manual_seed(_step_seed(seed, step, k))


def _grad_norm(module: nn.Module) -> float:
    return float(_grad_norm_tensor(module))


def _grad_norm_tensor(module: nn.Module) -> torch.Tensor:
    """The global L2 norm of ``module``'s gradients as a 0-d float32 tensor on their device (no sync; two
    kernels through ``torch._foreach_norm`` on the GPU)."""
    grads = [p.grad.detach() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if grads[0].is_cuda:
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())
    return torch.stack([g.float().pow(2).sum() for g in grads]).sum().sqrt()


def compile_for_training(cfg: RunConfig, G: nn.Module, D: nn.Module, loss, data, inputs,
                         device: torch.device, fp: FastPath | None = None) -> tuple[nn.Module, nn.Module, dict]:
    """torch.compile G and D for the training steps, where it works: tried once on one real D and G step
    (forward and backward; the weights, buffers and gradients are restored after), G and D first, then G
    alone (WGAN-GP's double backward through D is not supported by compiled graphs). Returns the modules
    the steps call (originals on failure) and an event describing the outcome (logged and warned)."""
    import warnings

    fp = fp if fp is not None else resolve_fast_path(cfg, device, warn=False)
    state = {n: copy.deepcopy(m.state_dict()) for n, m in (("G", G), ("D", D))}
    real, _ = batch_at(data, 0, cfg.batch_size, cfg.seed)
    real = real.to(device)
    if fp.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    errors = []
    for which in (("G", "D"), ("G",)):
        t0 = time.perf_counter()
        try:
            kw = {} if fp.compile is True else {"mode": fp.compile}
            Gc = torch.compile(G, **kw) if "G" in which else G
            Dc = torch.compile(D, **kw) if "D" in which else D
            gen = _step_generator(cfg.seed, 0, 0, device)
            z = inputs.draw(cfg.batch_size, gen)
            with fp.autocast():
                with torch.no_grad():
                    fake = Gc(z)
                ld, _ = loss.d_loss(Dc, real, fake.float(), gen, gp_lambda=cfg.gp_lambda)
            ld.backward()
            with fp.autocast():
                lg = loss.g_loss(Dc, Gc(z))
            lg.backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            ok = True
        except Exception as e:                                   # noqa: BLE001 - any compile/runtime failure
            ok = False
            errors.append(f"{'+'.join(which)}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
        finally:
            for n, m in (("G", G), ("D", D)):
                m.load_state_dict(state[n])
                m.zero_grad(set_to_none=True)
        if ok:
            event = {"event": "compiled", "modules": list(which), "compile_seconds": round(time.perf_counter() - t0, 2),
                     "failed": errors}
            if errors:
                warnings.warn(f"torch.compile: {errors[0]}; compiled {'+'.join(which)} only", RuntimeWarning)
            return Gc, Dc, event
    warnings.warn(f"torch.compile failed ({'; '.join(errors)}); training runs eagerly", RuntimeWarning)
    return G, D, {"event": "compile_failed", "failed": errors}


def lr_factor(cfg: RunConfig, step: int) -> float:
    """Multiplier of both learning rates at iteration ``step`` (0-based): 1 without ``cfg.lr_decay``; with it, 1
    for the first ``round(lr_decay * steps)`` iterations, then linear to zero at ``steps``, so the last update uses
    ``1 / (steps - start)`` of the rate. The linear decay of the SNGAN experiments (Miyato et al., "Spectral
    Normalization for Generative Adversarial Networks", ICLR 2018, arXiv:1802.05957, decay over all iterations:
    ``lr_decay=0``), which ends a fixed budget at a settled generator instead of mid-oscillation."""
    if cfg.lr_decay is None:
        return 1.0
    start = round(cfg.lr_decay * cfg.steps)
    return 1.0 if step < start else (cfg.steps - step) / (cfg.steps - start)


def shorter_run(cfg: RunConfig, run_dir: Path) -> tuple[Path, int] | None:
    """A finished run beside ``run_dir`` whose config equals ``cfg`` except for fewer ``steps``, at a step where
    ``cfg`` logs, evaluates and checkpoints too: (its folder, its steps), the longest such, else None.

    Training from its final state is bit-identical to training ``cfg`` from scratch (every draw depends only on
    the seed and the iteration; learning rates and the EMA ramp-up depend on images seen, not on the planned
    total), so raising a budget pays only for the new iterations. A run with ``lr_decay`` is never extended:
    its schedule depends on the planned total."""
    cfg = cfg.resolved()
    if cfg.lr_decay is not None:
        return None
    best = None
    for d in run_dir.parent.glob("*/"):
        if d == run_dir or not (d / RECORD_FILE).is_file() or not (d / STATE_FILE).is_file():
            continue
        try:
            other = RunConfig.from_params(json.loads((d / "config.json").read_text())).resolved()
        except (OSError, ValueError, ConfigError):
            continue
        s = other.steps
        if s >= cfg.steps or any(v and s % v for v in (cfg.eval_every, cfg.ckpt_every, cfg.log_every)):
            continue
        if other.replace(steps=cfg.steps).key() == cfg.key() and (best is None or s > best[1]):
            best = (d, s)
    return best


def _read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:                          # a line cut by a crash: drop it
            break
    return out


def train(cfg: RunConfig, run_dir: str | Path | None = None, *, evaluator: Any | None = None,
          progress: bool = True, resume: bool = True,
          stop_after: int | None = None) -> RunRecord:
    """Train ``cfg`` in ``run_dir`` (default ``runs_root()/cfg.run_name()``) and return its record.

    ``evaluator`` has ``evaluate(sample_fn) -> dict`` (see :class:`pgan_core.metrics.Evaluator`);
    when None, one is built for ``cfg.eval_protocols`` (skipped if the list is empty).
    A complete run (``record.json`` with the same config key) is returned without training;
    a run with ``state.pt`` resumes from it. ``stop_after`` ends the call after that many
    iterations of this call (used by tests to simulate an interruption).
    """
    cfg = cfg.resolved()
    key = cfg.key()
    run_dir = Path(run_dir) if run_dir is not None else runs_root() / cfg.run_name()
    record_path = run_dir / RECORD_FILE
    if resume and record_path.is_file():
        rec = json.loads(record_path.read_text())
        if rec.get("config_key") == key:
            return RunRecord(**rec)

    # everything that can reject the config (data, models) runs before anything is written to run_dir
    device = resolve_device(cfg.device)
    dist_env = init_distributed(device.type)                  # world 1 (no torchrun): no process group, no change
    device = dist_env.device
    try:
        return _train(cfg, key, run_dir, record_path, device, dist_env, evaluator, progress, resume, stop_after)
    finally:
        dist_env.close()


def _train(cfg: RunConfig, key: str, run_dir: Path, record_path: Path, device: torch.device, dist_env: Any,
           evaluator: Any, progress: bool, resume: bool, stop_after: int | None) -> RunRecord:
    """The body of :func:`train`, on this process's device and rank (``dist_env``: a DistEnv)."""
    dist_env.check_batch(cfg.batch_size)
    data = load_dataset(cfg.dataset, "train", fraction=cfg.data_fraction, seed=cfg.seed, max_images=cfg.max_images)
    if cfg.batch_size > len(data):
        raise ConfigError(f"parameter 'batch_size': got {cfg.batch_size} but data_fraction={cfg.data_fraction} / "
                          f"max_images={cfg.max_images} leave only {len(data)} images; allowed: batch_size <= {len(data)}")
    inputs = make_input(cfg)                                  # Gaussian z or Spider image inputs
    on_gpu = device.type == "cuda"
    G, D = run_models(cfg, device)                            # the build seam (pgan_core.build)
    fp = resolve_fast_path(cfg, device)                       # bf16 / channels_last / compile as this device allows
    if fp.channels_last:
        to_channels_last(G, D)
    d_plugin = getattr(D, "d_plugin", None)                   # D-side plugin (NICE), see the module docstring
    if evaluator is not None or cfg.eval_protocols:           # fixed image sets of D's memorisation gap probe
        held = load_dataset(cfg.dataset, "test", seed=cfg.eval_seed, max_images=MEM_PROBE_IMAGES)  # disjoint split
        n_mem = min(MEM_PROBE_IMAGES, len(data), len(held))
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.eval_seed))[:n_mem]
        mem_train = to_float(data.images[pick]).to(device)    # (n_mem, C, 32, 32) training images of the run
        mem_held = to_float(held.images[:n_mem]).to(device)   # (n_mem, C, 32, 32) held-out (test split) images
    if on_gpu:                                                # 32 px sets fit on the GPU: no loader, no host copies
        torch.backends.cudnn.benchmark = True                 # fixed shapes: let cuDNN pick its fastest kernels
        data = dataclasses.replace(data, images=data.images.to(device), labels=data.labels.to(device))
    if dist_env.is_main:                                      # nothing is written before the config is accepted
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if cfg.ema_kimg > 0 else G
    loss = get_loss(cfg.loss)
    opt_g, opt_d = optimizers(cfg, G, D)
    evaluator = evaluator if dist_env.is_main else None       # metrics on rank 0 only
    if evaluator is None and cfg.eval_protocols and dist_env.is_main:
        evaluator = Evaluator(cfg.dataset, list(cfg.eval_protocols), domain_quality=cfg.domain_quality,
                              device=str(device))

    # ---- resume (from this run's own state, else by extending a finished shorter run of the same config)
    start, cur_nimg, train_seconds, resumed_from = 0, 0, 0.0, None
    log_path = run_dir / LOG_FILE
    state_path, state_key, log_source, extended = run_dir / STATE_FILE, key, log_path, None
    if resume and not state_path.is_file():
        extended = shorter_run(cfg, run_dir)
        if extended is not None:
            state_path, log_source = extended[0] / STATE_FILE, extended[0] / LOG_FILE
            state_key = cfg.replace(steps=extended[1]).resolved().key()
    if resume and state_path.is_file():
        st = load_checkpoint(state_path, expect_format="pgan-state-1", config_key=state_key)
        G.load_state_dict(st["G"]); D.load_state_dict(st["D"])
        if G_ema is not G:
            G_ema.load_state_dict(st["G_ema"])
        opt_g.load_state_dict(st["opt_g"]); opt_d.load_state_dict(st["opt_d"])
        start, cur_nimg, train_seconds, resumed_from = st["step"], st["cur_nimg"], st["train_seconds"], st["step"]
        kept = [e for e in _read_log(log_source) if e.get("step", 0) <= start and e.get("kind") != "event"]
        if dist_env.is_main:
            atomic_write_text(log_path, "".join(json.dumps(e) + "\n" for e in kept))
    else:
        kept = []
        if log_path.exists() and dist_env.is_main:
            log_path.unlink()
    dist_env.broadcast(G, D, G_ema)                           # every rank starts from rank 0's weights
    history = [e for e in kept if e.get("kind") == "metric"]
    explode = {"kind": "d_grad_explosion", "threshold": D_GRAD_ALARM, "first_step": None, "count": 0, "max": 0.0}
    for e in kept:
        if e.get("kind") == "alarm":
            explode.update({k: e[k] for k in ("first_step", "count", "max")})

    params_G, params_D = count_params(G), count_params(D)
    d_params = [p for p in D.parameters() if p.requires_grad]   # D's trainable weights (frozen in the G step)
    G_step, D_step, compile_event = G, D, None                # what the training steps call
    if fp.compile:
        G_step, D_step, compile_event = compile_for_training(cfg, G, D, loss, data, inputs, device, fp)
    D_loss_view = loss_view(cfg, D_step)                      # what the losses call: D(mask(augment(x)))
    log_f = open(log_path, "a") if dist_env.is_main else None

    def log(entry: dict) -> None:
        if log_f is not None:
            log_f.write(json.dumps(entry) + "\n")
            log_f.flush()

    def checkpoint(step: int) -> None:
        if not dist_env.is_main:
            return
        save_state(run_dir, G=G, D=D, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d, step=step, cur_nimg=cur_nimg,
                   train_seconds=train_seconds, config=cfg.to_dict(), config_key=key)
        save_snapshot(run_dir, G_ema=G_ema, step=step, config=cfg.to_dict(), config_key=key)

    probe_z = inputs.at(range(PROBE_BATCH), cfg.eval_seed).to(device)   # fixed inputs of G's mechanism probes

    def evaluate(step: int) -> dict:
        t0 = time.perf_counter()
        sample = lambda n: generate(G_ema, n, seed=cfg.eval_seed, device=device, inputs=inputs)  # noqa: E731
        metrics = evaluator.evaluate(sample)
        probes = {**generator_probes(G, probe_z), **discriminator_probes(D, mem_train, mem_held)}
        entry = {"kind": "metric", "step": step, "kimg": cur_nimg / 1000, "train_seconds": round(train_seconds, 4),
                 "eval_seconds": round(time.perf_counter() - t0, 3), **metrics, **probes}
        log(entry)
        history.append(entry)
        return entry

    bar = None
    if progress and dist_env.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=cfg.run_name()[:40], leave=False, mininterval=1.0)
    if extended is not None:
        log({"kind": "event", "step": start, "event": "extended", "from_run": extended[0].name})
    elif resumed_from is not None:
        log({"kind": "event", "step": start, "event": "resumed"})
    log({"kind": "event", "step": start, "event": "fast_path", **fp.to_dict()})
    if compile_event is not None:
        log({"kind": "event", "step": start, **compile_event})

    # Checks of every update (finite loss and gradient norm; D's exploding-gradient alarm). On CPU they run
    # at each update, before the optimiser step; on the GPU they are queued and resolved at the next
    # log/eval/checkpoint step in one synchronisation, in order, so the first bad iteration is still the
    # one named and no checkpoint is written after it.
    pending: list[tuple[str, int, torch.Tensor, torch.Tensor]] = []
    last_gn = {"discriminator": 0.0, "generator": 0.0}

    def note_d_grad(at: int, gn_d: float) -> None:
        if gn_d > D_GRAD_ALARM:                               # exploding D: report, do not hide
            explode["first_step"] = at if explode["first_step"] is None else explode["first_step"]
            explode["count"] += 1
            explode["max"] = max(explode["max"], gn_d)
            if explode["count"] == 1 or at % cfg.log_every == 0:
                log({"kind": "alarm", "step": at, "alarm": "d_grad_explosion", "grad_norm_d": gn_d,
                     **{k: explode[k] for k in ("first_step", "count", "max")}})

    def update(loss_t: torch.Tensor, opt: torch.optim.Optimizer, module: nn.Module, who: str, at: int) -> None:
        if not on_gpu:
            gn = _update(loss_t, opt, module, who, at, run_dir)
            last_gn[who] = gn
            if who == "discriminator":
                note_d_grad(at, gn)
            return
        opt.zero_grad(set_to_none=True)
        loss_t.backward()
        average_gradients(module)                              # over ranks under torchrun, else nothing
        pending.append((who, at, loss_t.detach().float(), _grad_norm_tensor(module)))
        opt.step()

    def resolve() -> None:
        if not pending:
            return
        vals = torch.stack([torch.stack([lv, gv]) for _, _, lv, gv in pending]).tolist()   # one sync
        for (who, at, _, _), (lv, gv) in zip(pending, vals):
            if not (math.isfinite(lv) and math.isfinite(gv)):
                pending.clear()
                raise _diverged(who, at, lv, gv, run_dir)
            last_gn[who] = gv
            if who == "discriminator":
                note_d_grad(at, gv)
        pending.clear()

    step = start
    try:
        G.train(); D.train()
        while step < cfg.steps:
            if stop_after is not None and step - start >= stop_after:
                resolve()
                return RunRecord(config=cfg.to_dict(), config_key=key, run_dir=str(run_dir), steps=step,
                                 train_seconds=train_seconds, sec_per_iter=train_seconds / max(step, 1),
                                 real_img_per_s=0.0, params_G=params_G, params_D=params_D, history=history,
                                 device=str(device), resumed_from_step=resumed_from, status="interrupted")
            t0 = time.perf_counter()
            if cfg.lr_decay is not None:                      # a function of the step only: resume stays exact
                f = lr_factor(cfg, step)
                for opt, base in ((opt_g, cfg.lr_g), (opt_d, cfg.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = base * f
            # layers that draw from torch's global RNG (PConv, NICE noise, dropout) get a per-iteration seed too,
            # so their draws depend only on (seed, step) and a resumed run stays bit-identical
            torch.manual_seed(dist_env.rank_seed(_step_seed(cfg.seed, step, 62)))   # per rank: shards draw apart
            terms: dict[str, Any] = {}
            # ---- discriminator: n_critic steps
            for k in range(cfg.n_critic):
                gen = _step_generator(cfg.seed, step, k, device)
                real, _ = batch_at(data, step * cfg.n_critic + k, cfg.batch_size, cfg.seed)   # on the data's device
                real = dist_env.shard(real).to(device, non_blocking=True)         # this rank's (B / world, C, H, W)
                if fp.channels_last:
                    real = real.contiguous(memory_format=torch.channels_last)
                z = dist_env.shard(inputs.draw(cfg.batch_size, gen)).to(device)  # global batch's z, this rank's rows
                if d_plugin is not None:
                    d_plugin.begin_d_step()
                with fp.autocast():
                    with torch.no_grad():
                        fake = G_step(z)
                    loss_d, terms = loss.d_loss(D_loss_view, real, fake.float(),
                                                dist_env.shard_generator(gen, cfg.batch_size), gp_lambda=cfg.gp_lambda)
                    if d_plugin is not None:                  # e.g. NICE: + gamma (L_cons(x) + L_cons(x~))
                        reg, reg_terms = d_plugin.d_regularizer()
                        loss_d = loss_d if reg is None else loss_d + reg
                        terms = {**terms, **reg_terms}
                update(loss_d, opt_d, D, "discriminator", step)
                if d_plugin is not None:                      # e.g. NICE: beta from r_t
                    terms = {**terms, **d_plugin.after_d_step(terms)}
            # ---- generator
            gen = _step_generator(cfg.seed, step, 63, device)
            z = dist_env.shard(inputs.draw(cfg.batch_size, gen)).to(device)
            _set_grad(d_params, not FREEZE_D_IN_G_STEP)         # D's weight gradients of the G step: never used
            with fp.autocast():
                loss_g = loss.g_loss(D_loss_view, G_step(z))
            update(loss_g, opt_g, G, "generator", step)
            _set_grad(d_params, True)
            dist_env.sync_buffers(G, D)                       # BN running statistics: mean over ranks
            cur_nimg += cfg.batch_size
            if G_ema is not G:
                ema_update(G_ema, G, batch_size=cfg.batch_size, cur_nimg=cur_nimg, ema_kimg=cfg.ema_kimg,
                           rampup=cfg.ema_rampup)
            step += 1
            boundary = (step % cfg.log_every == 0 or step == cfg.steps or step % cfg.ckpt_every == 0
                        or (evaluator is not None and cfg.eval_every and step % cfg.eval_every == 0))
            if on_gpu and boundary:
                resolve()                                     # waits for the GPU: inside the timed region
                torch.cuda.synchronize()
            train_seconds += time.perf_counter() - t0
            if bar is not None:
                bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                vals = dist_env.mean_over_ranks({"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                                                 **{k: float(v) for k, v in terms.items()}})
                log({"kind": "loss", "step": step, "loss_d": round(vals.pop("loss_d"), 6),
                     "loss_g": round(vals.pop("loss_g"), 6), "grad_norm_d": round(last_gn["discriminator"], 6),
                     "grad_norm_g": round(last_gn["generator"], 6), "train_seconds": round(train_seconds, 4),
                     **{k: round(v, 6) for k, v in vals.items()}})
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
                if evaluator is not None:
                    evaluate(step)
                dist_env.barrier()                            # the other ranks wait for rank 0's metrics
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                checkpoint(step)
        dist_env.dump(G=G, D=D, G_ema=G_ema)                  # test aid ($PGAN_DIST_DUMP), else nothing
    finally:
        if log_f is not None:
            log_f.close()
        if bar is not None:
            bar.close()

    rec = RunRecord(config=cfg.to_dict(), config_key=key, run_dir=str(run_dir), steps=step,
                    train_seconds=train_seconds, sec_per_iter=train_seconds / max(step, 1),
                    real_img_per_s=step * cfg.batch_size * cfg.n_critic / max(train_seconds, 1e-9),
                    params_G=params_G, params_D=params_D, history=history,
                    final={k: v for k, v in (history[-1] if history else {}).items() if k != "kind"},
                    device=str(device), resumed_from_step=resumed_from,
                    alarms=[explode] if explode["count"] else [], code=git_commit(), world_size=dist_env.world_size,
                    fast_path={**fp.to_dict(), "compile_outcome": (compile_event or {}).get("event")})
    if not dist_env.is_main:
        return rec
    if explode["count"]:
        import warnings

        warnings.warn(f"{cfg.run_name()}: discriminator gradient norm exceeded {D_GRAD_ALARM:g} in {explode['count']} "
                      f"steps (first at iteration {explode['first_step']}, max {explode['max']:.3g})", RuntimeWarning)
    atomic_write_json(record_path, rec.to_dict())
    return rec


# The G step differentiates through D for G's gradients only: D's weight gradients from it would be discarded
# (the next D step's zero_grad drops them), so D's weights are frozen during it (as StyleGAN2-ADA does). The
# weights every run ends with are unchanged (tests/test_training.py); False restores the old, wasteful order.
FREEZE_D_IN_G_STEP = True


def _set_grad(params: list[torch.Tensor], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def _update(loss: torch.Tensor, opt: torch.optim.Optimizer, module: nn.Module, who: str, step: int,
            run_dir: Path) -> float:
    """Backward, check loss and gradient norm are finite (else stop, keeping the last checkpoint), step.
    Returns the gradient norm."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(module)                                  # over ranks under torchrun, else nothing
    gn = _grad_norm(module)
    if not (math.isfinite(loss.item()) and math.isfinite(gn)):
        raise _diverged(who, step, loss.item(), gn, run_dir)
    opt.step()
    return gn


def _diverged(who: str, step: int, loss: float, grad_norm: float, run_dir: Path) -> TrainingDiverged:
    last = run_dir / STATE_FILE
    where = f"last good checkpoint kept at {last}" if last.is_file() else "no checkpoint was written before it"
    return TrainingDiverged(f"training diverged at iteration {step}: {who} loss={loss} grad_norm={grad_norm} "
                            f"(non-finite); {where}. Lower the learning rate or change the loss.")


def load_record(run_dir: str | Path) -> RunRecord:
    path = Path(run_dir) / RECORD_FILE
    if not path.is_file():
        raise IntegrityError(f"no {RECORD_FILE} in {run_dir}: the run has not completed")
    return RunRecord(**json.loads(path.read_text()))
