"""Multi-process data-parallel training under ``torchrun``: the per-rank tools (the launcher for notebooks is
:mod:`pgan_core.launcher`).

``train(cfg, run_dir)`` runs unchanged under ``torchrun --nproc_per_node N``: it reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` (:func:`init_distributed`), opens a process group (NCCL on GPUs,
gloo on CPU, with a timeout so a lost rank ends the run instead of hanging it) and splits every
iteration's work N ways. Without those variables (or with ``WORLD_SIZE=1``) nothing here does
anything: no process group, and results bit-identical to a plain single-process run.

What each rank does (``RunConfig.batch_size`` is the GLOBAL batch B; it must divide by N):

* Data: the global batch of iteration t is ``batch_at(data, t, B, seed)``; rank r trains on its
  contiguous shard ``[r B/N, (r+1) B/N)`` (:meth:`DistEnv.shard`). This is the partition a
  ``DistributedSampler`` makes (the same per-epoch permutation on every rank, disjoint shards that
  together cover the epoch), applied to our stateless stream, so resume stays exact.
* Latents (and WGAN-GP's interpolation weights) come from the per-iteration generators that every
  rank seeds identically: each rank draws the global batch's z and keeps its shard, and
  :meth:`DistEnv.shard_generator` skips the eps draws of the samples before the shard. So in data,
  latents and eps, N processes with B/N each see exactly what one process with B sees.
* Stochastic layers (PConv, NICE noise, dropout) and DiffAugment draw from torch's global RNG,
  which is seeded per iteration AND per rank (:meth:`DistEnv.rank_seed`; rank 0 keeps the
  single-process seed): shards get independent draws, not copies. These draws therefore differ
  from a 1-process run (same distribution, other samples).
* Models: same seeded initialisation on every rank, then parameters and buffers are broadcast from
  rank 0 (:meth:`DistEnv.broadcast`); perturbation masks are buffers built from ``mask_seed``, so
  they agree anyway (tests check it). After every backward the gradients of the module about to be
  stepped are averaged over ranks (:func:`average_gradients`): the loss on a shard is a mean over
  its samples, so the average of the N shard gradients is the gradient of the global-batch loss.
  Floating-point buffers (BatchNorm running statistics) are averaged once per iteration
  (:meth:`DistEnv.sync_buffers`), so G, D and G_ema stay identical on every rank.
* Rank 0 alone evaluates metrics (the others wait at a barrier), writes ``log.jsonl``, the
  checkpoints and ``record.json``, and shows the progress bar; logged losses are means over ranks.
  Every rank loads ``state.pt`` on resume.

Why explicit all-reduce rather than ``DistributedDataParallel``: the GAN losses call D two or three
times before one backward, and WGAN-GP backpropagates through a gradient (double backward). DDP
in torch 2.14 (``broadcast_buffers=False``) gives the same gradients as the all-reduce for ns,
hinge and WGAN-GP (checked once by hand on 2 gloo ranks with a BN-free DCGAN critic: largest
difference 0.0), but it needs wrapped modules
(``module.`` state-dict keys, EMA and probes on the inner module), it would also all-reduce D's
gradients in every G step unless each G step ran under ``no_sync``, and its support for several
forwards per backward and for double backward has changed between versions. Averaging the
flattened gradients after each backward (what NVlabs/stylegan2-ada-pytorch does for the same
reasons) is a few lines, reduces only the module being stepped, and keeps the training loop's
modules as they are. The price is no overlap of communication with the backward pass.

Limits (be honest about what matches):

* BatchNorm in training mode normalises each rank's shard with the shard's own statistics, so with
  BN (every generator here; the DCGAN/ResNet discriminators) N processes do NOT reproduce one
  process with B exactly, as with DDP without SyncBatchNorm. ``torch.nn.SyncBatchNorm`` would fix
  it on GPUs but refuses CPU tensors in torch 2.14 ("SyncBatchNorm expected input tensor to be on
  GPU"), so it is not used. Exact equivalence (to float rounding) holds for BN-free models; the
  tests check it with a BN-free generator and critic.
* The run key does not include N (the record stores ``world_size``), so a completed 1-process run
  is reused by an N-process launch of the same config and vice versa.

Failures never hang: bad input (``nproc``, ``backend``, ``batch_size``) is refused before anything
starts; an exception on any rank (a compile failure included) ends that rank, torchrun then stops
the others and :func:`pgan_core.launcher.launch` raises :class:`~pgan_core.errors.DistributedError` naming the first
exception; a rank stuck in a collective is ended by the process-group timeout
(``$PGAN_DIST_TIMEOUT``, 1800 s: raise it if rank 0's evaluations take longer), and ``launch``'s own
``timeout`` kills every rank.

Launch from a notebook with :func:`pgan_core.launcher.launch` (``python -m torch.distributed.run --standalone`` as a
subprocess with a timeout; output in ``run_dir/launch.log``), or from a shell::

    torchrun --standalone --nproc_per_node 2 -m pgan_core.train_cli --config cfg.json --run-dir runs/x
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn

from .errors import ConfigError, bad_param

BACKENDS = ("gloo", "nccl")
DEFAULT_TIMEOUT_S = 1800.0      # collective timeout: long enough for rank 0's evaluations, short of a hang
DUMP_ENV = "PGAN_DIST_DUMP"     # test aid: a folder where every rank saves its final G, D, G_ema (rank<r>.pt)


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits: rank among ``world_size`` processes, its device, the backend
    (None when ``world_size == 1``: no process group), and whether it opened the group."""
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    # ---- data
    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise bad_param("batch_size", batch_size, f"a multiple of the number of processes ({self.world_size}); "
                            "batch_size is the global batch, split evenly over the processes")

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch: (B, ...) -> (B / world_size, ...)."""
        if not self.active:
            return x
        b = x.shape[0] // self.world_size
        return x[self.rank * b:(self.rank + 1) * b]

    def shard_generator(self, gen: torch.Generator, global_batch: int, draws_per_sample: int = 1) -> torch.Generator:
        """``gen`` advanced past the uniform draws of the samples before this rank's shard, so a loss drawing
        ``draws_per_sample`` uniforms per sample of its shard (WGAN-GP's eps) gets the global batch's values.
        CPU uniform draws are serial, so ``rand(k)`` then ``rand(b)`` equals ``rand(k + b)[k:]``; a CUDA generator
        (Philox, advanced in blocks) gives other but equally distributed values."""
        if self.active and self.rank:
            torch.rand(self.rank * (global_batch // self.world_size) * draws_per_sample, generator=gen, device=gen.device)
        return gen

    def rank_seed(self, seed: int) -> int:
        """Per-rank seed of torch's global RNG: rank 0 keeps ``seed`` (the single-process value)."""
        return seed if self.rank == 0 else (seed + self.rank * 0x9E3779B97F4A7C15) % (1 << 63)

    # ---- models
    @torch.no_grad()
    def broadcast(self, *modules: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.active:
            return
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                dist.broadcast(t.data, src=0)

    @torch.no_grad()
    def sync_buffers(self, *modules: nn.Module) -> None:
        """Average floating-point buffers (BatchNorm running statistics) over ranks; identical buffers
        (perturbation masks) stay bit-identical, integer counters are equal on every rank already."""
        if not self.active:
            return
        bufs = [b for m in modules for b in m.buffers() if b.is_floating_point()]
        if bufs:
            _all_reduce_mean_([b.data for b in bufs], self.world_size)

    # ---- logging and coordination
    def mean_over_ranks(self, values: dict[str, float]) -> dict[str, float]:
        """Mean of each logged scalar over ranks (identity for one process)."""
        if not self.active or not values:
            return values
        t = torch.tensor(list(values.values()), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return dict(zip(values, (t / self.world_size).tolist()))

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def dump(self, **modules: nn.Module) -> None:
        """Test aid: if ``$PGAN_DIST_DUMP`` is set, save this rank's state dicts to ``rank<r>.pt`` there."""
        folder = os.environ.get(DUMP_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            torch.save({k: {n: v.detach().cpu() for n, v in m.state_dict().items()} for k, m in modules.items()},
                       Path(folder) / f"rank{self.rank}.pt")

    def close(self) -> None:
        """Destroy the process group if this DistEnv opened it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _all_reduce_mean_(tensors: list[torch.Tensor], world_size: int) -> None:
    """In-place mean over ranks of a list of tensors, as one flattened all-reduce."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world_size
    for t, v in zip(tensors, flat.split([t.numel() for t in tensors])):
        t.copy_(v.view_as(t))


def average_gradients(module: nn.Module) -> None:
    """Average ``module``'s gradients over ranks (a no-op without a process group). Called after each
    backward, before the gradient norm is measured and the optimiser steps, on every rank."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if grads:
        _all_reduce_mean_(grads, dist.get_world_size())


# ---------------------------------------------------------------- setup

def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}: got {raw!r}; allowed: an integer >= 0 (set by torchrun)") from None
    if value < 0:
        raise ConfigError(f"environment variable {name}: got {raw!r}; allowed: an integer >= 0 (set by torchrun)")
    return value


def check_backend(backend: str | None, device_kind: str) -> str:
    """The process-group backend for ``device_kind`` ('cpu' or 'cuda'): nccl for cuda, gloo for cpu,
    unless ``backend`` names one. NCCL without a visible GPU is refused."""
    if backend is None:
        return "nccl" if device_kind == "cuda" else "gloo"
    if backend not in BACKENDS:
        raise bad_param("backend", backend, "None (auto: nccl on GPUs, gloo on CPU), 'gloo' or 'nccl'")
    if backend == "nccl" and (device_kind != "cuda" or not torch.cuda.is_available()):
        raise ConfigError(f"parameter 'backend': got 'nccl' but {'no CUDA GPU is visible' if not torch.cuda.is_available() else 'the run is on the CPU'}; "
                          "allowed: 'gloo' or None (auto) on CPU; NCCL needs one GPU per process")
    return backend


def init_distributed(device_kind: str, *, backend: str | None = None,
                     timeout_s: float | None = None) -> DistEnv:
    """Detect rank and world size from ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (torchrun) and open
    the process group if there is more than one process and none is open yet.

    ``device_kind`` is 'cpu' or 'cuda' (the resolved ``RunConfig.device``); on cuda each process
    uses GPU ``LOCAL_RANK``. ``backend`` defaults to ``$PGAN_DIST_BACKEND`` or auto (nccl / gloo).
    ``timeout_s`` (default ``$PGAN_DIST_TIMEOUT`` or 1800 s) bounds every collective, so a rank that
    died or stalls ends the run with an error instead of a hang. Close with :meth:`DistEnv.close`.
    """
    backend = check_backend(backend if backend is not None else (os.environ.get("PGAN_DIST_BACKEND") or None),
                            device_kind)
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world < 1 or rank >= world:
        raise ConfigError(f"environment variables RANK={rank}, WORLD_SIZE={world}: allowed: 0 <= RANK < WORLD_SIZE")
    device = torch.device(device_kind)
    if device_kind == "cuda" and world > 1:
        n_gpu = torch.cuda.device_count()
        if local_rank >= n_gpu:
            raise ConfigError(f"parameter 'nproc': process LOCAL_RANK={local_rank} has no GPU ({n_gpu} visible); "
                              f"allowed: at most {n_gpu} processes per node on cuda")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world == 1:
        return DistEnv(device=device)
    if dist.is_initialized():                                 # opened by the caller (e.g. a test harness)
        if dist.get_world_size() != world:
            raise ConfigError(f"environment variable WORLD_SIZE={world} but the open process group has "
                              f"{dist.get_world_size()} processes")
        return DistEnv(rank, local_rank, world, dist.get_backend(), device, owns_group=False)
    if timeout_s is None:
        timeout_s = float(os.environ.get("PGAN_DIST_TIMEOUT") or DEFAULT_TIMEOUT_S)
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
    return DistEnv(rank, local_rank, world, backend, device, owns_group=True)
