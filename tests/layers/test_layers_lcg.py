"""LCG mask generator: exact states against a plain loop and hand-computed values, speed, errors."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from pgan_core.errors import ConfigError
from pgan_core.layers.lcg import lcg_states, lcg_uniform


def loop_states(seed: int, n: int) -> list[int]:
    s, out = seed % 2 ** 32, []
    for _ in range(n):
        s = (65539 * s + 1) % 2 ** 32
        out.append(s)
    return out


def test_first_states_seed0_by_hand():
    # s_1 = 1; s_2 = 65539 + 1 = 65540; s_3 = 65539 * 65540 + 1 = 4295426061 = 2^32 + 458765
    assert 65539 * 65540 + 1 - 2 ** 32 == 458765
    assert lcg_states(0, 3).tolist() == [1, 65540, 458765]
    u = lcg_uniform(0, 3)
    expected = torch.tensor([1, 65540, 458765], dtype=torch.float64) / (2 ** 32 - 1)
    assert torch.equal(u, expected.float())


@pytest.mark.parametrize("seed", [0, 1, 7, 10, 123456789, 2 ** 32 - 1, 2 ** 40 + 3])
def test_states_match_python_loop(seed):
    s = lcg_states(seed, 5000)
    assert s.dtype == np.uint32
    assert s.tolist() == loop_states(seed, 5000)


@pytest.mark.parametrize("n", [0, 1, 2, 1023, 1024, 1025, 2049])
def test_block_boundaries(n):
    assert lcg_states(5, n).tolist() == loop_states(5, n)


def test_uniform_values_dtype_and_range():
    u = lcg_uniform(3, 5000)
    assert u.dtype == torch.float32 and u.shape == (5000,)
    assert float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    ref = np.array(loop_states(3, 5000), dtype=np.float64) / (2 ** 32 - 1)
    assert np.array_equal(u.numpy(), ref.astype(np.float32))


def test_seed_is_taken_mod_2_32():
    assert np.array_equal(lcg_states(2 ** 32 + 5, 100), lcg_states(5, 100))


def test_million_values_are_the_recurrence_and_uniform():
    """A million values (the vectorised path; its speed is a bench matter, bench/bench_mask_regen.py)."""
    u = lcg_uniform(1, 10 ** 6)
    assert u.shape == (10 ** 6,) and float(u.min()) >= 0.0 and float(u.max()) <= 1.0
    ref = np.array(loop_states(1, 10 ** 6)[-5:], dtype=np.float64) / (2 ** 32 - 1)
    assert np.array_equal(u[-5:].numpy(), ref.astype(np.float32))          # the tail too
    assert abs(float(u.double().mean()) - 0.5) < 0.01


@pytest.mark.parametrize("kwargs, name", [(dict(seed=0, n=-1), "n"), (dict(seed="0", n=3), "seed"),
                                          (dict(seed=0, n=2.5), "n")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}'"):
        lcg_states(**kwargs)


# ---------------------------------------------------------------- in-forward generator (torch ops)

@pytest.mark.parametrize("seed", [0, 1, 7, 123456789, 2 ** 32 - 1, 2 ** 40 + 3])
@pytest.mark.parametrize("n", [0, 1, 2, 1023, 1024, 1025, 2049, 40000])
def test_torch_generator_is_bit_identical_to_numpy(seed, n):
    from pgan_core.layers.lcg import lcg_uniform_torch

    u = lcg_uniform_torch(seed, n)
    assert u.dtype == torch.float32 and u.shape == (n,)
    assert torch.equal(u, lcg_uniform(seed, n))


def test_torch_generator_matches_the_loop_and_refuses_bad_input():
    from pgan_core.layers.lcg import lcg_uniform_torch

    ref = np.array(loop_states(11, 3000), dtype=np.float64) / (2 ** 32 - 1)
    assert np.array_equal(lcg_uniform_torch(11, 3000).numpy(), ref.astype(np.float32))
    with pytest.raises(ConfigError, match="'n'"):
        lcg_uniform_torch(0, -1)
    with pytest.raises(ConfigError, match="'seed'"):
        lcg_uniform_torch(1.5, 3)
