r"""NICE: adaptive multiplicative noise in D's latent features and a consistency penalty between two noisy passes.

Reference: Y. Ni, P. Koniusz. *NICE: NoIse-modulated Consistency rEgularization for Data-Efficient
GANs.* NeurIPS 2023, pp. 13773-13801, https://openreview.net/forum?id=YFW6MVGVTn . The official
repository (github.com/MaxwellYaoNi/NICE) held only a README and a pipeline figure when read.

Equations (Ni & Koniusz 2023: abstract and pipeline figure [V]; our choices [A]):

    AN(X)   = X \odot Z,   Z ~ N(1, \beta^2 I)   element-wise, fresh per forward   (adaptive noise) [V]
    s_t     = mean( sign( D(x_real) ) )          over the real batch of step t                          [A]
    r_t     = 0.9 \, r_{t-1} + 0.1 \, s_t        (EMA, decay ``ema``)                                     [A]
    \beta   \leftarrow clip( \beta + \Delta_\beta \, sign(r_t - \eta), 0, \beta_max )   every D step     [A]
    L_cons  = E || f_1 - f_2 ||_2^2 / dim(f)      f_1, f_2: deeper blocks run twice, independent Z  [V form, A norm]
    L_D     = L_adv^D + \gamma ( L_cons(x) + L_cons(\tilde x) ),     L_G = L_adv^G (noise on, no L_cons)

Parts and their status:

  * :class:`AdaptiveNoise` is AN [V]. beta is a *buffer* (persistent, so it is saved and restored
    with D; never trained). The noise is on in training mode only; at eval, and whenever beta = 0,
    the module returns its input unchanged. One beta is shared by every AN module of D [V]:
    :meth:`BetaController.apply` writes the controller's beta into all of them.
  * :class:`BetaController` is our update rule [A] (NICE's constants were not retrieved), copied in form from the same
    authors' CHAIN code [V for CHAIN]: an EMA (0.9) of the mean sign of the real logits, a step of
    ``step`` = Delta_beta = 1e-3 towards more noise when r_t > eta and less when r_t < eta (none when
    equal, sign(0) = 0), clipped to [0, beta_max]. Defaults [A]: step 1e-3, eta 0.6 (ADA's target;
    CHAIN's default is 0.5), beta_max 1, beta_0 = 0. *Ours* [A]: the EMA starts at the first
    observed s_t (r_1 = s_1), not at 0, so the controller reacts from the first step.
  * :func:`consistency_loss` is ||f_1 - f_2||^2 normalised by the feature dimension and averaged
    over the batch, i.e. the mean of the squared element differences [A: normalisation]; f are the
    features after the last block, before the head (Ni & Koniusz 2023 [V]). Gradients flow into both passes.
  * :func:`two_noisy_passes` runs the deeper blocks B_l .. B_L twice on the same X_{l-1}; the
    blocks before l run once without noise (the caller's job). Which block is l and the weight
    gamma were not retrieved [A: l = D's block 1 of 0-3 (the first with a learned shortcut), gamma in {1, 5, 10}] and are the
    model builder's / training loop's parameters, not this module's.

In the training loop: :class:`NiceRegularizer` is the D-side plugin a NICE discriminator exposes as
``D.d_plugin`` (see :mod:`pgan_core.training`): during a D step it collects L_cons of every forward of
D (real and generated inputs: Ni & Koniusz 2023), returns gamma * sum of them as the extra D loss, and
after the optimiser step folds s_t (the loss's ``d_real_sign`` term) into the controller and writes
beta into D's AN modules. Its beta, r_t and update count are float64 / int64 *buffers*, so they are
saved with D's ``state_dict`` and a resumed run continues bit-exactly. Default gamma = 5 [A: the
middle of a sweep {1, 5, 10}; NICE's gamma was not retrieved]; gamma = 0 is the "AN only" ablation (one pass, no
L_cons). *Ours*: with the WGAN-GP loss the penalty's forward on the interpolates is collected too.

Randomness: Z is drawn from **torch's global generator** (``torch.randn_like``), so
``torch.manual_seed`` makes runs reproducible; two calls draw independent noise.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError, bad_param, check_positive, check_range, is_number

BETA_STEP = 1e-3    # Delta_beta, the controller's step per D update [A]
ETA = 0.6           # target of the overfitting signal r_t (ADA's 0.6; CHAIN's default is 0.5) [A]
BETA_MAX = 1.0      # upper clip of beta [A]
R_EMA = 0.9         # decay of the EMA of mean(sign(D(x_real))) (CHAIN) [A]
GAMMA = 5.0         # weight gamma of the consistency loss (middle of a sweep {1, 5, 10}; NICE's not retrieved) [A]


class AdaptiveNoise(nn.Module):
    """AN(X) = X * Z, Z ~ N(1, beta^2) element-wise, in training mode only; beta is a buffer.

    Args:
      init_beta: beta_0 >= 0 (0 by default: the controller raises it when D overfits).

    Shapes: any input shape; the output has the same shape. On a CPU tensor with beta == 0 no noise is
    drawn; on other devices the noise is drawn anyway (no host sync) and X * (1 + 0 * eps) is exactly X.
    """

    def __init__(self, init_beta: float = 0.0) -> None:
        super().__init__()
        check_positive("init_beta", init_beta, allow_zero=True)
        self.register_buffer("beta", torch.tensor(float(init_beta)))  # scalar, persistent, not trained

    def set_beta(self, beta: float) -> None:
        """Write ``beta`` (>= 0) into the buffer, in place (keeps its device and dtype)."""
        check_positive("beta", beta, allow_zero=True)
        self.beta.fill_(float(beta))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.beta.device.type == "cpu" and float(self.beta) == 0.0):
            return x
        z = torch.randn_like(x).mul_(self.beta.to(x.dtype)).add_(1.0)  # Z ~ N(1, beta^2), same shape as x
        return x * z                                                   # X * Z

    def extra_repr(self) -> str:
        return f"beta={float(self.beta):.4g}"


class BetaController:
    """beta <- clip(beta + step * sign(r_t - eta), 0, beta_max), r_t an EMA of mean(sign(D(x_real))).

    Args:
      step: Delta_beta > 0, the change of beta per update.
      eta: target eta of r_t, in [-1, 1].
      beta_max: upper clip of beta, > 0.
      ema: decay of the EMA of s_t = mean(sign(D(x_real))), in [0, 1); 0 uses s_t directly.
      init_beta: beta_0, in [0, beta_max].

    Use: after each D step, ``controller.update(d_real_logits)`` then ``controller.apply(D)``; or
    :meth:`step_beta` with an r_t computed elsewhere. ``state_dict`` / ``load_state_dict`` carry
    beta, the EMA and the step count for resuming.
    """

    def __init__(self, step: float = BETA_STEP, eta: float = ETA, beta_max: float = BETA_MAX,
                 ema: float = R_EMA, init_beta: float = 0.0) -> None:
        self.step = float(check_positive("step", step))
        self.eta = check_range("eta", eta, -1.0, 1.0)
        self.beta_max = float(check_positive("beta_max", beta_max))
        self.ema = check_range("ema", ema, 0.0, 1.0, hi_open=True)
        self.beta = check_range("init_beta", init_beta, 0.0, self.beta_max)
        self.r: float | None = None      # r_t, None before the first update
        self.n_updates = 0

    def step_beta(self, r_t: float) -> float:
        """Apply beta <- clip(beta + step * sign(r_t - eta), 0, beta_max) for a given r_t; return beta."""
        if not is_number(r_t):
            raise bad_param("r_t", r_t, "a finite number in [-1, 1]")
        direction = (r_t > self.eta) - (r_t < self.eta)                  # sign(r_t - eta), 0 when equal
        self.beta = min(max(self.beta + self.step * direction, 0.0), self.beta_max)
        return self.beta

    def observe(self, s_t: float) -> float:
        """Fold one batch signal s_t into the EMA r_t (r_1 = s_1) and return r_t."""
        if not is_number(s_t):
            raise bad_param("s_t", s_t, "a finite number in [-1, 1]")
        self.r = float(s_t) if self.r is None else self.ema * self.r + (1.0 - self.ema) * float(s_t)
        return self.r

    def update(self, d_real: torch.Tensor) -> float:
        """One controller step from D's raw outputs on a real batch (any shape); returns the new beta."""
        if not isinstance(d_real, torch.Tensor) or d_real.numel() == 0:
            raise bad_param("d_real", type(d_real).__name__, "a non-empty tensor of D's logits on real images")
        s_t = float(torch.sign(d_real.detach()).float().mean())          # s_t = mean(sign(D(x_real)))
        return self.update_signal(s_t)

    def update_signal(self, s_t: float) -> float:
        """One controller step from s_t = mean(sign(D(x_real))) computed elsewhere; returns the new beta."""
        self.step_beta(self.observe(s_t))
        self.n_updates += 1
        return self.beta

    def apply(self, module: nn.Module) -> int:
        """Write beta into every :class:`AdaptiveNoise` inside ``module``; return how many there were."""
        n = 0
        for m in module.modules():
            if isinstance(m, AdaptiveNoise):
                m.set_beta(self.beta)
                n += 1
        return n

    def state_dict(self) -> dict:
        return {"beta": self.beta, "r": self.r, "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        missing = {"beta", "r", "n_updates"} - set(state)
        if missing:
            raise ConfigError(f"BetaController.load_state_dict: missing keys {sorted(missing)}")
        self.beta = check_range("beta", state["beta"], 0.0, self.beta_max)
        self.r = None if state["r"] is None else float(state["r"])
        self.n_updates = int(state["n_updates"])

    def __repr__(self) -> str:
        return (f"BetaController(step={self.step}, eta={self.eta}, beta_max={self.beta_max}, ema={self.ema}, "
                f"beta={self.beta:.4g}, r={self.r})")


def consistency_loss(feats_a: torch.Tensor, feats_b: torch.Tensor) -> torch.Tensor:
    """E_x ||f_1(x) - f_2(x)||^2 / dim(f) = mean of (f_1 - f_2)^2 over all elements; a scalar tensor.

    ``feats_a``, ``feats_b``: the two noisy passes' features, same shape, e.g. (B, C, H, W) or (B, C).
    """
    if not isinstance(feats_a, torch.Tensor) or not isinstance(feats_b, torch.Tensor):
        raise bad_param("feats_b", type(feats_b).__name__, "two tensors of the same shape")
    if feats_a.shape != feats_b.shape:
        raise bad_param("feats_b", tuple(feats_b.shape), f"the shape of feats_a, {tuple(feats_a.shape)}")
    return (feats_a - feats_b).pow(2).mean()                             # ||f_1 - f_2||^2 / dim, batch mean


def two_noisy_passes(blocks: nn.Module, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the deeper blocks B_l .. B_L twice on X_{l-1} = ``h``: (f_1, f_2), independent noise draws.

    ``blocks`` is typically an ``nn.Sequential`` of D's deeper blocks (containing AdaptiveNoise
    modules); any module mapping ``h`` to features works. The two passes share weights and differ
    only by the noise, so in eval mode (or at beta = 0) f_1 == f_2. The passes run one after the
    other, so layers with batch statistics see each pass's batch separately. Either output can feed
    D's head for the adversarial loss (Ni & Koniusz 2023 [V]).
    """
    if not isinstance(blocks, nn.Module):
        raise bad_param("blocks", type(blocks).__name__, "an nn.Module (e.g. nn.Sequential of D blocks)")
    return blocks(h), blocks(h)                                          # f_1, f_2: the blocks' output shape


class NiceRegularizer(nn.Module):
    """NICE's training-side part inside D: the controller state (as buffers) and the consistency terms of a D step.

    Args:
      gamma: weight of L_cons, >= 0 (0: adaptive noise only, no second pass).
      eta, step, beta_max, ema, init_beta: the :class:`BetaController`'s.

    The owning D registers its AN modules with :meth:`attach` and, in ``forward``, calls
    :meth:`record` (f_1, f_2) when :attr:`collecting` is true. The training loop drives it through the
    D-plugin protocol: :meth:`begin_d_step`, :meth:`d_regularizer`, :meth:`after_d_step`.
    """

    def __init__(self, gamma: float = GAMMA, *, eta: float = ETA, step: float = BETA_STEP, beta_max: float = BETA_MAX,
                 ema: float = R_EMA, init_beta: float = 0.0) -> None:
        super().__init__()
        self.gamma = float(check_positive("gamma", gamma, allow_zero=True))
        self.controller = BetaController(step=step, eta=eta, beta_max=beta_max, ema=ema, init_beta=init_beta)
        self.register_buffer("beta", torch.tensor(self.controller.beta, dtype=torch.float64))   # shared beta
        self.register_buffer("r", torch.tensor(0.0, dtype=torch.float64))                       # r_t (valid once n > 0)
        self.register_buffer("n_updates", torch.tensor(0, dtype=torch.int64))
        self._noise: tuple[AdaptiveNoise, ...] = ()
        self._terms: list[torch.Tensor] | None = None                   # L_cons of this D step's forwards

    def attach(self, noise_modules) -> None:
        """The AN modules whose beta this controller sets (plain references, not submodules)."""
        self._noise = tuple(noise_modules)
        self._push_beta()

    def set_beta(self, value: float) -> None:
        """Set beta by hand (timing with the noise on, whatever the controller would say)."""
        self.beta.fill_(float(value))
        self._push_beta()

    def _push_beta(self) -> None:
        """Write the shared beta into every attached AN module."""
        for m in self._noise:
            m.set_beta(float(self.beta))

    @property
    def collecting(self) -> bool:
        """True inside a D step (between begin_d_step and d_regularizer), in training mode, with gamma > 0."""
        return self._terms is not None and self.training and self.gamma > 0

    def record(self, feats_a: torch.Tensor, feats_b: torch.Tensor) -> None:
        self._terms.append(consistency_loss(feats_a, feats_b))           # E ||f_1 - f_2||^2 / dim

    # ---- D-plugin protocol (pgan_core.training)
    def begin_d_step(self) -> None:
        self._terms = []

    def d_regularizer(self) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """(gamma * (L_cons(x) + L_cons(x~)), {'loss_cons': the sum, detached}); (None, {}) when nothing was
        collected. The logged term stays a tensor (the loop converts it at a log step)."""
        terms, self._terms = self._terms, None
        if not terms:
            return None, {}
        cons = torch.stack(terms).sum()                                   # L_cons(x) + L_cons(x~)
        return self.gamma * cons, {"loss_cons": cons.detach()}

    def after_d_step(self, terms: dict[str, Any]) -> dict[str, float]:
        """Controller step from ``terms['d_real_sign']`` (s_t, a 0-d tensor of :mod:`pgan_core.losses` or a float;
        read with float() here: the controller runs on the host); write beta into the AN modules; log beta and r_t."""
        if "d_real_sign" not in terms:
            raise bad_param("terms", sorted(terms), "the D loss terms including 'd_real_sign' (mean sign of D(x_real))")
        c, n = self.controller, int(self.n_updates)
        c.load_state_dict({"beta": float(self.beta), "r": float(self.r) if n else None, "n_updates": n})
        c.update_signal(float(terms["d_real_sign"]))
        self.beta.fill_(c.beta)
        self.r.fill_(c.r)
        self.n_updates.fill_(c.n_updates)
        self._push_beta()
        return {"beta": c.beta, "r_t": c.r}

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._push_beta()                                                 # AN modules follow the restored beta

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, beta={float(self.beta):.4g}, controller={self.controller!r}"
