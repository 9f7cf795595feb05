r"""The recipe lab's trainer: any recipe (plain GAN + technique options) on a 2D testbed, S seeds at once.

Read it top to bottom: :class:`Settings` (run-wide knobs), :class:`Streams` (per-seed random draws),
:class:`Model` (networks, optimisers and the options' hooks for one recipe), the default loss, game
and update rule, then :func:`train`, the flat loop that trains several recipes in lockstep (so a live
view shows A and B at the same step) and measures them on fixed evaluation sets.

The plain GAN (no option): G and D are MLPs (2 hidden layers of 64, LeakyReLU 0.2), the
non-saturating loss

    L_D = -E[log D(x)] - E[log(1 - D(G(z)))],    L_G = -E[log D(G(z))],

alternating updates (D first, then G against the updated D), Adam with beta1 = 0.5 (Radford et al.
2016). Options change exactly one of those pieces each (see :mod:`engine.options`).

Why the structure: every seed's loss is one entry of an (S,) tensor and the optimisers step on the
*sum*, so seed s's gradient is exactly that of its own run (see :mod:`engine.mlp`). Gradients are
taken with ``torch.autograd.grad`` w.r.t. the player that moves only, so G's step never spends a
backward pass on D's weights.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import torch

from . import testbeds
from .config import bounded, check
from .mlp import FlatMLP, NetSpec
from .nets import pick_device, seed_generator
from .options import Recipe, make_recipe
from .options.losses import NonSaturating

Event = Callable[[dict], None]
EVAL_REAL = 1000  # fixed real points per seed for the distance to the data
DATA = 2  # data columns of a sample; a game may append columns after them (labels, latent codes)


@dataclass(frozen=True)
class Settings:
    testbed: str = field(default="ring", metadata=bounded(help="2D data: ring of 8, 5x5 grid, or unbalanced ring",
                                                          choices=testbeds.TESTBEDS))
    sigma: float = field(default=0.0, metadata=bounded(0.0, 0.5, "sd of each mode; 0 = the testbed's default"))
    steps: int = field(default=1500, metadata=bounded(10, 20000, "generator steps"))
    batch: int = field(default=128, metadata=bounded(8, 1024, "samples per batch (D judges this many)"))
    z_dim: int = field(default=2, metadata=bounded(1, 64, "latent dimension"))
    hidden: int = field(default=64, metadata=bounded(4, 256, "units per hidden layer of G"))
    d_hidden: int = field(default=0, metadata=bounded(0, 256, "units per hidden layer of D (0: as G)"))
    depth: int = field(default=2, metadata=bounded(1, 4, "hidden layers in G and in D"))
    optimizer: str = field(default="adam", metadata=bounded(help="adam, sgd or rmsprop", choices=("adam", "sgd", "rmsprop")))
    lr_g: float = field(default=4e-3, metadata=bounded(1e-6, 1.0, "generator learning rate"))
    lr_d: float = field(default=4e-4, metadata=bounded(1e-6, 1.0, "discriminator learning rate"))
    beta1: float = field(default=0.5, metadata=bounded(-0.99, 0.99, "Adam beta1 (0.5 as in DCGAN) or SGD momentum; < 0: negative momentum"))
    beta2: float = field(default=0.999, metadata=bounded(0.0, 0.9999, "Adam beta2"))
    decay_from: float = field(default=0.3, metadata=bounded(0.0, 1.0, "linear LR decay to 0 from this fraction of steps (1 = none)"))
    eval_every: int = field(default=100, metadata=bounded(5, 5000, "steps between evaluations (metric curves)"))
    frame_every: int = field(default=100, metadata=bounded(5, 5000, "steps between live frames (samples, D's map)"))
    eval_samples: int = field(default=2500, metadata=bounded(100, 10000, "generated points per seed per evaluation"))
    device: str = field(default="auto", metadata=bounded(help="auto (CUDA if present) or cpu", choices=("auto", "cpu")))


# ---------------------------------------------------------------------------------------------
# Random draws


class Streams:
    """Each seed's own random stream, drawn in blocks: one generator call per seed per ``block``
    steps instead of per step (the draws are the same whether seed s trains alone or beside others)."""

    def __init__(self, seeds: Sequence[int], salt: int, device: torch.device, block: int = 32):
        self.gens = [seed_generator(s, salt) for s in seeds]
        self.device, self.block = device, block
        self._buf: dict[tuple, list] = {}

    def _take(self, kind: str, shape: tuple[int, ...], draw: Callable) -> torch.Tensor:
        key = (kind, shape)
        buf = self._buf.get(key)
        if buf is None or buf[1] >= self.block:
            t = torch.stack([draw((self.block, *shape), g) for g in self.gens]).to(self.device)
            buf = self._buf[key] = [t, 0]
        out = buf[0][:, buf[1]]
        buf[1] += 1
        return out

    def normal(self, *shape: int) -> torch.Tensor:
        return self._take("n", shape, lambda sh, g: torch.randn(sh, generator=g))

    def uniform(self, *shape: int) -> torch.Tensor:
        return self._take("u", shape, lambda sh, g: torch.rand(sh, generator=g))

    def choice(self, n: int, weights: torch.Tensor) -> torch.Tensor:
        """n indices per seed drawn with the given probabilities."""
        return self._take(("c", tuple(weights.tolist())), (n,),
                          lambda sh, g: torch.multinomial(weights, sh[0] * sh[1], True, generator=g).reshape(sh))


# ---------------------------------------------------------------------------------------------
# The default loss, game and update rule (options of the same group replace them)


class StandardGame:
    """One G, one D: D judges real against G's samples; G is judged by D."""

    @staticmethod
    def d_objective(m: "Model", real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        out_r, out_f = m.d_pair(real, fake)
        loss = m.loss.d_loss(out_r, out_f)
        for pen in m.hooks["d_penalty"]:
            loss = loss + pen(m, real, fake)
        return loss

    @staticmethod
    def g_objective(m: "Model", real: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        fake = m.generate(z)
        d_flat = m.d_params_for_g(real, fake)
        out_f = m.d(fake, d_flat)
        for select in m.hooks["g_scores"]:  # e.g. top-k: G learns from its best-judged samples only
            out_f = select(m, out_f)
        out_r = m.d(real, d_flat) if m.loss.g_needs_real else None
        loss = m.loss.g_loss(out_f, out_r)
        for pen in m.hooks["g_penalty"]:
            loss = loss + pen(m, z, fake)
        return loss


class Alternating:
    """D takes ``n_disc`` steps, then G one step against the updated D (Goodfellow et al. 2014)."""

    @staticmethod
    def update(m: "Model") -> tuple[torch.Tensor, torch.Tensor]:
        for _ in range(m.n_disc):
            real, z = m.real(), m.noise()
            with torch.no_grad():  # D's step needs G's samples, not a graph through G
                fake = m.generate(z)
            d_loss = m.game.d_objective(m, real, fake)
            m.step("D", d_loss)
        real, z = m.real(), m.noise()
        g_loss = m.game.g_objective(m, real, z)
        m.step("G", g_loss)
        return d_loss.detach(), g_loss.detach()


# ---------------------------------------------------------------------------------------------
# One recipe over S seeds

HOOKS = ("d_input", "d_penalty", "g_penalty", "g_scores", "after_d_step", "after_step", "on_eval")
# A game (the option of group "game") may also implement, and :class:`Model` then calls:
#   real(m, x, idx) -> sample    a real draw as the game's D reads it (labels / codes appended)
#   noise(m, z, stream) -> z     latents with the game's condition columns appended (labels)
#   generate(m, z, g_flat) -> x  the game's generator(s): samples as D reads them
#   pick(m, x) -> x              one sample per latent from a mixture of generators
#   head(out) -> (S, B, 1)       D's scalar judgement from a multi-output D (penalties, D's map)
#   eval_input(m, x) -> sample   data-space points (D's map, D(real)/D(fake)) as D reads them
# Columns after the first DATA of a sample are the game's tags: D reads them when the game's
# ``d_reads_tags`` is true (a conditional D), else they only carry information to its objectives.


class Model:
    """The networks, optimisers, random streams and option hooks of one recipe over S seeds."""

    def __init__(self, recipe: Recipe, s: Settings, seeds: Sequence[int]):
        self.recipe, self.seeds = recipe, list(seeds)
        self.opts = recipe.options()
        for o in self.opts:
            s = o.adjust(s) if hasattr(o, "adjust") else s
        self.s = check(s)
        self.device = pick_device(s.device)
        self.tb = testbeds.make(s.testbed, s.sigma)
        self.mu = self.tb.means.to(self.device)
        for o in self.opts:  # before the networks are built: options that size them from the testbed
            if hasattr(o, "prepare"):
                o.prepare(self)
        g_spec = NetSpec((s.z_dim, *[s.hidden] * s.depth, 2))
        d_spec = NetSpec((2, *[s.d_hidden or s.hidden] * s.depth, 1))
        for o in self.opts:
            if hasattr(o, "net"):
                g_spec, d_spec = o.net("G", g_spec), o.net("D", d_spec)
        self.G = FlatMLP(g_spec, seeds, salt=1, device=self.device)
        self.D = FlatMLP(d_spec, seeds, salt=2, device=self.device)
        pick = {grp: next((o for o in self.opts if o.group == grp), None) for grp in ("loss", "update", "game")}
        self.loss = pick["loss"] or NonSaturating()
        self.rule = pick["update"] or Alternating()
        self.game = pick["game"] or StandardGame()
        self.tags = getattr(self.game, "tags", 0)  # columns a game appends to each sample
        self.hooks = {h: [getattr(o, h) for o in self.opts if hasattr(o, h)] for h in HOOKS}
        self._lookahead = [o.d_params_for_g for o in self.opts if hasattr(o, "d_params_for_g")]
        self._samplers: list[Callable] = []
        self.n_disc, self.pack = 1, 1
        self.params = {"G": [self.G.flat], "D": [self.D.flat]}  # options may add networks to a side
        self.data = Streams(seeds, 3, self.device)
        self.noise_stream = Streams(seeds, 4, self.device)
        self.aux = Streams(seeds, 5, self.device)  # penalties' and options' own draws
        self.cond = Streams(seeds, 10, self.device)  # a game's conditions (labels, generator choice)
        self.state: dict = {}  # options' state (averages, snapshots), keyed by option id
        for o in self.opts:
            if hasattr(o, "setup"):
                o.setup(self)
        self.opt = {side: self._optimiser(side) for side in ("G", "D")}
        self.base_lr = {"G": s.lr_g, "D": s.lr_d}
        # fixed evaluation sets: a point on screen moves only when G moves
        ev = Streams(seeds, 6, self.device, block=1)
        self.eval_z = ev.normal(s.eval_samples, s.z_dim)
        if hasattr(self.game, "noise"):
            self.eval_z = self.game.noise(self, self.eval_z, Streams(seeds, 11, self.device, block=1))
        ev_real = Streams(seeds, 7, self.device, block=1)
        idx = ev_real.choice(EVAL_REAL, self.tb.weights)
        self.eval_real = self.mu[idx] + self.tb.sigma * ev_real.normal(EVAL_REAL, 2)
        self.dirs = testbeds.directions().to(self.device)

    # -- plumbing ---------------------------------------------------------------------------------
    def _optimiser(self, side: str) -> torch.optim.Optimizer:
        s, lr = self.s, (self.s.lr_g if side == "G" else self.s.lr_d)
        params = self.params[side]
        if s.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        # torch's constructors refuse a negative momentum (Gidel et al.'s negative momentum), which the
        # update rules themselves handle: SGD's v <- beta v + g, Adam's m <- beta1 m + (1 - beta1) g
        if s.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=max(s.beta1, 0.0))
            opt.param_groups[0]["momentum"] = s.beta1
            return opt
        # fused: one kernel for the whole update instead of ~10 elementwise ops (same maths)
        opt = torch.optim.Adam(params, lr=lr, betas=(max(s.beta1, 0.0), s.beta2), fused=True)
        opt.param_groups[0]["betas"] = (s.beta1, s.beta2)
        return opt

    def set_lr_factor(self, f: float) -> None:
        for side, opt in self.opt.items():
            for group in opt.param_groups:
                group["lr"] = self.base_lr[side] * f

    def add_sampler(self, fn: Callable) -> None:
        """Evaluation draws samples through ``fn(m, z)`` instead of G (weight averages, snapshots);
        ``fn`` returns data-space samples, e.g. ``m.samples(z, other_weights)``."""
        self._samplers.append(fn)

    # -- data and networks -----------------------------------------------------------------------
    def batch_size(self) -> int:
        return self.s.batch * self.pack

    def real(self, n: Optional[int] = None, labels: bool = False):
        """A batch of data (S, n, 2); with ``labels`` also each point's mode index (S, n). Without
        ``labels``, a game may append its columns (the label one-hot, an encoder's code)."""
        n = n or self.batch_size()
        idx = self.data.choice(n, self.tb.weights)
        x = self.mu[idx] + self.tb.sigma * self.data.normal(n, 2)
        if labels:
            return x, idx
        return self.game.real(self, x, idx) if hasattr(self.game, "real") else x

    def noise(self, n: Optional[int] = None) -> torch.Tensor:
        z = self.noise_stream.normal(n or self.batch_size(), self.s.z_dim)
        return self.game.noise(self, z, self.cond) if hasattr(self.game, "noise") else z

    def generate(self, z: torch.Tensor, g_flat: Optional[torch.Tensor] = None) -> torch.Tensor:
        """G's samples in data space (as D reads them: a game may return several generators' samples
        or append its columns)."""
        if hasattr(self.game, "generate"):
            return self.game.generate(self, z, g_flat)
        return self.G(z, g_flat) * self.tb.scale

    def samples(self, z: torch.Tensor, g_flat: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One data-space sample (S, n, 2) per latent: what evaluation and samplers show."""
        x = self.generate(z, g_flat)
        if hasattr(self.game, "pick"):
            x = self.game.pick(self, x)
        return x[..., :DATA]

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        """What D reads: data scaled to unit extent, the options' input transforms, ``pack`` samples
        concatenated into one input (S, B*pack, 2) -> (S, B, 2*pack). A game's columns after the data
        are not scaled, and are dropped unless its D reads them."""
        x = self._scaled(x)
        for f in self.hooks["d_input"]:
            x = f(x, self)
        s, n, d = x.shape
        return x.reshape(s, n // self.pack, d * self.pack)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == DATA:
            return x / self.tb.scale
        if not getattr(self.game, "d_reads_tags", True):
            return x[..., :DATA] / self.tb.scale
        return torch.cat([x[..., :DATA] / self.tb.scale, x[..., DATA:]], dim=-1)

    def d(self, x: torch.Tensor, d_flat: Optional[torch.Tensor] = None) -> torch.Tensor:
        """D's output on data-space samples (after the loss's ``head``, e.g. BEGAN's reconstruction error)."""
        return self.d_prepped(self.prep(x), d_flat)

    def d_prepped(self, xp: torch.Tensor, d_flat: Optional[torch.Tensor] = None) -> torch.Tensor:
        """D's output on inputs already prepared by :meth:`prep` (penalties differentiate w.r.t. these)."""
        out = self.D(xp, d_flat)
        if hasattr(self.game, "head"):
            out = self.game.head(out)
        return self.loss.head(xp, out) if hasattr(self.loss, "head") else out

    def d_pair(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D on real and on fake samples: one forward pass over both when D's output for a sample
        does not depend on the rest of its batch, else two (batch statistics must not mix them)."""
        if self.D.spec.batch_coupled or real.shape[1] != fake.shape[1]:
            return self.d(real), self.d(fake)
        out = self.d_prepped(torch.cat([self.prep(real), self.prep(fake)], dim=1))
        return out.chunk(2, dim=1)

    def d_params_for_g(self, real: torch.Tensor, fake: torch.Tensor) -> Optional[torch.Tensor]:
        """The D weights G is judged by: D's own, or an option's look-ahead copy (unrolled GAN). ``fake``
        keeps its graph: the look-ahead weights depend on G, and G's gradient flows through them."""
        return self._lookahead[0](self, real, fake) if self._lookahead else None

    # -- moving ------------------------------------------------------------------------------------
    def grads(self, side: str, loss: torch.Tensor, create_graph: bool = False) -> list[torch.Tensor]:
        """d(sum of seeds' losses)/d(side's parameters); NaN in one seed stays in that seed's rows."""
        return list(torch.autograd.grad(loss.sum(), self.params[side], create_graph=create_graph, allow_unused=True))

    def apply(self, side: str, grads: Sequence[Optional[torch.Tensor]]) -> None:
        """One optimiser step of ``side`` with the given gradients; after every step of D its hooks
        run (weight clipping acts after every critic step, whatever the update rule)."""
        for p, g in zip(self.params[side], grads):
            p.grad = None if g is None else g.detach()
        self.opt[side].step()
        if side == "D":
            for hook in self.hooks["after_d_step"]:
                hook(self)

    def step(self, side: str, loss: torch.Tensor) -> None:
        self.apply(side, self.grads(side, loss))

    # -- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        z = self.eval_z if z is None else z
        if self._samplers:
            return self._samplers[-1](self, z)
        return self.samples(z)

    @torch.no_grad()
    def measure(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = self.sample()
        return x, mode_metrics(self.tb, x) | {"w1": sliced(self, x)} | self.d_values(x)

    @torch.no_grad()
    def d_values(self, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean D output on the fixed real set and on G's samples: a probability for the sigmoid
        losses, the raw output otherwise."""
        squash = torch.sigmoid if getattr(self.loss, "sigmoid", True) else (lambda t: t)
        n = min(self.eval_real.shape[1], fake.shape[1])
        n -= n % self.pack
        with keep_state(self.D):
            r = squash(self.d_eval(self._prep_eval(self.eval_real[:, :n]))).mean((1, 2))
            f = squash(self.d_eval(self._prep_eval(fake[:, :n]))).mean((1, 2))
        return {"d_real": r, "d_fake": f}

    def d_eval(self, xp: torch.Tensor) -> torch.Tensor:
        """D on many prepared inputs at evaluation. A batch-coupled D (minibatch statistics, batch
        norm) judges them in chunks of its training batch size, as it judged while training (and its
        pairwise terms stay batch-sized instead of growing with the square of the grid)."""
        if not self.D.spec.batch_coupled:
            return self.d_prepped(xp)
        k = self.s.batch
        return torch.cat([self.d_prepped(xp[:, i:i + k]) for i in range(0, xp.shape[1], k)], dim=1)

    def _prep_eval(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self.game, "eval_input"):
            x = self.game.eval_input(self, x)
        x = self._scaled(x)
        s, n, d = x.shape
        return x.reshape(s, n // self.pack, d * self.pack)

    @torch.no_grad()
    def heatmap(self, seed_index: int = 0, res: int = 40) -> dict:
        """sigmoid(D) for one seed on a res x res grid around the data (with packing, D judges
        ``pack`` copies of the same point)."""
        lim = 1.5 * self.tb.scale + 0.5
        axis = torch.linspace(-lim, lim, res)
        gx, gy = torch.meshgrid(axis, axis, indexing="xy")
        pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(self.device)
        pts = pts.repeat_interleave(self.pack, 0).unsqueeze(0).expand(len(self.seeds), -1, -1)
        with keep_state(self.D):
            z = torch.sigmoid(self.d_eval(self._prep_eval(pts)))[seed_index, :, 0].reshape(res, res)
        z = [[v if math.isfinite(v) else None for v in row] for row in z.cpu().tolist()]
        return {"axis": axis.tolist(), "z": z}


class keep_state:
    """Evaluation must not disturb training: restore spectral norm's power-iteration vectors."""

    def __init__(self, net: FlatMLP):
        self.net = net

    def __enter__(self):
        self.saved = [u.clone() for u in self.net.u]

    def __exit__(self, *exc):
        self.net.u = self.saved


def mode_metrics(tb: testbeds.Testbed, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """PacGAN/VEEGAN protocol: a sample is high quality within 3 sd of its nearest mode; modes with
    at least one such sample are covered; reverse KL of their histogram against the true weights."""
    mu = tb.means.to(x.device)
    d = torch.cdist(x.float(), mu.expand(x.shape[0], -1, -1))
    dist, nearest = d.min(dim=2)
    hq = (dist <= 3 * tb.sigma) & torch.isfinite(x).all(dim=2)
    counts = torch.zeros(x.shape[0], tb.k, device=x.device)
    counts.scatter_add_(1, nearest.masked_fill(~hq, 0), hq.float())
    return {"modes": (counts > 0).sum(1).float(), "hq_fraction": hq.float().mean(1),
            "reverse_kl": testbeds.reverse_kl(counts, tb.weights)}


def sliced(m: Model, x: torch.Tensor) -> torch.Tensor:
    n = min(x.shape[1], m.eval_real.shape[1])
    x = torch.nan_to_num(x[:, :n], nan=1e6, posinf=1e6, neginf=-1e6)
    return testbeds.sliced_w1(x, m.eval_real[:, :n], m.dirs)


# ---------------------------------------------------------------------------------------------
# The loop


def train(recipes: dict[str, Recipe | dict | str], s: Settings, seeds: Sequence[int],
          on_event: Optional[Event] = None, should_stop: Optional[Callable[[], bool]] = None,
          frame_points: int = 400, tail: float = 0.3, seed_curves: Sequence[str] = ()) -> dict[str, dict]:
    """Train every recipe on ``seeds`` in lockstep. Returns per recipe: per-seed final metrics
    (plus the late distance to the data and its fluctuation over the last ``tail`` of evaluations),
    ``seed_curves`` metrics per seed at every evaluation (``curves["per_seed"][metric]``: one list of
    S values per evaluation),
    mean curves, samples of seed 0 (a list) and of every seed (``samples``, a tensor: drop it before
    writing JSON), D's map, divergence steps and wall time."""
    models = {name: Model(r if isinstance(r, Recipe) else make_recipe(r), s, seeds) for name, r in recipes.items()}
    keys = ("modes", "hq_fraction", "reverse_kl", "w1", "d_real", "d_fake", "d_loss", "g_loss")
    curves = {n: {"step": [], **{k: [] for k in keys}} for n in models}
    for c in curves.values():
        if seed_curves:
            c["per_seed"] = {k: [] for k in seed_curves}
    w1_hist = {n: [] for n in models}
    diverged = {n: [None] * len(seeds) for n in models}
    spent = {n: 0.0 for n in models}
    decay_start = int(s.decay_from * s.steps)
    stopped, step = False, 0
    for step in range(1, s.steps + 1):
        evaluate = step % s.eval_every == 0 or step == s.steps or step == 1
        frame = step % s.frame_every == 0 or step == s.steps or step == 1
        evaluate = evaluate or frame
        live = {}
        for name, m in models.items():
            if all(d is not None for d in diverged[name]):
                continue
            t = time.perf_counter()
            if step > decay_start:
                m.set_lr_factor((s.steps - step + 1) / max(1, s.steps - decay_start))
            d_loss, g_loss = m.rule.update(m)
            for hook in m.hooks["after_step"]:
                hook(m, step)
            bad = ~(torch.isfinite(d_loss) & torch.isfinite(g_loss))
            for i in torch.nonzero(bad).flatten().tolist():
                diverged[name][i] = diverged[name][i] or step
            if evaluate:
                x, met = m.measure()
                for hook in m.hooks["on_eval"]:
                    hook(m, step, met)
                c = curves[name]
                c["step"].append(step)
                ok = torch.tensor([d is None for d in diverged[name]], device=x.device)
                for k, v in met.items():
                    c[k].append(_mean(v[ok]))
                c["d_loss"].append(_mean(d_loss[ok]))
                c["g_loss"].append(_mean(g_loss[ok]))
                w1_hist[name].append(met["w1"].cpu())
                for k in seed_curves:
                    c["per_seed"][k].append([round(float(a), 5) for a in met[k].tolist()])
            if frame:  # the live view: fewer frames than evaluations, each shipped to every watcher
                live[name] = {"samples": _finite_points(x[0, :frame_points]), "heatmap": m.heatmap(res=28),
                              "metrics": {k: v.tolist() for k, v in met.items()}}
            spent[name] += time.perf_counter() - t
        if frame and on_event:
            on_event({"step": step, "total": s.steps, "variants": live, "curves": _copy_curves(curves)})
        if should_stop and should_stop():
            stopped = True
            break
        if all(d is not None for dv in diverged.values() for d in dv):
            break
    out = {}
    for name, m in models.items():
        x, met = m.measure()
        hist = torch.stack(w1_hist[name]) if w1_hist[name] else met["w1"].unsqueeze(0)
        late = hist[-max(1, math.ceil(tail * len(hist))):]
        per_seed = []
        for i in range(len(seeds)):
            row = {k: float(v[i]) for k, v in met.items()}
            row["late_w1"] = float(late[:, i].mean())
            row["fluctuation"] = float(late[:, i].std(unbiased=False)) if len(late) > 1 else 0.0
            row["diverged"] = float(diverged[name][i] is not None)
            if diverged[name][i] is not None:  # a diverged seed's numbers are noise: report them as NaN
                row.update({k: math.nan for k in row if k != "diverged"})
            per_seed.append(row)
        out[name] = {"recipe": m.recipe.to_data(), "label": m.recipe.label(), "per_seed": per_seed,
                     "curves": curves[name], "diverged_at": diverged[name], "steps_done": step, "stopped": stopped,
                     "samples_seed0": _finite_points(x[0, :600]), "samples": x.cpu(), "heatmap": m.heatmap(),
                     "wall_time_s": spent[name], "device": str(m.device)}
    return out


def _copy_curves(curves: dict) -> dict:
    """A snapshot of the curves for a live event (the lists keep growing after it is sent)."""
    return {n: {k: (dict((m, list(x)) for m, x in v.items()) if isinstance(v, dict) else list(v))
                for k, v in c.items()} for n, c in curves.items()}


def _mean(v: torch.Tensor) -> float:
    v = v[torch.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan


def _finite_points(x: torch.Tensor) -> list:
    return x[torch.isfinite(x).all(dim=1)].cpu().tolist()
