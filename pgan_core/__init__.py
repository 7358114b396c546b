"""pgan_core: the library behind the Perturbative GAN paper companion.

Public API (everything a notebook needs):

* ``RunConfig``, ``PROFILES``, ``get_profile``  (config)
* ``METHODS``, ``get_method``, ``build_models``, ``method_names``  (registry)
* ``train``, ``RunRecord``  (training loop)
* ``launch``  (the same run on N processes with torchrun, from a notebook: pgan_core.launcher)
* ``run_grid``, ``Grid``  (methods x datasets x seeds)
* ``Results``  (results folder + provenance)
* ``count_params``  (trainable vs fixed)
"""
from __future__ import annotations

__version__ = "0.1.0"

from .config import PROFILES, RunConfig, auto_profile, get_profile  # noqa: E402
from .errors import ConfigError, DataError, DistributedError, IntegrityError, PganError, TrainingDiverged  # noqa: E402
from .registry import METHODS, build_models, get_method, method_names  # noqa: E402

__all__ = ["PROFILES", "RunConfig", "auto_profile", "get_profile", "ConfigError", "DataError", "IntegrityError",
           "PganError", "TrainingDiverged", "DistributedError", "METHODS", "build_models", "get_method", "method_names",
           "train", "RunRecord", "launch", "run_grid", "Grid", "Results", "count_params", "__version__"]


def __getattr__(name):  # lazy: keep `import pgan_core` light
    if name in ("train", "RunRecord"):
        from . import training as _t
        return getattr(_t, name)
    if name == "launch":
        from .launcher import launch
        return launch
    if name in ("run_grid", "Grid"):
        from . import experiments as _e
        return getattr(_e, name)
    if name == "Results":
        from .results import Results
        return Results
    if name == "count_params":
        from .params import count_params
        return count_params
    raise AttributeError(name)
