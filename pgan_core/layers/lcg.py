"""Linear congruential generator (LCG) for algorithmic perturbation masks.

Scope: the mask generator of the Perturbative GAN code's ``LCGNoiseLayer2D`` (Kishi et al. 2019,
arXiv:1902.01514, "Perturbative GAN: GAN with Perturbation Layers"). A mask element is a deterministic
function of (layer seed, element index), so hardware can regenerate masks instead of storing them.

Recurrence (exact integer arithmetic, raster order (c, h, w) of the mask)::

    s_0     = seed mod 2^32
    s_{k+1} = (65539 * s_k + 1) mod 2^32
    u_k     = s_{k+1} / (2^32 - 1),   k = 0 .. n-1   (the first value comes from s_1; u_k in [0, 1])

The multiplier 65539 is RANDU's. With increment 1 the Hull-Dobell conditions fail (a - 1 = 65538
is not divisible by 4), so the period is shorter than 2^32 and the stream is statistically poor;
we reproduce it because it is the authors' generator, not because it is a good one.

Vectorisation (block jump-ahead): s_k = A_k * s_0 + C_k (mod 2^32) with the affine maps
A_k = a^k and C_k = c * (a^{k-1} + ... + 1). The maps for k = 1..2L follow from those for
k = 1..L by one doubling step, A_{L+j} = A_j * A_L and C_{L+j} = A_j * C_L + C_j. We build the maps
for one block (k = 1..B), the block starts x_b = s_{bB} with the jump map (A_B, C_B) raised the same
way, and then every state at once as s_{bB+j} = A_j * x_b + C_j. All products are of two values
< 2^32, so they fit in uint64, and each is reduced mod 2^32 before the next operation. n = 10^6
takes about 10 ms.

In-forward regeneration (:func:`lcg_uniform_torch`, used by the perturbation layer's ``'lcg_forward'``
masks): the same values from torch int64 ops on any device, so a mask can be rebuilt from its seed in
every forward pass instead of being held. The blocks are those above, with the block maps and the block
starts as Python integers (nothing is read back from the device). torch has no uint64, and a product of
two values < 2^32 overflows int64, so products are split at 16 bits:
a b mod 2^32 = (a_lo b + ((a_hi b) mod 2^16) 2^16) mod 2^32 with a = a_hi 2^16 + a_lo, whose terms stay
below 2^48. Working memory while one mask is built: a few int64 words per element of that mask (the
states, the split products, the float64 quotient), freed when it is done; the (A_j, C_j) of one block
(2 x 1024 integers) are cached per process, as a hardware generator holds its constants.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ..errors import bad_param

LCG_A = 65539                # multiplier
LCG_C = 1                    # increment
LCG_M = 2 ** 32              # modulus
_MASK = np.uint64(LCG_M - 1)  # x & _MASK == x mod 2^32 for uint64 x


def _check(seed: int, n: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise bad_param("seed", seed, "an integer")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise bad_param("n", n, "an integer >= 0")


def _affine_powers(a: np.uint64, c: np.uint64, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Maps (A_k, C_k), k = 1..n, of the k-fold affine step x -> a x + c mod 2^32 (uint64 arrays)."""
    A = np.empty(n, dtype=np.uint64)
    C = np.empty(n, dtype=np.uint64)
    if n == 0:
        return A, C
    A[0], C[0] = a, c                                                 # k = 1
    filled = 1
    while filled < n:                                                 # doubling: k = L+1 .. L+step, L = filled
        step = min(filled, n - filled)
        A_L, C_L = A[filled - 1], C[filled - 1]
        A_j, C_j = A[:step], C[:step]
        A[filled:filled + step] = (A_j * A_L) & _MASK                 # A_{L+j} = A_j A_L
        C[filled:filled + step] = (((A_j * C_L) & _MASK) + C_j) & _MASK  # C_{L+j} = A_j C_L + C_j
        filled += step
    return A, C


def lcg_states(seed: int, n: int, *, block: int = 1024) -> np.ndarray:
    """The states s_1 .. s_n (uint32, length n) of the LCG started at s_0 = seed mod 2^32."""
    _check(seed, n)
    n = int(n)
    if n == 0:
        return np.empty(0, dtype=np.uint32)
    s0 = np.uint64(int(seed) % LCG_M)
    B = min(block, n)
    A, C = _affine_powers(np.uint64(LCG_A), np.uint64(LCG_C), B)      # s_j = A_j s_0 + C_j, j = 1..B
    n_blocks = -(-n // B)
    A_blk, C_blk = _affine_powers(A[-1], C[-1], n_blocks - 1)         # jumps by B, 2B, ...
    x = np.empty(n_blocks, dtype=np.uint64)                           # block starts x_b = s_{bB}
    x[0] = s0
    x[1:] = (((A_blk * s0) & _MASK) + C_blk) & _MASK
    s = np.multiply.outer(x, A)                                       # (n_blocks, B): A_j x_b
    s &= _MASK
    s += C                                                            # + C_j
    s &= _MASK
    return s.reshape(-1)[:n].astype(np.uint32)


def lcg_uniform(seed: int, n: int) -> torch.Tensor:
    """n float32 values u_k = s_{k+1} / (2^32 - 1) in [0, 1], k = 0 .. n-1, from the given seed."""
    s = lcg_states(seed, n)
    u = s.astype(np.float64) / float(LCG_M - 1)                       # exact-ish float64, rounded once to float32
    return torch.from_numpy(u.astype(np.float32))



_M32 = 0xFFFFFFFF     # x & _M32 == x mod 2^32 for int64 x >= 0
TORCH_BLOCK = 1024    # states per block of lcg_uniform_torch


@functools.lru_cache(maxsize=8)
def _block_maps(B: int) -> tuple[list[int], list[int], int, int]:
    """(A_j, C_j) for j = 1..B and the jump map (A_B, C_B), as Python integers (seed-independent constants)."""
    A, C, a, c = [], [], 1, 0
    for _ in range(B):
        a, c = (LCG_A * a) % LCG_M, (LCG_A * c + LCG_C) % LCG_M      # one more step of x -> 65539 x + 1
        A.append(a), C.append(c)
    return A, C, a, c


def _mulmod32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a * b mod 2^32 for int64 tensors with values in [0, 2^32), without int64 overflow (broadcasting)."""
    lo = (a & 0xFFFF) * b                                             # a_lo b < 2^48
    hi = (((a >> 16) * b) & 0xFFFF) << 16                             # ((a_hi b) mod 2^16) 2^16 < 2^32
    return (lo + hi) & _M32


def lcg_uniform_torch(seed: int, n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """The values of :func:`lcg_uniform` (float32, length n, bit-identical), computed with torch ops on ``device``.

    Same block jump-ahead as :func:`lcg_states`: the maps of one block (k = 1..B) are constants, the block
    starts x_b = s_{bB} follow from the seed by the jump map (Python integers, one per block), and every state
    is s_{bB+j} = A_j x_b + C_j, one broadcast over a (blocks, B) grid.
    """
    _check(seed, n)
    n = int(n)
    if n == 0:
        return torch.empty(0, dtype=torch.float32, device=device)
    B = min(TORCH_BLOCK, n)
    A, C, a_B, c_B = _block_maps(B)
    starts, x = [], int(seed) % LCG_M
    for _ in range(-(-n // B)):                                       # x_b = s_{bB}, b = 0 .. blocks-1
        starts.append(x)
        x = (a_B * x + c_B) % LCG_M
    x_b = torch.tensor(starts, dtype=torch.int64, device=device).view(-1, 1)          # (blocks, 1)
    A_j = torch.tensor(A, dtype=torch.int64, device=device).view(1, B)                # (1, B)
    C_j = torch.tensor(C, dtype=torch.int64, device=device).view(1, B)
    s = ((_mulmod32(x_b, A_j) + C_j) & _M32).view(-1)[:n]            # s_{bB+j} = A_j x_b + C_j: (n,)
    return (s.to(torch.float64) / float(LCG_M - 1)).to(torch.float32)  # u, rounded once to float32
