r"""Training for the medical-image demos (demos/brain_mri.py, demos/modalities.py): every variant
trained in lockstep over S seeds (seeds as channel groups, engine/image_nets.py), scored by the
set's classifier (engine/med_classifier.py) at each live frame. What each technique does, with its
paper's maths, is in :class:`Setup`; the claims are in demos/med_gan.py.

One step of a variant (non-saturating loss unless it says otherwise):

    D: L_D = -E log sigmoid(D(A(x))) - E log(1 - sigmoid(D(A(G(z))))) [+ R1] [+ CR] [+ AC-GAN's L_C]
    G: L_G = -E log sigmoid(D(A(G(z)))) [+ AC-GAN's L_C on G(z)]
    [EMA: G_ema <- beta G_ema + (1 - beta) G]

A is the identity, or DiffAugment / ADA's augmentation (applied to real and fake, for both
players, differentiable so that G learns through it). With progressive growing, G, D and the real
images are at the stage's resolution (:func:`grow_stage`); what is scored is always 32 x 32.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import torch

from engine import losses, med_data
from engine.losses import class_cross_entropy, one_hot
from engine.image_nets import Discriminator, Generator, downsample_real, upsample
from engine.metrics import mean_sd
from engine.nets import seed_generator
from engine.patch_nets import diff_augment

if TYPE_CHECKING:
    from .med_gan import Config

GRID = 25  # images per sample grid (5 x 5)
METRICS = ("classes", "reverse_kl", "frechet", "precision", "recall", "ms_ssim", "recognised")


@dataclass(frozen=True)
class Setup:
    """What a variant changes; the defaults are the failure (a DCGAN without normalisation).

    * ``g_norm`` bn / pixel / none and ``d_norm``: see engine/image_nets.py;
    * ``mbstd``, ``pack``, ``spectral``, ``eqlr``: see engine/image_nets.py;
    * ``r1`` = gamma > 0: R1 (Mescheder et al. 2018) adds (gamma / 2) E_x ||grad_x D(x)||^2 on real
      images to L_D, every step;
    * ``cr`` = lambda > 0: consistency regularisation (Zhang et al. 2020) adds
      lambda E_x (D(x) - D(T(x)))^2 to L_D, T a random flip and shift by up to 4 pixels (theirs);
    * ``diffaug``: DiffAugment (Zhao et al. 2020) with ``Config.diffaug_policy``;
    * ``ada``: adaptive discriminator augmentation (Karras et al. 2020): each image D sees is
      augmented with probability p (flip, shift by up to 4 pixels, brightness and contrast), p tuned
      every 4 steps from the overfitting heuristic r_t = E[sign(D(x_real))]: p += sign(r_t - 0.6) *
      (4 * batch) / ``Config.ada_images``, clipped to [0, 1] (target 0.6 is the paper's);
    * ``fm``: feature matching (Salimans et al. 2016): G's loss is ||E_x f(x) - E_z f(G(z))||_2^2
      instead of the non-saturating loss, f the input of D's last (linear) layer (its last feature
      map after the LReLU), the means over the batch of real images D just saw and over G's batch;
      D trains as in the failure;
    * ``ms`` = lambda > 0: mode-seeking regularisation (Mao et al. 2019, MSGAN): for the two halves
      z1, z2 of G's batch, L_ms = mean|G(z1) - G(z2)| / mean|z1 - z2| (the authors' code: mean
      absolute differences), and lambda / (L_ms + 1e-5) is added to G's loss (their lambda = 1);
    * ``ema`` = beta > 0: images are drawn by an exponential moving average of G's weights
      (Karras et al. 2018; Yazici et al. 2019), theta_ema <- beta theta_ema + (1 - beta) theta;
    * ``attention``: SAGAN's self-attention block (Zhang et al. 2019) in G and in D at their
      16 x 16 feature maps (engine/image_nets.SelfAttention; the rest as in the failure: no
      spectral normalisation, non-saturating loss, one learning rate);
    * ``cond``: the class (brain level, modality) given to the networks. ``input``: a conditional GAN
      (Mirza and Osindero 2014): G(z | y) reads [z, onehot(y)], D(x | y) reads x with K constant maps
      onehot(y) appended as channels, so D judges whether x is real *and* of class y. ``aux``: AC-GAN
      (Odena et al. 2017): G(z | y) as above, D unconditional with a K-way class head C(x) on its last
      features; with L_C = E CE(C(x_real), y_real) + E CE(C(G(z | y)), y) (CE: cross-entropy), D
      minimises its loss + L_C and G its loss + E CE(C(G(z | y)), y) (the paper: D maximises
      L_S + L_C, G maximises L_C - L_S). Real images carry their class; G's labels are drawn uniformly;
      the scored images ask for each class in turn (coverage still counts the classes the classifier
      recognises in them, as for every variant);
    * ``progressive``: progressive growing (Karras et al. 2018): G and D start at 8 x 8 and grow to
      16 x 16, then 32 x 32, each new block faded in linearly; the real images are average-pooled to
      the current resolution and blended the same way during a fade. Schedule (:func:`grow_stage`):
      the run's steps in five equal phases, 8 x 8 | fade in 16 | 16 x 16 | fade in 32 | 32 x 32
      (the paper's equal fade and stabilise phases; 120 steps each at the default 600).
    """

    g_norm: str = "none"
    d_norm: bool = False
    mbstd: bool = False
    pack: int = 1
    spectral: bool = False
    eqlr: bool = False
    r1: float = 0.0
    cr: float = 0.0
    diffaug: bool = False
    ada: bool = False
    ema: float = 0.0
    fm: bool = False
    ms: float = 0.0
    attention: bool = False
    progressive: bool = False
    loss: str = "nonsaturating"
    cond: str = "none"  # none / input (conditional GAN) / aux (AC-GAN)


CONDITIONS = ("none", "input", "aux")


def with_label_maps(x: torch.Tensor, y: torch.Tensor, c: int, k: int) -> torch.Tensor:
    """The conditional D's input: images x (B, S*C, r, r) of S seeds (seed s in channel group s) with
    their classes y (S, B) appended to each seed's group as K constant maps: (B, S*(C+K), r, r)."""
    b, sc, r, _ = x.shape
    s = sc // c
    maps = one_hot(y, k).transpose(0, 1)[..., None, None].expand(b, s, k, r, r)
    return torch.cat([x.view(b, s, c, r, r), maps], 2).reshape(b, s * (c + k), r, r)


GROW_PHASES = 5  # 8 x 8 | fade to 16 | 16 x 16 | fade to 32 | 32 x 32


def grow_stage(step: int, steps: int) -> tuple[int, float]:
    """Progressive growing's (resolution, alpha) for generator step ``step`` (1-based) of ``steps``:
    the steps are cut into five equal phases of L = steps / 5; with u = (step - 1) / L, phase
    floor(u) is 8 x 8, a fade to 16 (alpha = u - 1 rising 0 -> 1), 16 x 16, a fade to 32
    (alpha = u - 3), then 32 x 32 (alpha 1). At 600 steps: steps 1-120 at 8, 121-240 fade to 16,
    241-360 at 16, 361-480 fade to 32, 481-600 at 32."""
    if not 1 <= step <= steps:
        raise ValueError(f"step must be in 1..{steps}, got {step}")
    u = (step - 1) * GROW_PHASES / steps
    if u < 1:
        return 8, 1.0
    if u < 2:
        return 16, u - 1
    if u < 3:
        return 16, 1.0
    if u < 4:
        return 32, u - 3
    return 32, 1.0


MS_EPS = 1e-5  # MSGAN's epsilon in lambda / (L_ms + eps)


def mode_seeking_ratio(z: torch.Tensor, fake: torch.Tensor, s: int) -> torch.Tensor:
    """MSGAN's L_ms per seed (S,): mean|G(z1) - G(z2)| / mean|z1 - z2|, z1 and z2 the first and
    second half of the batch; z (S, B, z_dim), fake (B, S*C, r, r)."""
    h = z.shape[1] // 2
    x = fake.reshape(fake.shape[0], s, -1)
    d_img = (x[:h] - x[h:2 * h]).abs().mean(dim=(0, 2))
    d_z = (z[:, :h] - z[:, h:2 * h]).abs().mean(dim=(1, 2))
    return d_img / d_z


def shift_flip(x: torch.Tensor, gens: Sequence[torch.Generator], shift: int = 4) -> torch.Tensor:
    """T of consistency regularisation and part of ADA's pipeline: per image (and seed) a left-right
    flip with probability 1/2, then a shift by up to ``shift`` pixels (zero fill)."""
    b, sc, h, w = x.shape
    s = len(gens)
    flip = torch.stack([torch.rand(b, generator=g) < 0.5 for g in gens], 1).view(b, s, 1, 1, 1).to(x.device)
    y = x.view(b, s, sc // s, h, w)
    y = torch.where(flip, y.flip(4), y).reshape(x.shape)
    return diff_augment(y, gens, ("translation",), shift)


class MedRun:
    """Networks, optimisers and random streams of one variant over S seeds."""

    def __init__(self, su: Setup, cfg: "Config", kind: str, seeds: Sequence[int], device: torch.device):
        self.su, self.cfg, self.seeds, self.device = su, cfg, list(seeds), device
        self.data, self.c = med_data.build(kind), med_data.CHANNELS[kind]
        s, k = len(seeds), self.data.classes
        if su.cond not in CONDITIONS:
            raise ValueError(f"cond must be one of {', '.join(CONDITIONS)}, got {su.cond!r}")
        if su.cond != "none" and (su.pack > 1 or su.progressive):
            raise ValueError("conditioning is not implemented with packing or progressive growing")
        self.k = k if su.cond != "none" else 0  # classes the networks are told about
        self.G = Generator(seeds, cfg.z_dim + self.k, self.c, su.g_norm, cfg.g_width, su.eqlr, su.attention,
                           su.progressive).to(device)
        self.D = Discriminator(seeds, self.c + (k if su.cond == "input" else 0), cfg.d_width, su.pack, su.d_norm,
                               su.spectral, su.mbstd, su.eqlr, su.attention, su.progressive,
                               classes=k if su.cond == "aux" else 0).to(device)
        self.steps_done = 0
        self.res, self.alpha = self.stage(1)
        self.G_ema = copy.deepcopy(self.G) if su.ema else None
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, 0.999))
        self.gens = [seed_generator(x, 3) for x in seeds]  # data and latent noise, per seed
        self.aug_gens = [seed_generator(x, 5) for x in seeds]
        self.policy = tuple(cfg.diffaug_policy.split(","))
        self.p = torch.zeros(s)  # ADA's augmentation probability per seed
        self.r_sum, self.r_n = torch.zeros(s), 0
        self.eval_z = torch.stack([torch.randn(cfg.eval_samples, cfg.z_dim, generator=seed_generator(x, 7))
                                   for x in seeds]).to(device)
        # a conditional G's scored images ask for each class in turn (K = 7: 37 of the 256 for classes 0-3, 36 for 4-6)
        self.eval_y = (torch.arange(cfg.eval_samples) % k).expand(s, -1).to(device) if self.k else None
        self.d_loss_fn, self.g_loss_fn = losses.LOSSES[su.loss]

    def stage(self, step: int) -> tuple[int, float]:
        """(resolution, alpha) of G and D at generator step ``step``: (32, 1) unless growing."""
        return grow_stage(step, self.cfg.steps) if self.su.progressive else (32, 1.0)

    def real(self, n: int) -> torch.Tensor:
        """(n, S*C, r, r): seed s's images in its channel group, at the current resolution r."""
        return self.real_labelled(n)[0]

    def real_labelled(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """real(n) and the images' classes (S, n)."""
        xs, ys = zip(*[self.data.sample(n, g) for g in self.gens])
        x = torch.cat(xs, 1).to(self.device)
        return (downsample_real(x, self.res, self.alpha) if self.res < 32 else x), torch.stack(ys).to(self.device)

    def labels(self, n: int) -> Optional[torch.Tensor]:
        """The classes G is asked for, (S, n) uniform, from each seed's stream; None unless conditional
        (an unconditional run draws nothing here, so its random streams are those it always had)."""
        if not self.k:
            return None
        return torch.stack([torch.randint(self.k, (n,), generator=g) for g in self.gens]).to(self.device)

    def g_input(self, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        return z if y is None else torch.cat([z, one_hot(y, self.k)], 2)

    def noise(self, n: int) -> torch.Tensor:
        return torch.stack([torch.randn(n, self.cfg.z_dim, generator=g) for g in self.gens]).to(self.device)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.su.diffaug:
            return diff_augment(x, self.aug_gens, self.policy)
        if self.su.ada:  # each image augmented with its seed's probability p
            b, s = x.shape[0], len(self.seeds)
            a = diff_augment(shift_flip(x, self.aug_gens), self.aug_gens, ("color",))
            on = torch.stack([torch.rand(b, generator=g) for g in self.aug_gens], 1) < self.p
            return torch.where(on.view(b, s, 1, 1, 1).to(x.device), a.view(b, s, -1, *x.shape[2:]),
                               x.view(b, s, -1, *x.shape[2:])).view_as(x)
        return x

    def d(self, x: torch.Tensor, features: bool = False, y: Optional[torch.Tensor] = None):
        """Logits (S, B) of images x (B*pack, S*C, r, r): augmented, then packed (with ``features``
        also D's last features, (S, B, F)); ``y`` (S, B): their classes, which a conditional D reads."""
        x = self.augment(x)
        m, s, r = self.su.pack, len(self.seeds), x.shape[-1]
        if m > 1:  # pack m consecutive images of each seed as channels
            x = x.view(-1, m, s, self.c, r, r).transpose(1, 2).reshape(-1, s * m * self.c, r, r)
        return self.judge(x, features, y)

    def judge(self, x: torch.Tensor, features: bool = False, y: Optional[torch.Tensor] = None):
        """D's logits at the current stage (a growing D takes its resolution and alpha)."""
        if self.su.cond == "input":
            x = with_label_maps(x, y, self.c, self.k)
        args = (x, self.res, self.alpha) if self.su.progressive else (x,)
        return self.D(*args, features=True) if features else self.D(*args)

    def d_cls(self, x: torch.Tensor, y: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """D's logits and, for AC-GAN, its class logits (S, B, K) (else None)."""
        if self.su.cond == "aux":
            logits, h = self.d(x, features=True)
            return logits, self.D.classify(h)
        return self.d(x, y=y), None

    def g_objective(self, z: torch.Tensor, fake: torch.Tensor, real: torch.Tensor,
                    y_fake: Optional[torch.Tensor] = None, y_real: Optional[torch.Tensor] = None) -> torch.Tensor:
        """G's loss per seed (S,): non-saturating, or feature matching; plus the mode-seeking term;
        plus AC-GAN's class term."""
        su = self.su
        if su.fm:  # Salimans et al.: match the batch means of D's last features (real ones fixed)
            with torch.no_grad():
                f_real = self.d(real, features=True, y=y_real)[1].mean(1)
            g_loss = (f_real - self.d(fake, features=True, y=y_fake)[1].mean(1)).pow(2).sum(1)
        else:
            logits, cls = self.d_cls(fake, y_fake)
            g_loss = self.g_loss_fn(logits)
            if cls is not None:
                g_loss = g_loss + class_cross_entropy(cls, y_fake)
        if su.ms:
            g_loss = g_loss + su.ms / (mode_seeking_ratio(z, fake, len(self.seeds)) + MS_EPS)
        return g_loss

    def step(self) -> tuple[torch.Tensor, torch.Tensor]:
        su, n = self.su, self.cfg.batch * self.su.pack
        self.res, self.alpha = self.stage(self.steps_done + 1)
        z = self.noise(n)
        y_fake = self.labels(n)  # None unless conditional
        fake = self.G(self.g_input(z, y_fake), self.res, self.alpha)
        real, y_real = self.real_labelled(n)
        real = real.requires_grad_(su.r1 > 0)
        d_real, c_real = self.d_cls(real, y_real)
        d_fake, c_fake = self.d_cls(fake.detach(), y_fake)
        d_loss = self.d_loss_fn(d_real, d_fake)
        if c_real is not None:  # AC-GAN: D also names the class of real and generated images
            d_loss = d_loss + class_cross_entropy(c_real, y_real) + class_cross_entropy(c_fake, y_fake)
        if su.r1:
            g, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            d_loss = d_loss + su.r1 / 2 * g.pow(2).view(n, len(self.seeds), -1).sum(2).mean(0)
        if su.cr:
            x = real.detach()
            gap = self.judge(x, y=y_real) - self.judge(shift_flip(x, self.aug_gens), y=y_real)
            d_loss = d_loss + su.cr * gap.pow(2).mean(1)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.sum().backward()  # a sum over seeds: each seed gets its own run's gradient
        self.opt_d.step()
        g_loss = self.g_objective(z, fake, real.detach(), y_fake, y_real)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.sum().backward()
        self.opt_g.step()
        if su.ema:
            with torch.no_grad():
                for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
                    pe.lerp_(p, 1 - su.ema)
        if su.ada:
            self.r_sum += d_real.detach().sign().mean(1).cpu()
            self.r_n += 1
            if self.r_n == 4:
                step = 4 * self.cfg.batch / self.cfg.ada_images
                self.p = (self.p + torch.sign(self.r_sum / 4 - self.cfg.ada_target) * step).clamp(0, 1)
                self.r_sum, self.r_n = torch.zeros_like(self.r_sum), 0
        self.steps_done += 1
        return d_loss.detach(), g_loss.detach()

    @torch.no_grad()
    def sample(self, n: Optional[int] = None) -> torch.Tensor:
        """The first n (default all) evaluation images of every seed: (S, n, C, 32, 32) on the CPU.
        G stays in train mode (batch statistics, as it trains), the EMA copy too. A growing G draws
        at its current stage (that of the last step done), upsampled (nearest) to 32 x 32."""
        y = None if self.eval_y is None else self.eval_y[:, :n]
        x = upsample((self.G_ema or self.G)(self.g_input(self.eval_z[:, :n], y), self.res, self.alpha), 32)
        b = x.shape[0]
        return x.view(b, len(self.seeds), self.c, 32, 32).transpose(0, 1).float().cpu()


def grid(x: torch.Tensor, n: int = GRID) -> list:
    """The first n images (n, C, 32, 32) in [-1, 1] as nested lists of 0..255 (compact JSON for the page)."""
    return torch.nan_to_num(x[:n], 0.0).clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8).tolist()


def train(setups: dict[str, Setup], cfg: "Config", kind: str, seeds: Sequence[int], on_event=None,
          should_stop=None) -> dict:
    from engine.med_classifier import judge

    device = torch.device("cpu")
    jd = judge(kind)
    runs = {v: MedRun(su, cfg, kind, seeds, device) for v, su in setups.items()}
    curves = {v: {"step": [], **{m: [] for m in METRICS}} for v in runs}
    diverged = {v: [None] * len(seeds) for v in runs}
    spent = {v: 0.0 for v in runs}
    stopped, step, scores, scored_at, last_x = False, 0, {}, 0, {}
    for step in range(1, cfg.steps + 1):
        # a scored frame every eval_every steps and at the end (scoring S x 256 images takes seconds);
        # a grid alone, with the last scores, at step 1 and every grid_every steps in between, for a
        # live view only (a CLI run, a sweep or a test has nobody to show it to)
        scored = step % cfg.eval_every == 0 or step == cfg.steps
        frame = scored or (on_event is not None and (step == 1 or step % cfg.grid_every == 0))
        live = {}
        for v, run in runs.items():
            t = time.perf_counter()
            d_loss, g_loss = run.step()
            for i in torch.nonzero(~(torch.isfinite(d_loss) & torch.isfinite(g_loss))).flatten().tolist():
                diverged[v][i] = diverged[v][i] or step
            spent[v] += time.perf_counter() - t
            if scored:
                x = last_x[v] = run.sample()
                scores[v] = [jd.score(x[i]) for i in range(len(seeds))]
                scored_at = step
                curves[v]["step"].append(step)
                for m in METRICS:
                    curves[v][m].append(mean_sd([p[m] for p in scores[v]])[0])
                live[v] = {"grid": grid(x[0]), "metrics": scores[v], "scored_step": step}
            elif frame:
                live[v] = {"grid": grid(run.sample(GRID)[0]), "metrics": scores.get(v),
                           "scored_step": scored_at or None}
        if frame and on_event:
            on_event({"step": step, "total": cfg.steps, "variants": live,
                      "curves": {v: {k: list(c) for k, c in cv.items()} for v, cv in curves.items()}})
        if should_stop and should_stop():
            stopped = True
            break
    out = {}
    for v, run in runs.items():
        if scored_at == step:  # the last step was a scored frame: the same weights, the same images
            x, per_seed = last_x[v], scores[v]
        else:
            x = run.sample()
            per_seed = [jd.score(x[i]) for i in range(len(seeds))]
        out[v] = {"per_seed": per_seed, "curves": curves[v], "diverged_at": diverged[v], "steps_done": step,
                  "stopped": stopped, "grid": grid(x[0]), "wall_time_s": spent[v], "device": str(device),
                  "ada_p": run.p.tolist() if run.su.ada else None}
    return out
