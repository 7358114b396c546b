"""Interactive explorer of trained generators for JupyterLab (ipywidgets), and its static fallback.

Pick a trained method and browse its samples, interpolate between two inputs (slerp between
Gaussian latents, linear between Spider GAN image inputs), slide the perturbation noise level and
switch the mask source of a perturbative generator and watch the samples change, and compare two
methods on the same seeds (inputs are per-index seeded, :mod:`pgan_core.sampling`, so methods with
the same input kind see identical inputs).

Layers: small pure functions (:func:`load_generators`, :func:`with_perturbation`, :func:`samples`,
:func:`interpolate`, :func:`compare`) return uint8 image tensors and are tested on their own;
:class:`Explorer` puts widgets on top, and every control's observer calls :meth:`Explorer.refresh`,
which records any exception in ``Explorer.errors`` (a callback fired from the browser would
otherwise only reach the kernel log) and keeps the images it drew in ``Explorer.last_images``.

Headless rule: widgets need a live frontend. Under papermill or nbval (``PGAN_HEADLESS=1``) or
without ipywidgets, :func:`interactive_default` is False, :func:`show` displays nothing and the
notebook shows :func:`static_figures` instead. Importing this module needs neither ipywidgets
nor matplotlib.
"""
from __future__ import annotations

import copy
import io
import math
import os
import traceback
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from .checkpoint import SNAPSHOT_FILE, load_snapshot_generator
from .errors import ConfigError, IntegrityError, bad_param, check_choice, check_positive
from .io import shown_path
from .layers.perturbation import MASK_SOURCES, PerturbationLayer
from .inputs import ImageInput
from .sampling import generate, make_input

Generators = dict[str, tuple[nn.Module, dict]]   # label -> (G in eval mode, run config dict)
HEADLESS_ENV = "PGAN_HEADLESS"
MODES = ("samples", "interpolation")
NONE = "none"                                     # "no second method" in the comparison dropdown
MAX_INDEX = 10**6                                  # largest input index the explorer offers
PNG_DPI = 80                                      # dots per inch of the explorer's images (each sample >= 32 px)


# ---------------------------------------------------------------- validation helpers

def _int(name: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise bad_param(name, value, f"an integer >= {lo}")
    return int(value)


# ---------------------------------------------------------------- pure functions

def load_generators(snapshots: Mapping[str, str | Path] | str | Path) -> Generators:
    """label -> (G, config) from a dict label -> snapshot path (a run folder means its snapshot.pt),
    or from a folder: every ``*.pt`` file in it, label = file stem, sorted. In a folder, a snapshot that this
    code can no longer rebuild (its method's model changed since it was made) is left out with a one-line
    warning naming it; a folder with none left, and any such snapshot named in a dict, raise IntegrityError."""
    if isinstance(snapshots, (str, Path)):
        folder = Path(snapshots)
        if not folder.is_dir():
            raise bad_param("snapshots", str(snapshots), "an existing folder of *.pt snapshots, or a dict label -> path")
        paths = {p.stem: p for p in sorted(folder.glob("*.pt"))}
        if not paths:
            raise bad_param("snapshots", str(snapshots), "a folder holding at least one *.pt snapshot")
        gens, stale = {}, []
        for label, p in paths.items():
            try:
                gens[label] = load_snapshot_generator(p)
            except IntegrityError as e:
                if "does not match method" not in str(e):
                    raise                                      # a damaged file is never skipped
                stale.append(label)
        if stale:
            warnings.warn(f"snapshots left out of the explorer: {', '.join(stale)} (made by an older version of their "
                          f"method's model; re-run the notebook that wrote {shown_path(folder)} to refresh them)",
                          stacklevel=2)
        if not gens:
            raise IntegrityError(f"no snapshot in {shown_path(folder)} matches this code's models; re-run the notebook "
                                 "that wrote them")
        return gens
    elif isinstance(snapshots, Mapping) and snapshots:
        paths = {}
        for label, p in snapshots.items():
            p = Path(p) / SNAPSHOT_FILE if Path(p).is_dir() else Path(p)
            if not isinstance(label, str) or not label or label == NONE:
                raise bad_param("snapshots", label, f"labels that are non-empty strings other than {NONE!r}")
            if not p.is_file():
                raise ConfigError(f"parameter 'snapshots': label {label!r}: no such file {str(p)!r}; allowed: "
                                  "the path of a snapshot.pt (or its run folder)")
            paths[label] = p
    else:
        raise bad_param("snapshots", snapshots, "a non-empty dict label -> snapshot path, or a folder of *.pt files")
    return {label: load_snapshot_generator(p) for label, p in paths.items()}


def perturbation_layers(G: nn.Module) -> list[PerturbationLayer]:
    """The perturbation layers of G in module order (empty for conv-only generators)."""
    return [m for m in G.modules() if isinstance(m, PerturbationLayer)]


def trained_perturbation(G: nn.Module) -> tuple[float, str] | None:
    """(level, mask_source) of G's first perturbation layer, or None when G has none."""
    layers = perturbation_layers(G)
    return (layers[0].level, layers[0].mask_source) if layers else None


def with_perturbation(G: nn.Module, *, level: float | None = None, mask_source: str | None = None) -> nn.Module:
    """A deep copy of G whose perturbation layers use noise ``level`` and/or masks regenerated from
    ``mask_source`` (each layer keeps its seed, mask shape, dtype and device). G is not modified."""
    if level is not None:
        check_positive("level", level, allow_zero=True)
    if mask_source is not None:
        check_choice("mask_source", mask_source, MASK_SOURCES)
    if not perturbation_layers(G):
        for name, value in (("level", level), ("mask_source", mask_source)):
            if value is not None:
                raise bad_param(name, value, "None: this generator has no perturbation layers")
    G2 = copy.deepcopy(G)
    for layer in perturbation_layers(G2):
        if level is not None:
            layer.level = float(level)
        if mask_source is not None:
            layer.set_mask_source(mask_source)                                 # same seed, shape, dtype, device
    return G2


def _device(G: nn.Module) -> torch.device:
    p = next(G.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def samples(G: nn.Module, config: dict, *, seed: int, n: int, start: int = 0) -> torch.Tensor:
    """uint8 (n, C, H, W) images of inputs start..start+n-1 (the run's input kind, per-index seeded)."""
    seed, n, start = _int("seed", seed, 0), _int("n", n, 1), _int("start", start, 0)
    return generate(G, n, seed=seed, start=start, inputs=make_input(config), device=_device(G))  # (n, C, H, W)


class _FixedInputs:
    """An input object serving prepared rows (``at(indices, seed)`` ignores the seed)."""
    def __init__(self, rows: torch.Tensor) -> None:
        self.rows, self.dim = rows, rows.shape[1]                              # (N, dim)

    def at(self, indices, seed: int) -> torch.Tensor:
        return self.rows[list(indices)]


def slerp(u0: torch.Tensor, u1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (dim,), (dim,), (T,) -> (T, dim); linear when u0, u1 are parallel."""
    omega = torch.arccos(torch.clamp(torch.dot(u0 / u0.norm(), u1 / u1.norm()), -1.0, 1.0))
    t = t[:, None]                                                             # (T, 1)
    if omega.abs() < 1e-6:
        return (1 - t) * u0 + t * u1
    return (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)


def interpolate(G: nn.Module, config: dict, *, seed: int, a: int, b: int, steps: int) -> torch.Tensor:
    """uint8 (steps, C, H, W) from input index ``a`` to index ``b``: slerp between Gaussian latents,
    linear between Spider image inputs. The ends are exactly the inputs of ``a`` and ``b``."""
    seed, a, b = _int("seed", seed, 0), _int("a", a, 0), _int("b", b, 0)
    steps = _int("steps", steps, 2)
    inputs = make_input(config)
    u = inputs.at([a, b], seed)                                                # (2, dim)
    t = torch.linspace(0.0, 1.0, steps, dtype=u.dtype)                         # (steps,)
    if isinstance(inputs, ImageInput):
        rows = (1 - t[:, None]) * u[0] + t[:, None] * u[1]                     # (steps, dim)
    else:
        rows = slerp(u[0], u[1], t)                                            # (steps, dim)
    rows[0], rows[-1] = u[0], u[1]
    return generate(G, steps, seed=0, inputs=_FixedInputs(rows), device=_device(G))  # (steps, C, H, W)


def compare(Gs: Mapping[str, tuple[nn.Module, dict]], *, seed: int, n: int) -> dict[str, torch.Tensor]:
    """label -> uint8 (n, C, H, W) on input indices 0..n-1 of ``seed`` for every generator."""
    if not Gs:
        raise bad_param("Gs", Gs, "a non-empty dict label -> (G, config)")
    return {label: samples(G, cfg, seed=seed, n=n) for label, (G, cfg) in Gs.items()}


def interactive_default() -> bool:
    """False when ``PGAN_HEADLESS`` is set (non-empty, not '0') or ipywidgets is missing, else True."""
    if os.environ.get(HEADLESS_ENV, "") not in ("", "0"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- figures

def _strips(rows: dict[str, torch.Tensor], *, nrow: int, title: str = "", dpi: float | None = None):
    """One labelled row of images per entry (label -> uint8 (N, C, H, W)), each image at least at its native size
    when saved at ``dpi``."""
    import matplotlib.pyplot as plt

    from .plotting import _dpi, _wrapped, image_grid

    first = next(iter(rows.values()))
    mosaic_w = nrow * (first.shape[-1] + 1) + 1
    width = max(min(1.1 * nrow, 14), 1.1 * mosaic_w / _dpi(dpi) + 1.6)        # + room for the row labels
    height = width * (first.shape[-2] + 2) / mosaic_w
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, (height + 0.25) * len(rows) + 0.5), squeeze=False)
    for ax, (label, imgs) in zip(axes[:, 0], rows.items()):
        ax.imshow(image_grid(imgs, nrow), interpolation="nearest")
        ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
        ax.set_xticks([]); ax.set_yticks([])
    if title:
        fig.suptitle(_wrapped(title, width, 10), fontsize=10)
    fig.tight_layout()
    return fig


def static_figures(source: Explorer | Mapping[str, tuple[nn.Module, dict]], *, seed: int = 0, n: int = 16,
                   a: int = 0, b: int = 1, steps: int = 8) -> dict[str, Any]:
    """The figures a headless notebook shows: 'samples' (every method side by side, same seeds),
    'interpolation' (one strip per method, a -> b) and, when a method is perturbative, 'noise_sweep'
    (its first samples at levels 0, l, 2l, 4l of its trained level l). Returns name -> figure."""
    from .plotting import sample_grids

    gens = source.generators if isinstance(source, Explorer) else dict(source)
    figs = {"samples": sample_grids(compare(gens, seed=seed, n=n), nrow=min(n, 8), title=f"samples, seed {seed}"),
            "interpolation": _strips({k: interpolate(G, c, seed=seed, a=a, b=b, steps=steps) for k, (G, c) in gens.items()},
                                     nrow=steps, title=f"interpolation {a} -> {b}, seed {seed}")}
    pert = [k for k, (G, _) in gens.items() if perturbation_layers(G)]
    if pert:
        G, cfg = gens[pert[0]]
        lvl = trained_perturbation(G)[0]
        levels = sorted({0.0, lvl, 2 * lvl, 4 * lvl}) if lvl > 0 else [0.0, 0.1, 0.2, 0.4]
        k = min(n, 8)
        figs["noise_sweep"] = _strips({f"level {x:g}": samples(with_perturbation(G, level=x), cfg, seed=seed, n=k)
                                       for x in levels}, nrow=k, title=f"{pert[0]}: noise level sweep, seed {seed}")
    return figs


# ---------------------------------------------------------------- the widget

class Explorer:
    """Widgets over ``load_generators``' dict. ``render`` computes images without widgets;
    ``widget()`` builds the UI whose every observer calls ``refresh()``."""
    def __init__(self, generators: Mapping[str, tuple[nn.Module, dict]], *, cache_size: int = 16) -> None:
        if not generators:
            raise bad_param("generators", generators, "a non-empty dict label -> (G, config) (see load_generators)")
        self.generators: Generators = dict(generators)
        self.cache_size = _int("cache_size", cache_size, 1)
        self._cache: dict[tuple[str, float, str], nn.Module] = {}              # perturbed copies
        self.last_images: dict[str, torch.Tensor] = {}                         # label -> uint8 (N, C, H, W)
        self.errors: list[str] = []                                            # tracebacks caught in refresh()
        self.renders = 0
        self.controls: dict[str, Any] = {}
        self.output = self.note = None
        self._syncing = False

    def generator(self, label: str, *, level: float | None = None, mask_source: str | None = None) -> nn.Module:
        """G of ``label``, or a cached perturbed copy when level/mask_source differ from the trained ones."""
        G, _ = self.generators[check_choice("method", label, list(self.generators))]
        trained = trained_perturbation(G)
        if level is None and mask_source is None:
            return G
        if trained is None:
            return with_perturbation(G, level=level, mask_source=mask_source)  # raises: names the parameter
        lvl = trained[0] if level is None else float(check_positive("level", level, allow_zero=True))
        src = trained[1] if mask_source is None else check_choice("mask_source", mask_source, MASK_SOURCES)
        if math.isclose(lvl, trained[0], rel_tol=1e-9, abs_tol=1e-12) and src == trained[1]:
            return G
        key = (label, lvl, src)
        if key not in self._cache:
            while len(self._cache) >= self.cache_size:
                self._cache.pop(next(iter(self._cache)))                       # drop the oldest copy
            self._cache[key] = with_perturbation(G, level=lvl, mask_source=src)
        return self._cache[key]

    def render(self, *, method: str, compare: str = NONE, seed: int = 0, n: int = 16, level: float | None = None,
               mask_source: str | None = None, mode: str = "samples", a: int = 0, b: int = 1,
               steps: int = 8) -> dict[str, torch.Tensor]:
        """label -> uint8 images for these settings; level/mask_source apply to ``method`` only,
        the ``compare`` method (or 'none') runs as trained on the same inputs."""
        check_choice("mode", mode, MODES)
        labels = [check_choice("method", method, list(self.generators))]
        if compare != NONE:
            labels.append(check_choice("compare", compare, [NONE, *self.generators]))
        out = {}
        for i, label in enumerate(dict.fromkeys(labels)):
            G = self.generator(label, level=level, mask_source=mask_source) if i == 0 else self.generators[label][0]
            cfg = self.generators[label][1]
            out[label] = (samples(G, cfg, seed=seed, n=n) if mode == "samples"
                          else interpolate(G, cfg, seed=seed, a=a, b=b, steps=steps))
        return out

    def settings(self) -> dict[str, Any]:
        """The render() arguments the widgets currently hold."""
        c = {k: w.value for k, w in self.controls.items()}
        perturbative = trained_perturbation(self.generators[c["method"]][0]) is not None
        return dict(method=c["method"], compare=c["compare"], seed=c["seed"], n=c["n"], mode=c["mode"],
                    level=c["level"] if perturbative else None, mask_source=c["mask_source"] if perturbative else None,
                    a=c["a"], b=c["b"], steps=c["steps"])

    def widget(self):
        """The ipywidgets container (controls + Output); draws once before returning."""
        import ipywidgets as W

        labels, wide = list(self.generators), {"style": {"description_width": "initial"}}
        c = self.controls = {
            "method": W.Dropdown(options=labels, value=labels[0], description="method"),
            "compare": W.Dropdown(options=[NONE, *labels], value=NONE, description="compare"),
            "seed": W.IntSlider(value=0, min=0, max=999, description="seed"),
            "n": W.IntSlider(value=16, min=1, max=64, description="samples"),
            "level": W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.01, description="noise level", **wide),
            "mask_source": W.Dropdown(options=list(MASK_SOURCES), description="masks"),
            "mode": W.ToggleButtons(options=list(MODES), value="samples", description="show",
                                    style={"button_width": "auto"}, layout=W.Layout(width="auto")),
            "a": W.BoundedIntText(value=0, min=0, max=MAX_INDEX, description="from index", **wide),
            "b": W.BoundedIntText(value=1, min=0, max=MAX_INDEX, description="to index", **wide),
            "steps": W.IntSlider(value=8, min=2, max=16, description="steps"),
        }
        self.note, self.output = W.HTML(), W.Output()
        self._sync_perturbation()
        for name, w in c.items():
            w.observe(self._on_method if name == "method" else self.refresh, names="value")
        self.refresh()
        return W.VBox([W.HBox([c["method"], c["compare"]]), W.HBox([c["seed"], c["n"]]),
                       W.HBox([c["level"], c["mask_source"], self.note]),
                       W.HBox([c["mode"]]), W.HBox([c["a"], c["b"], c["steps"]]), self.output])   # buttons side by side

    def _sync_perturbation(self) -> None:
        """Set level / mask source to the selected method's trained values, or disable them."""
        trained = trained_perturbation(self.generators[self.controls["method"].value][0])
        lvl, src = self.controls["level"], self.controls["mask_source"]
        self._syncing = True
        try:
            lvl.disabled = src.disabled = trained is None
            for w in (lvl, src):                              # hidden, not greyed with the last method's values
                w.layout.visibility = "hidden" if trained is None else "visible"
            if trained is not None:
                lvl.max = max(1.0, 4 * trained[0])
                lvl.value, src.value = trained
            self.note.value = "" if trained is not None else "<i>no perturbation layers in this method</i>"
        finally:
            self._syncing = False

    def _on_method(self, change: Any = None) -> None:
        try:
            self._sync_perturbation()
        except Exception:
            self.errors.append(traceback.format_exc())
        self.refresh()

    def refresh(self, change: Any = None) -> None:
        """Redraw from the widgets' values; an exception is appended to ``errors`` and shown, not raised."""
        if self._syncing or self.output is None:
            return
        try:
            p = self.settings()
            images = self.render(**p)
            png = self._png(images, p)
        except Exception as e:
            self.errors.append(traceback.format_exc())
            self.output.outputs = tuple(o for o in self.output.outputs if o.get("output_type") != "stream")
            self.output.append_stderr(f"error: {self._in_label_words(e)}\n")   # the last image stays above it
            return
        from IPython.display import Image

        self.last_images, self.renders = images, self.renders + 1
        self.output.outputs = ()
        self.output.append_display_data(Image(data=png, format="png"))

    def _in_label_words(self, e: Exception) -> str:
        """The error as a person reads it beside the controls: parameter names replaced by the widgets' labels."""
        text = f"{type(e).__name__}: {e}" if not isinstance(e, ConfigError) else str(e)
        for name, w in self.controls.items():
            label = getattr(w, "description", "") or name
            text = text.replace(f"parameter '{name}'", f"'{label}'")
        return text

    def _png(self, images: dict[str, torch.Tensor], p: dict[str, Any]) -> bytes:
        import matplotlib.pyplot as plt

        from .plotting import sample_grids

        extra = "" if p["level"] is None else f", level {p['level']:g}, {p['mask_source']}"
        if p["mode"] == "samples":
            fig = sample_grids(images, nrow=min(p["n"], 8), title=f"seed {p['seed']}{extra}", dpi=PNG_DPI)
        else:
            fig = _strips(images, nrow=p["steps"], title=f"{p['a']} -> {p['b']}, seed {p['seed']}{extra}", dpi=PNG_DPI)
        try:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=PNG_DPI)
            return buf.getvalue()
        finally:
            plt.close(fig)                                                     # figures never pile up


def show(snapshots: Mapping[str, str | Path] | str | Path | Mapping[str, tuple[nn.Module, dict]], *,
         interactive: bool | None = None) -> Explorer | None:
    """Notebook cell helper: display the Explorer when interactive (None: :func:`interactive_default`)
    and return it; headless, do nothing and return None (show :func:`static_figures` instead)."""
    if interactive is None:
        interactive = interactive_default()
    if not interactive:
        return None
    gens = (dict(snapshots) if isinstance(snapshots, Mapping) and snapshots
            and all(isinstance(v, tuple) for v in snapshots.values()) else load_generators(snapshots))
    from IPython.display import display

    ex = Explorer(gens)
    display(ex.widget())
    return ex
