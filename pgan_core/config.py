"""The one configuration dataclass of a training run, and the named profiles.

``RunConfig`` holds every setting of one training run (method, data, optimiser, schedule,
evaluation). Values left as ``None`` are filled from the method's registry entry (the paper's
settings) by :meth:`RunConfig.resolved`. Profiles are named sets of defaults:

* ``smoke``: seconds on a CPU; tiny widths, a few steps, small data; used by nbval and CI.
* ``cpu``:   a real but small reproduction on a 2-core CPU (tens of minutes per notebook).
* ``paper``: the papers' settings (full data, paper widths and iterations, 10k/50k-sample
  Inception metrics); meant for a GPU.

Bad values raise :class:`~pgan_core.errors.ConfigError` naming the parameter and what is allowed.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .augment import parse_policy
from .data import DATASETS
from .errors import ConfigError, bad_param, check_choice, check_positive, check_range
from .io import runs_relative, stable_hash
from .layers.masking import MASK_KINDS
from .layers.pconv import PERTURB_KINDS
from .metrics.evaluate import parse_protocol
from .registry import builder_overrides, get_method

PROFILE_NAMES = ("smoke", "cpu", "paper")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")   # torch.compile modes
LOSS_NAMES = ("ns", "hinge", "wgan-gp")
DEVICE_NAMES = ("auto", "cpu", "cuda")
DATASET_NAMES = DATASETS                   # pgan_core.data
G_INPUT_NAMES = ("gaussian", "generator") + DATASET_NAMES   # generator inputs (Spider GAN: a dataset's images)
# Fields added after the first release: left out of the run key while they hold these defaults, so run
# folders trained before they existed keep their keys (and are reused, not retrained).
KEY_OPTIONAL_DEFAULTS = {"g_input": "gaussian", "g_input_res": 10, "g_input_noise": 0.0, "g_input_snapshot": None,
                         "diffaugment": "", "lr_decay": None, "channels_last": False, "compile": False, "cpu_amp": False, "pconv_kind": None, "pconv_rate": None, "nice_gamma": None,
                         "nice_eta": None, "d_mask": "", "d_mask_prob": 1.0, "d_mask_ratio": 0.3, "d_mask_patch": 4,
                         "d_mask_grid": "wrap", "d_mask_bands": 4, "d_mask_n_masked": 1, "d_mask_balanced": True,
                         "d_mask_keep_dc": True}
# Discriminator-builder options a run may override (None = the method's registry setting), and the D keyword
# argument that must be set in the method's d_kwargs for the option to apply (PConv: conv='pconv'; NICE: nice=True).
D_BUILDER_OPTIONS = {"pconv_kind": ("conv", "pconv"), "pconv_rate": ("conv", "pconv"),
                     "nice_gamma": ("nice", True), "nice_eta": ("nice", True)}
D_MASK_SPATIAL = ("d_mask_ratio", "d_mask_patch", "d_mask_grid")
D_MASK_SPECTRAL = ("d_mask_bands", "d_mask_n_masked", "d_mask_balanced", "d_mask_keep_dc")


@dataclass(frozen=True)
class RunConfig:
    # --- what to train
    method: str = "dcgan"                 # registry name (pgan_core.registry.METHODS)
    dataset: str = "mnist"                # one of DATASET_NAMES
    data_fraction: float = 1.0            # class-balanced fraction of the train split, (0, 1]
    max_images: int | None = None         # cap on training images (smoke profile), None = all
    seed: int = 0                         # seeds data order, latents, init; masks use mask_seed
    # --- model
    width: int = 32                       # base channel count w (see each model's docstring)
    z_dim: int = 128                      # latent size (the Perturbative GAN scripts use 128)
    noise_level: float | None = None      # override of the perturbation level, None = method's
    mask_seed: int = 0                    # base seed of the perturbation masks (layer i: +10 i)
    # --- generator input (Spider GAN, Asokan & Seelamantula 2023): 'gaussian' = z ~ N(0, I_z_dim);
    # a dataset name = its train images, grayscale, resized to g_input_res^2 and flattened (unpaired);
    # 'generator' = the outputs of a trained generator (cascading Spider GAN, g_input_snapshot)
    g_input: str = "gaussian"
    g_input_res: int = 10                 # side of the resized source image (input size g_input_res^2)
    g_input_noise: float = 0.0            # std of Gaussian noise added to image inputs (the authors' 0.25 variant)
    # snapshot.pt of a finished run, for g_input='generator'; stored relative to the runs root ($PGAN_RUNS) when it
    # lies under it (a relative path is read from there), so run keys and provenance name no machine's folders
    g_input_snapshot: str | None = None
    # --- optimisation (None = the method's paper setting)
    loss: str | None = None               # 'ns' (non-saturating), 'hinge', 'wgan-gp'
    lr_g: float | None = None
    lr_d: float | None = None
    betas_g: tuple[float, float] | None = None
    betas_d: tuple[float, float] | None = None
    n_critic: int | None = None           # D steps per G step (None = the method's setting, default 1)
    # learning-rate schedule: None = constant (the methods' papers); a fraction f in [0, 1) = both rates constant
    # for the first f * steps iterations, then decayed linearly to zero at the last (pgan_core.training.lr_factor)
    lr_decay: float | None = None
    diffaugment: str = ""                 # DiffAugment policy on every D input, e.g. 'color,translation,cutout'; '' = off
    # --- discriminator-side methods (PConv, NICE, MaskedGAN); None = the method's registry setting
    pconv_kind: str | None = None         # PConv perturbation: 'dropout', 'channel', 'gaussian' (PConv methods only)
    pconv_rate: float | None = None       # PConv rate p in [0, 1) (PConv methods only)
    nice_gamma: float | None = None       # NICE consistency weight gamma >= 0 (NICE methods only; 0 = noise only)
    nice_eta: float | None = None         # NICE target eta of r_t in [-1, 1] (NICE methods only)
    # MaskedGAN masking of every D input, after DiffAugment: D(mask(augment(x))); our parameters [A] (Huang et al. 2022)
    d_mask: str | None = None             # '' (off), 'spatial', 'spectral' or 'spatial,spectral'; None = method's
    d_mask_prob: float = 1.0              # probability in (0, 1] that a D input image is masked (q_0 = 1 - prob)
    d_mask_ratio: float = 0.3             # spatial: fraction rho in (0, 1) of the shifted P x P cells zeroed
    d_mask_patch: int = 4                 # spatial: cell side P in pixels
    d_mask_grid: str = "wrap"             # spatial: 'wrap' (equal cells) or 'clip' (cells cut by the border)
    d_mask_bands: int = 4                 # spectral: K radial bands
    d_mask_n_masked: int = 1              # spectral: m bands masked per image, in [1, K - 1]
    d_mask_balanced: bool = True          # spectral: energy-weighted band choice (False: uniform)
    d_mask_keep_dc: bool = True           # spectral: band 0 (the DC term) never masked
    gp_lambda: float = 10.0               # WGAN-GP gradient penalty weight
    batch_size: int = 64
    steps: int = 1000                     # generator iterations
    ema_kimg: float = 0.0                 # half-life of the EMA of G in thousands of images; 0 = no EMA
    ema_rampup: float | None = 0.05       # EMA ramp-up coefficient (StyleGAN2-ADA), None = off
    # --- bookkeeping
    eval_every: int = 250                 # iterations between metric evaluations (0 = only at the end)
    eval_protocols: tuple[str, ...] = ("fid2k_domain",)  # protocol-named metrics during training
    eval_seed: int = 123                  # per-index seeds of evaluation latents
    ckpt_every: int = 250                 # iterations between training-state checkpoints
    log_every: int = 25                   # iterations between loss log lines
    domain_quality: str = "full"          # domain extractor: 'full' (cached, trained on the train split) or 'smoke'
    device: str = "auto"                  # 'auto' picks cuda when available
    amp: bool = True                      # bf16 autocast on CUDA (pgan_core.fastpath)
    cpu_amp: bool = False                 # bf16 autocast on a CPU with native bf16 (AVX-512 BF16 / AMX); fp32 elsewhere, with a warning
    channels_last: bool = False           # NHWC models and batches (CPU and CUDA)
    compile: bool | str = False           # torch.compile the training steps: True or a mode in COMPILE_MODES (eager on failure)

    # ------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        if not isinstance(self.method, str):
            raise bad_param("method", self.method, "a method name (pgan_core.registry.method_names()) or a composed name")
        spec = get_method(self.method)                                   # unknown names list the known ones
        self._apply_method_inputs(spec)
        check_choice("dataset", self.dataset, DATASET_NAMES)
        check_range("data_fraction", self.data_fraction, 0.0, 1.0, lo_open=True)
        if self.max_images is not None:
            check_positive("max_images", self.max_images, integer=True)
        _check_int("seed", self.seed)
        _check_int("mask_seed", self.mask_seed)
        _check_int("eval_seed", self.eval_seed)
        check_positive("width", self.width, integer=True)
        check_positive("z_dim", self.z_dim, integer=True)
        if self.noise_level is not None:
            check_positive("noise_level", self.noise_level, allow_zero=True)
        builder_overrides(self.method, mask_seed=self.mask_seed, noise_level=self.noise_level)  # refuses unowned ones
        if self.loss is not None:
            check_choice("loss", self.loss, LOSS_NAMES)
        for name in ("lr_g", "lr_d"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        for name in ("betas_g", "betas_d"):
            b = getattr(self, name)
            if b is not None:
                if not isinstance(b, (tuple, list)) or len(b) != 2:
                    raise bad_param(name, b, "a pair (beta1, beta2) with 0 <= beta < 1")
                for v in b:
                    check_range(name, v, 0.0, 1.0, hi_open=True)
                object.__setattr__(self, name, (float(b[0]), float(b[1])))
        if self.n_critic is not None:
            check_positive("n_critic", self.n_critic, integer=True)
        if self.lr_decay is not None:
            check_range("lr_decay", self.lr_decay, 0.0, 1.0, hi_open=True)
        if not isinstance(self.diffaugment, str):
            raise bad_param("diffaugment", self.diffaugment, "a comma-separated policy string such as 'color,translation,cutout', or ''")
        try:
            parse_policy(self.diffaugment)
        except ConfigError as e:
            raise ConfigError(f"parameter 'diffaugment': {e}") from None
        self._check_d_side()
        check_choice("g_input", self.g_input, G_INPUT_NAMES)
        check_positive("g_input_res", self.g_input_res, integer=True)
        if self.g_input_res > 32:
            raise bad_param("g_input_res", self.g_input_res, "an integer in [1, 32] (sources are 32x32 images)")
        check_positive("g_input_noise", self.g_input_noise, allow_zero=True)
        if self.g_input == "generator":
            if not isinstance(self.g_input_snapshot, str) or not self.g_input_snapshot:
                raise bad_param("g_input_snapshot", self.g_input_snapshot,
                                "the path of a finished run's snapshot.pt when g_input='generator'")
            object.__setattr__(self, "g_input_snapshot", runs_relative(self.g_input_snapshot))
        elif self.g_input_snapshot is not None:
            raise bad_param("g_input_snapshot", self.g_input_snapshot, "None unless g_input='generator'")
        check_positive("gp_lambda", self.gp_lambda, allow_zero=True)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("steps", self.steps, integer=True)
        check_positive("ema_kimg", self.ema_kimg, allow_zero=True)
        if self.ema_rampup is not None:
            check_positive("ema_rampup", self.ema_rampup)
        check_positive("eval_every", self.eval_every, integer=True, allow_zero=True)
        check_positive("ckpt_every", self.ckpt_every, integer=True)
        check_positive("log_every", self.log_every, integer=True)
        check_choice("domain_quality", self.domain_quality, ("full", "smoke"))
        check_choice("device", self.device, DEVICE_NAMES)
        for name in ("amp", "cpu_amp", "channels_last"):
            if not isinstance(getattr(self, name), bool):
                raise bad_param(name, getattr(self, name), "True or False")
        if not isinstance(self.compile, bool) and self.compile not in COMPILE_MODES:
            raise bad_param("compile", self.compile, f"True, False or a torch.compile mode in {COMPILE_MODES}")
        if isinstance(self.eval_protocols, str) or not isinstance(self.eval_protocols, (tuple, list)):
            raise bad_param("eval_protocols", self.eval_protocols, "a list of protocol keys like 'fid2k_domain'")
        for key in self.eval_protocols:
            try:
                parse_protocol(key)
            except ConfigError as e:
                raise ConfigError(f"parameter 'eval_protocols': {e}") from None
        object.__setattr__(self, "eval_protocols", tuple(self.eval_protocols))

    def _apply_method_inputs(self, spec) -> None:
        """Composed methods (pgan_core.compose) may fix ``diffaugment`` and ``g_input``: a field left at its
        default takes the method's value; another value for ``g_input`` contradicts the name."""
        want = spec.train_defaults
        if "diffaugment" in want and self.diffaugment == "":
            object.__setattr__(self, "diffaugment", want["diffaugment"])
        if "g_input" in want and self.g_input != want["g_input"]:
            if self.g_input != "gaussian":
                raise bad_param("g_input", self.g_input, f"'gaussian' (default) or {want['g_input']!r}: method "
                                                         f"{self.method!r} takes {want['g_input']!r} images as G's input")
            object.__setattr__(self, "g_input", want["g_input"])

    def _check_d_side(self) -> None:
        spec = get_method(self.method)
        if self.pconv_kind is not None:
            check_choice("pconv_kind", self.pconv_kind, PERTURB_KINDS)
        if self.pconv_rate is not None:
            check_range("pconv_rate", self.pconv_rate, 0.0, 1.0, hi_open=True)
        if self.nice_gamma is not None:
            check_positive("nice_gamma", self.nice_gamma, allow_zero=True)
        if self.nice_eta is not None:
            check_range("nice_eta", self.nice_eta, -1.0, 1.0)
        for name, (kw, needed) in D_BUILDER_OPTIONS.items():
            if getattr(self, name) is not None and spec.d_kwargs.get(kw) != needed:
                raise bad_param(name, getattr(self, name), f"None for method {self.method!r} (it applies to methods "
                                                           f"whose D has {kw}={needed!r}, e.g. "
                                                           f"{'sngan-pconv' if kw == 'conv' else 'sngan-nice'})")
        if self.d_mask is not None:
            if not isinstance(self.d_mask, str):
                raise bad_param("d_mask", self.d_mask, "'', 'spatial', 'spectral' or 'spatial,spectral'")
            kinds = [k.strip() for k in self.d_mask.split(",")] if self.d_mask.strip() else []
            if len(set(kinds)) != len(kinds) or any(k not in MASK_KINDS for k in kinds):
                raise bad_param("d_mask", self.d_mask, "'', 'spatial', 'spectral' or 'spatial,spectral'")
            object.__setattr__(self, "d_mask", ",".join(sorted(kinds)))
        check_range("d_mask_prob", self.d_mask_prob, 0.0, 1.0, lo_open=True)
        check_range("d_mask_ratio", self.d_mask_ratio, 0.0, 1.0, lo_open=True, hi_open=True)
        check_positive("d_mask_patch", self.d_mask_patch, integer=True)
        if self.d_mask_patch > 32:
            raise bad_param("d_mask_patch", self.d_mask_patch, "an integer in [1, 32] (images are 32x32)")
        check_choice("d_mask_grid", self.d_mask_grid, ("wrap", "clip"))
        check_positive("d_mask_bands", self.d_mask_bands, integer=True)
        if self.d_mask_bands < 2:
            raise bad_param("d_mask_bands", self.d_mask_bands, "an integer >= 2")
        n = self.d_mask_n_masked
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < self.d_mask_bands:
            raise bad_param("d_mask_n_masked", n, f"an integer in [1, {self.d_mask_bands - 1}] (fewer than d_mask_bands)")
        for name in ("d_mask_balanced", "d_mask_keep_dc"):
            if not isinstance(getattr(self, name), bool):
                raise bad_param(name, getattr(self, name), "True or False")
        kinds = self.d_mask_kinds()
        for names, kind in ((D_MASK_SPATIAL, "spatial"), (D_MASK_SPECTRAL, "spectral"), (("d_mask_prob",), None)):
            for name in names:
                if getattr(self, name) != KEY_OPTIONAL_DEFAULTS[name] and (kind not in kinds if kind else not kinds):
                    raise bad_param(name, getattr(self, name),
                                    f"its default {KEY_OPTIONAL_DEFAULTS[name]!r} unless d_mask includes "
                                    f"{repr(kind) if kind else 'a mask kind'} (d_mask is {','.join(kinds)!r})")

    def d_mask_kinds(self) -> tuple[str, ...]:
        """The MaskedGAN mask kinds of this run: ``d_mask``, or the method's when None; () = off."""
        return _mask_kinds(self.d_mask if self.d_mask is not None else get_method(self.method).train_defaults.get("d_mask", ""))

    # ------------------------------------------------------------ derived
    @property
    def is_resolved(self) -> bool:
        """True when no field is left for the method to fill (:meth:`resolved` returns the config itself)."""
        return not _method_fill(vars(self))

    def resolved(self) -> "RunConfig":
        """This config with the ``None`` recipe fields filled from the method's (loss, learning rates, betas,
        n_critic, d_mask), and a composed name that a registered name aliases replaced by that name (one spec, one
        run key). A resolved config is returned as it is: resolving twice builds nothing."""
        fill = _method_fill(vars(self))
        return dataclasses.replace(self, **fill) if fill else self

    @classmethod
    def build(cls, params: dict[str, Any]) -> "RunConfig":
        """The resolved config of ``params`` (as :meth:`from_params` takes them), validated once: the method's
        recipe fills the ``None`` fields before the one construction (``from_params(params).resolved()`` would
        construct and validate twice)."""
        p = dict(params)
        p.update(_method_fill({"method": p.get("method", cls.method), **{n: p.get(n) for n in _RECIPE_FIELDS}}))
        return cls.from_params(p)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v, tuple) else v) for f in dataclasses.fields(self)
                for v in [getattr(self, f.name)]}

    def key(self) -> str:
        """Short stable hash of the resolved config (run folder names, resume checks), with the method's
        architecture version when it is non-zero (a run folder of an older G or D is then not reused)."""
        d = self.resolved().to_dict()
        for name, default in KEY_OPTIONAL_DEFAULTS.items():
            if d.get(name) == default:
                del d[name]
        version = get_method(self.method).arch_version
        if version:
            d["arch_version"] = version
        return stable_hash(d)

    @property
    def input_dim(self) -> int:
        """Size of G's input vector: z_dim for Gaussian latents, g_input_res^2 for image inputs."""
        return self.z_dim if self.g_input == "gaussian" else self.g_input_res ** 2

    def run_name(self) -> str:
        frac = f"-f{self.data_fraction:g}" if self.data_fraction < 1 else ""
        src = "" if self.g_input == "gaussian" else f"-in_{self.g_input}"
        return f"{get_method(self.method).name}-{self.dataset}{frac}{src}-s{self.seed}-{self.key()}"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "RunConfig":
        """Build from a dict (papermill parameters, JSON); unknown names raise a ConfigError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ConfigError(f"parameter {unknown[0]!r}: unknown; allowed: {', '.join(sorted(names))}")
        kw = dict(params)
        for name in ("betas_g", "betas_d", "eval_protocols"):
            if isinstance(kw.get(name), list):
                kw[name] = tuple(kw[name])
        return cls(**kw)

    def replace(self, **changes: Any) -> "RunConfig":
        return RunConfig.from_params({**self.to_dict(), **changes})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


_RECIPE_FIELDS = ("loss", "lr_g", "lr_d", "betas_g", "betas_d", "n_critic", "d_mask")


def _method_fill(fields: dict[str, Any]) -> dict[str, Any]:
    """The values a config's method gives its ``None`` recipe fields (and the registered name of an aliased
    composition); {} when the config is resolved. ``fields``: ``method`` and the recipe fields."""
    spec = get_method(fields["method"])
    fill: dict[str, Any] = {} if spec.name == fields["method"] else {"method": spec.name}   # an alias's composition
    if fields.get("loss") is None:
        fill["loss"] = spec.loss
    for name in ("lr_g", "lr_d", "betas_g", "betas_d", "n_critic"):   # every spec carries a complete recipe
        if fields.get(name) is None:
            fill[name] = spec.train_defaults[name]
    if fields.get("d_mask") is None:
        fill["d_mask"] = ",".join(_mask_kinds(spec.train_defaults.get("d_mask", "")))
    return fill


def _mask_kinds(value: str) -> tuple[str, ...]:
    """The mask kinds of a ``d_mask`` string ('spatial,spectral' -> ('spatial', 'spectral'); '' -> ())."""
    return tuple(k for k in value.split(",") if k)


def _check_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise bad_param(name, value, "an integer >= 0")


# ---------------------------------------------------------------- profiles

@dataclass(frozen=True)
class Profile:
    """Experiment-level settings of a profile; ``run`` holds RunConfig field defaults."""
    name: str
    seeds: tuple[int, ...]
    run: dict[str, Any] = field(default_factory=dict)
    final_protocols: tuple[str, ...] = ()      # metrics of the final G_ema (per run)
    inception_protocols: tuple[str, ...] = ()  # standard Inception metrics (slow on CPU: few runs)
    grid_images: int = 64                      # images in sample grids
    # notebook -> dataset, train fraction (a float) or "*" (every run) -> RunConfig overrides: the budget a
    # notebook's claims need in this profile (chosen by piloting its baseline, README "Budgets"); a notebook's own
    # parameters win
    budgets: dict[str, dict[str | float, dict[str, Any]]] = field(default_factory=dict)
    # notebook -> dataset -> the methods this profile trains there (absent: the notebook's METHODS on its DATASETS)
    rows: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    # notebook -> method -> its seeds, where the profile cuts a secondary row's seeds
    seeds_of: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    # notebook -> the methods whose runs get the (slow on a CPU) standard Inception metrics (absent: the notebook's)
    inception_rows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cuts: dict[str, str] = field(default_factory=dict)   # notebook -> what this profile cut to fit its budget, and why
    # notebook -> its parameters that are not RunConfig fields (evaluation sizes, learning-rate pairs...)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def budget(self, notebook: str | None, dataset: str | None = None,
               fraction: float | None = None) -> dict[str, Any]:
        """The RunConfig overrides of ``notebook`` on ``dataset`` at train ``fraction`` in this profile ({} when it
        has none): the table's ``"*"`` entry, then its ``dataset`` entry, then its ``fraction`` entry (a float key)."""
        table = self.budgets.get(notebook or "", {})
        return {**table.get("*", {}), **(table.get(dataset, {}) if dataset else {}),
                **(table.get(fraction, {}) if fraction is not None else {})}

    def datasets_of(self, notebook: str) -> list[str] | None:
        """The datasets this profile trains ``notebook`` on (None: the notebook decides)."""
        rows = self.rows.get(notebook)
        return list(rows) if rows else None

    def methods_of(self, notebook: str, dataset: str, methods: list[str]) -> list[str]:
        """``methods`` (a notebook's list, in its order) cut to those this profile trains on ``dataset``."""
        rows = self.rows.get(notebook, {})
        return [m for m in methods if m in rows[dataset]] if dataset in rows else list(methods)

    def inception_methods(self, notebook: str, methods: list[str]) -> list[str]:
        """``methods`` (a notebook's list) cut to those this profile measures with the standard Inception metrics."""
        rows = self.inception_rows.get(notebook)
        return [m for m in methods if m in rows] if rows is not None else list(methods)

    def settings_of(self, notebook: str) -> dict[str, Any]:
        """The notebook-level settings this profile gives ``notebook`` (a copy; {} when it has none)."""
        return copy.deepcopy(self.settings.get(notebook, {}))

    def seeds_for(self, notebook: str, method: str, seeds: list[int]) -> list[int]:
        """``seeds`` cut to the profile's seeds of ``method`` in ``notebook`` (its first ones), if it cuts them."""
        cut = self.seeds_of.get(notebook, {}).get(method)
        return list(seeds[:len(cut)]) if cut is not None else list(seeds)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", seeds=(0,),
        run=dict(steps=20, batch_size=16, width=4, max_images=512, eval_every=10, ckpt_every=10, log_every=5,
                 eval_protocols=("fid256_domain",), domain_quality="smoke"),
        final_protocols=("fid256_domain", "kid256_domain", "is256_domain"),
        inception_protocols=("kid8_inception", "fid8_inception", "fidinf8_inception"),
        grid_images=16,
        budgets={
            # the D-side notebooks train 5 D steps per iteration: 10 iterations test the plumbing (two evaluations where
            # the curves need them) at half the CI time of the profile's 20
            "00_leaderboard": {"*": dict(steps=6, eval_every=6, ckpt_every=6)},
            "02_pconv": {"*": dict(steps=10, eval_every=5, ckpt_every=5)},
            "03_self_sparse_gan": {"*": dict(steps=10, eval_every=5, ckpt_every=5)},
            "04_nice": {"*": dict(steps=10, eval_every=5, log_every=2)},
            "05_maskedgan": {"*": dict(steps=10, eval_every=10, ckpt_every=10)},
        },
        settings={
            # (dataset, train fraction) pairs of the leaderboard; smoke leaves out CIFAR-10 10% (the fraction path is
            # smoke-tested in 02, 04, 05), keeping the two settings whose snapshots feed the explorer
            "00_leaderboard": dict(settings=[["cifar10", 1.0], ["mnist", 1.0]]),
            "02_pconv": dict(fractions=[1.0, 0.1], ablation=["sngan-pconv-p0.3"], timing_widths=[None],
                             timing=dict(iters=2, repeats=2, warmup=1)),
            "04_nice": dict(inception=True, timing_reps=2),
            "05_maskedgan": dict(inception_protocols=None),     # None: the profile's
            "07_spider_gan": dict(sid_n=256, inc_sid_n=8, dataset_sid_n=8),
            "06_ttur_fid": dict(dcgan_pairs=[[2e-4, 2e-4], [1e-4, 1e-4], [4e-4, 1e-4], [3e-4, 1e-4]],
                                disturb_n=256, levels=[0.0, 0.5, 1.0], sizes=[64, 128, 256], draws=3, bootstrap=20,
                                inc_n=8, inc_levels=[0.0, 1.0], inc_pool=16, inc_sizes=[8, 16]),
        }),
    "cpu": Profile(
        name="cpu", seeds=(0, 1, 2),
        # the CPU fast path (bf16 autocast where the CPU has native bf16, fp32 elsewhere; channels_last): 2.1x the
        # iterations/s of eager fp32 for DCGAN at width 16, and what it learns is equivalent over 6 seeds
        # (bench/results/fastpath_equivalence_cpu.json, README "CPU fast path")
        run=dict(steps=400, batch_size=64, width=16, eval_every=100, ckpt_every=100, log_every=20,
                 eval_protocols=("fid1k_domain",), domain_quality="full", cpu_amp=True, channels_last=True),
        final_protocols=("fid5k_domain", "kid5k_domain", "is5k_domain"),
        # at least 2,000 images per Inception statistic (KID the headline: unbiased at small N; FID-infinity
        # beside FID, whose small-N bias differs between models)
        inception_protocols=("kid2k_inception", "fid2k_inception", "fidinf2k_inception"),
        grid_images=64,
        budgets={
            # piloted: bench/pilot_baseline.py -> bench/results/pilot_dcgan_cifar10_cpu.json (README "Budgets"). At a
            # constant rate DCGAN's fid2k_domain still fell 16% over the last quarter of 6,000 iterations (a power-law
            # fit through it predicts -14% at 12,000, beyond 150 minutes); a linear decay of both rates over the
            # second half did not flatten it either (-19%: bench/results/pilot_dcgan_cifar10_decay_cpu.json), so
            # the budget stays at 6,000 constant-rate iterations and the notebook reports DCGAN as not converged
            "01_perturbative_gan": {"*": dict(ema_kimg=10.0, eval_every=500, ckpt_every=500,
                                              eval_protocols=("fid2k_domain",)),
                                    "cifar10": dict(steps=6000)},
            # the same DCGAN on CIFAR-10 as notebook 01's pilot (not converged at 6,000): 2,500 iterations, where its
            # fid2k_domain has fallen from 54 (500) to about 24 (bench/results/pilot_dcgan_cifar10_cpu.json)
            "06_ttur_fid": {"*": dict(steps=2500, eval_every=500, ckpt_every=500, eval_protocols=("fid2k_domain",))},
            # budgets of the notebooks not yet re-piloted (issues 17 and 18 re-budget them): as their results were made
            "00_leaderboard": {"*": dict(steps=100, width=8, batch_size=32, eval_every=50, ckpt_every=50, log_every=10)},
            "02_pconv": {"*": dict(steps=120, width=8, eval_every=30)},
            # WGAN-GP (5 critic steps per iteration) costs 0.27 s an iteration on the fast path at width 16
            # (bench/results/speed_wgan_gp_cpu.json): 9 runs of 2,000 iterations (about 10 minutes each), evaluated
            # every 250, and the standard Inception metrics of 6 runs fill one 150-minute job. The baseline's curve at
            # this budget is the pilot (bench/pilot_baseline.py --method wgan-gp --steps 2000 --eval-every 250
            # --ema-kimg 0 --seeds 0 1 2 --notebook 03_self_sparse_gan: bench/results/pilot_wgan-gp_cifar10_cpu.json,
            # the notebook's own runs): fid2k_domain falls from 62 (250) to about 31 (750) and then oscillates
            # between 28 and 35 (seeds 27-40) without a trend; the rule's line through the last quarter's three
            # seed-mean evaluations reads 17.8% (34.7 -> 28.4), so WGAN-GP is NOT converged by the rule at 2,000,
            # though it is at 1,000 (2.0%) and 1,750 (3.6%): a noisy plateau, with blurred colour-blob samples
            "03_self_sparse_gan": {"*": dict(steps=2000, eval_every=250, ckpt_every=250, eval_protocols=("fid2k_domain",))},
            "04_nice": {"*": dict(steps=200, width=8, batch_size=32, eval_every=50, log_every=10)},
            "05_maskedgan": {"*": dict(steps=100, width=8, eval_every=25, ckpt_every=50)},
            # piloted: bench/pilot_baseline.py --dataset mnist --steps 4000 --eval-every 250 --z-dim 100 --ema-kimg 0
            # -> bench/results/pilot_dcgan_mnist_cpu.json. The Gaussian-input DCGAN's fid2k_domain falls as a power law
            # (16.1 at 750, 5.0 at 3,000, 2.9 at 4,000; the real-data floor at 2,000 images is 0.23), so over every last
            # quarter it still falls by 20-40% and no budget converges it by the rule before it nears the floor; 4,000
            # iterations (8x the earlier 500) is what one 150-minute job affords for the notebook's 16 runs. Evaluated
            # every 200 iterations, so one fifth of the budget (800) is an evaluation
            "07_spider_gan": {"*": dict(steps=4000, eval_every=200, ckpt_every=1000, eval_protocols=("fid2k_domain",))},
        },
        rows={
            "01_perturbative_gan": {"cifar10": ("dcgan", "pgan-g", "pgan-g-nonoise", "pgan-g-conv")},
            "03_self_sparse_gan": {"cifar10": ("wgan-gp", "sastm", "sastm-b0")},
        },
        cuts={
            "01_perturbative_gan": (
                "To fit one job of at most 150 minutes on 2 cores (6,000 iterations; DCGAN is not converged by the rule "
                "there, nor with the learning rates decayed over the second half, and no affordable budget converges "
                "it: README \"Budgets\"), this profile cuts, in this order: the MNIST rows (not in the paper); the LCG "
                "row (claim 6 is measured as mask memory only); and the D-side rows (pgan-gd and its two controls: "
                "1.2x the G-side grid's cost). Every claim row is decided on the domain metrics, every seed; the "
                "standard Inception KID/FID (2,000 images, about 2.2 minutes per run) run on every seed of the four "
                "rows. The cut rows run in the smoke and paper profiles."),
            "03_self_sparse_gan": (
                "To fit one job of at most 150 minutes on 2 cores (a WGAN-GP iteration, 5 critic steps, costs 0.27 s: "
                "bench/results/speed_wgan_gp_cpu.json), this profile cuts, in this order: the MNIST and Fashion-MNIST "
                "rows (the paper's claims are tested on CIFAR-10, its one dataset with a standard Inception reference); "
                "and the additive-recombination ablation sastm-add (an open choice of ours, not a claim). It keeps "
                "WGAN-GP, SASTM and the gate-start ablation sastm-b0 with 3 seeds each, 2,000 iterations, and the "
                "standard Inception KID/FID (2,000 images) on every seed of WGAN-GP and SASTM. The cut rows run in the "
                "smoke and paper profiles."),
            "06_ttur_fid": (
                "To fit one job of at most 150 minutes on 2 cores (15 runs of 2,500 iterations, about 40 minutes; the "
                "standard-Inception FID validation, about 32,000 images at 16 images/s, about 35 minutes), this "
                "profile cuts the second DCGAN TTUR pair (lr_D 3e-4, lr_G 1e-4; the first TTUR pair, 4e-4 / 1e-4, "
                "stays against both one-time-scale pairs) and keeps 3 seeds for every row. DCGAN is not converged "
                "at this budget (nor at 6,000 iterations: notebook 01's pilot), so claims 1 and 2 compare early "
                "training. The cut row runs in the smoke and paper profiles."),
            "07_spider_gan": (
                "Nothing is cut: 16 runs of 4,000 iterations (5 inputs x 3 seeds on MNIST and the Fashion-MNIST "
                "generator the cascade starts from) fit one job of at most 150 minutes on 2 cores. The Gaussian-input "
                "baseline is not converged by the rule at this budget (its fid2k_domain still falls by about 40% over "
                "the last quarter, as a power law that no affordable budget flattens: bench/results/"
                "pilot_dcgan_mnist_cpu.json), so claim 2 (one fifth of the iterations) is measured against a "
                "baseline that is still improving."),
        },
        settings={
            "00_leaderboard": dict(settings=[["cifar10", 0.1], ["cifar10", 1.0], ["mnist", 1.0]]),
            "02_pconv": dict(fractions=[1.0, 0.1], ablation=["sngan-pconv-p0.3"], timing_widths=[8, 32],
                             timing=dict(iters=5, repeats=5, warmup=2)),
            "04_nice": dict(inception=False, timing_reps=30),
            "05_maskedgan": dict(inception_protocols=None),
            # the paper's SID between datasets on 2,000 Inception features each; the input-space SID in domain
            # features only (an Inception statistic of fewer than 2,000 images would not count)
            "07_spider_gan": dict(sid_n=5000, inc_sid_n=0, dataset_sid_n=2000),
            # FID validation: domain features on 5,000 test images (6 disturbances, 6 levels), standard Inception on
            # 2,000 (noise and blur, 6 levels: >= 2,000 images per statistic); intervals from 200 paired bootstrap
            # resamples; sample-size bias from 10 draws per n out of one pool per source
            "06_ttur_fid": dict(dcgan_pairs=[[2e-4, 2e-4], [1e-4, 1e-4], [4e-4, 1e-4]],
                                disturb_n=5000, levels=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                                sizes=[1000, 2000, 5000, 10000], draws=10, bootstrap=200,
                                inc_n=2000, inc_levels=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], inc_pool=5000,
                                inc_sizes=[2000, 3000, 5000]),
        }),
    "paper": Profile(
        name="paper", seeds=(0, 1, 2),
        # 200 epochs of CIFAR-10 at batch 64 (the Perturbative GAN train scripts: Kishi et al. 2019, arXiv:1902.01514)
        # bf16 autocast + torch.compile(mode='reduce-overhead', CUDA graphs): 2.6x (DCGAN) and 3.2x (perturbative G)
        # the images/s of a plain fp32 loop on an H100 (bench/bench_gpu.py, bench/results/)
        run=dict(steps=156_250, batch_size=64, width=128, eval_every=5000, ckpt_every=5000, log_every=100,
                 eval_protocols=("fid5k_domain", "fid10k_inception"), domain_quality="full",
                 amp=True, compile="reduce-overhead"),
        final_protocols=("fid10k_domain", "kid10k_domain", "is10k_domain"),
        inception_protocols=("fid50k_inception", "kid50k_inception", "is50k_inception"),
        grid_images=64,
        budgets={
            # DCGAN: FID every 5k mini-batches (TTUR DCGAN scripts); WGAN-GP TTUR: 100k iterations (bioinf-jku/TTUR
            # scripts of Heusel et al., NeurIPS 2017, arXiv:1706.08500)
            "06_ttur_fid": {"*": dict(steps=100_000)},
            "00_leaderboard": {"*": dict(steps=50_000, width=64, batch_size=64, eval_every=5000, ckpt_every=5000,
                                         log_every=100)},
            "02_pconv": {"*": dict(steps=50_000, width=64, eval_every=5000)},
            # the paper's iteration counts were not retrieved [A]: 100k as in common WGAN-GP CIFAR settings, width 64
            "03_self_sparse_gan": {"*": dict(steps=100_000, width=64)},
            "04_nice": {"*": dict(steps=50_000, width=64, batch_size=64, eval_every=5000, log_every=100)},
            # the DiffAugment BigGAN-CIFAR scripts for CIFAR-10 10%/20% (Zhao et al., NeurIPS 2020, arXiv:2006.10738;
            # mit-han-lab/data-efficient-gans): batch 50, 4 D steps per G step; EMA of G at decay 0.9999 per
            # iteration at batch 50 (a half-life of 346.6 kimg, BigGAN-PyTorch's default); width 64 = the SNGAN CIFAR
            # ResNet (G 256, D 128 channels; BigGAN-CIFAR's own widths differ). 5,000 epochs of the subset with
            # BigGAN-PyTorch's multi-epoch sampler (batch x D steps images per iteration): 125k iterations at 10%,
            # 250k at 20% (our reading of the loader)
            "05_maskedgan": {"*": dict(steps=125_000, width=64, batch_size=50, n_critic=4, ema_kimg=346.6),
                             0.2: dict(steps=250_000)},
            "07_spider_gan": {"*": dict(steps=50_000, eval_every=1000)},
        },
        settings={
            "00_leaderboard": dict(settings=[["cifar10", 0.1], ["cifar10", 1.0], ["mnist", 1.0]]),
            "02_pconv": dict(fractions=[1.0, 0.1],
                             ablation=["sngan-pconv-p0.3", "sngan-pconv-p0.5", "sngan-pconv-channel",
                                       "sngan-pconv-gaussian", "sngan-ns", "sngan-pconv-ns"],
                             timing_widths=[64], timing=dict(iters=20, repeats=10, warmup=5)),
            "04_nice": dict(inception=True, timing_reps=20),
            # fid10k/is10k Inception as the published table
            "05_maskedgan": dict(inception_protocols=["fid10k_inception", "is10k_inception"]),
            "07_spider_gan": dict(sid_n=10000, inc_sid_n=10000, dataset_sid_n=10000),
            "06_ttur_fid": dict(dcgan_pairs=[[2e-4, 2e-4], [1e-4, 1e-4], [4e-4, 1e-4], [3e-4, 1e-4]],
                                disturb_n=10000, levels=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                                sizes=[1000, 2000, 5000, 10000], draws=10, bootstrap=200,
                                inc_n=10000, inc_levels=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0], inc_pool=10000,
                                inc_sizes=[2000, 5000, 10000]),
        }),
}


def get_profile(name: str) -> Profile:
    check_choice("PROFILE", name, PROFILE_NAMES)
    return PROFILES[name]


def auto_profile() -> str:
    """'paper' on a machine with a CUDA GPU, 'cpu' otherwise."""
    try:
        import torch

        return "paper" if torch.cuda.is_available() else "cpu"
    except Exception:  # pragma: no cover
        return "cpu"
