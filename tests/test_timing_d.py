"""pgan_core.timing.time_d_steps: interleaved D-step timing of labelled variants (masks, DiffAugment)."""
import pytest

from pgan_core.errors import ConfigError
from pgan_core.timing import time_d_steps


def test_time_d_steps_rows_and_masks():
    pol = "color,translation,cutout"
    df = time_d_steps({"base": {"method": "sngan", "diffaugment": pol},
                       "both": {"method": "sngan-mask-both", "diffaugment": pol},
                       "spectral": {"method": "sngan-mask-spectral"}},
                      width=2, batch_size=4, iters=2, repeats=2, warmup=1)
    assert list(df.columns) == ["label", "method", "repeat", "sec_per_d_step"]
    assert len(df) == 6 and set(df["label"]) == {"base", "both", "spectral"}
    assert df.loc[df.label == "both", "method"].iloc[0] == "sngan-mask-both"
    assert (df["sec_per_d_step"] > 0).all()


def test_time_d_steps_rejects_bad_overrides():
    with pytest.raises(ConfigError, match="d_mask_ratio"):
        time_d_steps({"x": {"method": "sngan", "d_mask_ratio": 0.5}}, width=2, batch_size=4, iters=1, repeats=1)
