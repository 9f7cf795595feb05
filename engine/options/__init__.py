r"""Technique options and recipes.

A *recipe* is the plain GAN plus a set of technique options, as plain data::

    {"pacgan": {"pack": 2}, "r1": {"gamma": 0.1}}          # JSON / YAML
    "pacgan.pack=2,r1.gamma=0.1"                           # the same in a URL or on the CLI

A *technique option* is one subclass of :class:`Option` in this package, registered with
``@register``: its docstring carries the maths, ``cite`` the taxonomy's citation key of its paper,
``Params`` its knobs (a frozen dataclass with bounds, defaults from the paper where it gives them),
and it implements only the hooks it needs (see :class:`Option`). The trainer
(:mod:`engine.lab`) calls every option's hooks in registry order; no code anywhere asks "is option X
on?". Adding a technique = one class here + its test (tests/test_options_*.py).

Options compose. Two options conflict when they belong to the same exclusive ``group`` (two losses,
two update rules, two discriminator games) or when one names the other (its id, group or one of its
``traits``) in ``conflicts``; a recipe with a conflict is refused with a message naming both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Optional

from ..config import ConfigError, from_overrides

OPTIONS: dict[str, type["Option"]] = {}

# Citation keys of the newer techniques (issue 19) that taxonomy/data/bibliography.yaml does not list
# yet (the taxonomy's own branch adds them under these keys), with their arXiv ids.
PENDING_CITES = {
    "huang2024r3gan": "2501.05441", "zhao2021icr": "2002.04724", "tseng2021lecam": "2104.03310",
    "petzka2018wganlp": "1709.08894", "thanhtung2019generalization": "1902.03984",
    "odena2018jacobian": "1802.08768", "zhao2017ebgan": "1609.03126",
    "gidel2019negativemomentum": "1807.04740", "balduzzi2018sga": "1802.05642",
    "chavdarova2021lookahead": "2006.14567", "sinha2020topk": "2002.06224",
}

KINDS = ("loss", "penalty", "normalisation", "architecture", "optimisation")


@dataclass(frozen=True)
class NoParams:
    pass


class Option:
    """One technique. Hooks (all optional; the trainer calls each option's in registry order):

    * ``adjust(s)`` -> Settings: change run-wide settings (TTUR's learning rates);
    * ``prepare(m)``: before the networks are built (``m.s``, ``m.tb``: size them from the testbed);
    * ``net(role, spec)`` -> NetSpec: change network ``role`` ("G" or "D") before it is built;
    * ``setup(m)``: after the networks are built (extra networks, state, n_disc, samplers);
    * ``d_input(x, m)`` -> x: transform every sample D judges while training (instance noise);
    * ``d_penalty(m, real, fake)`` -> (S,) tensor added to D's loss;
    * ``g_penalty(m, z, fake)`` -> (S,) tensor added to G's loss;
    * ``g_scores(m, out_f)`` -> D's outputs on G's samples that G's loss reads (top-k keeps the best);
    * ``after_d_step(m)``: after every step of D (weight clipping);
    * ``after_step(m, step)``: after both players have moved (weight averages);
    * ``on_eval(m, step, metrics)``: after every evaluation (early stopping);
    * losses (group "loss") implement ``d_loss(real_out, fake_out)`` and ``g_loss(fake_out, real_out)``;
    * update rules (group "update") implement ``update(m)``: one whole training step;
    * games (group "game": several G or D, encoders, labels) implement ``d_objective(m, real, fake)``
      and ``g_objective(m, real, z)`` (see :class:`engine.lab.StandardGame`), add their networks in
      ``setup`` and may implement the sample hooks listed in :mod:`engine.lab` (``real``, ``noise``,
      ``generate``, ``pick``, ``head``, ``eval_input``).
    """

    id: ClassVar[str]
    label: ClassVar[str]
    kind: ClassVar[str]
    cite: ClassVar[str]  # citation key in taxonomy/data/bibliography.yaml
    group: ClassVar[Optional[str]] = None  # exclusive group: at most one option of a group per recipe
    conflicts: ClassVar[tuple[str, ...]] = ()  # option ids, group names or traits this one cannot join
    traits: ClassVar[tuple[str, ...]] = ()  # what it assumes, for others' conflicts ("one_d": one scalar D)
    Params: ClassVar[type] = NoParams

    def __init__(self, params: Any = None):
        self.p = params if params is not None else self.Params()

    def __repr__(self) -> str:
        return f"{self.id}({self.p})"


def register(cls: type[Option]) -> type[Option]:
    if cls.id in OPTIONS:
        raise ValueError(f"option id {cls.id!r} registered twice")
    if cls.kind not in KINDS:
        raise ValueError(f"option {cls.id!r}: kind {cls.kind!r} not in {KINDS}")
    OPTIONS[cls.id] = cls
    return cls


MODULES = ("losses", "penalties", "normalisation", "architecture", "optimisation", "games")


def _load_all() -> None:
    """Import the modules that register options (each module is one category) and put the registry
    in their canonical order: the order hooks run in and recipes are written in must not depend on
    which module some caller happened to import first."""
    from . import losses, penalties, normalisation, architecture, optimisation, games  # noqa: F401

    ranked = sorted(OPTIONS.items(), key=lambda kv: MODULES.index(kv[1].__module__.rsplit(".", 1)[-1]))
    if [k for k, _ in ranked] != list(OPTIONS):
        OPTIONS.clear()
        OPTIONS.update(ranked)


# ---------------------------------------------------------------------------------------------
# Recipes: plain data <-> validated options


@dataclass(frozen=True)
class Recipe:
    """A validated, canonical recipe: (option id, params) pairs in registry order."""

    items: tuple[tuple[str, Any], ...] = ()

    def options(self) -> list[Option]:
        return [OPTIONS[k](p) for k, p in self.items]

    def ids(self) -> list[str]:
        return [k for k, _ in self.items]

    def to_data(self) -> dict[str, dict]:
        """{"option": {param: value, ...}} with only the params that differ from their defaults."""
        out = {}
        for k, p in self.items:
            d = OPTIONS[k].Params()
            out[k] = {f.name: getattr(p, f.name) for f in dataclasses.fields(p) if getattr(p, f.name) != getattr(d, f.name)}
        return out

    def to_text(self) -> str:
        """URL/CLI form: ``pacgan.pack=4,r1`` (an option with default params is its bare id)."""
        parts = []
        for k, params in self.to_data().items():
            parts.extend([f"{k}.{n}={_fmt(v)}" for n, v in params.items()] or [k])
        return ",".join(parts)

    def label(self) -> str:
        if not self.items:
            return "Plain GAN"
        return " + ".join(OPTIONS[k].label for k, _ in self.items)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def parse_text(text: str) -> dict[str, dict[str, str]]:
    """``"pacgan.pack=4,r1"`` -> ``{"pacgan": {"pack": "4"}, "r1": {}}`` (values still strings)."""
    out: dict[str, dict[str, str]] = {}
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
            if "." not in key:
                raise ConfigError(f"recipe item {item!r}: expected option.param=value")
            opt, param = key.split(".", 1)
            out.setdefault(opt.strip(), {})[param.strip()] = value.strip()
        else:
            out.setdefault(item, {})
    return out


def make_recipe(data: Mapping[str, Any] | str | None) -> Recipe:
    """Validate plain data (a mapping or the text form) into a :class:`Recipe`. Unknown options,
    unknown or out-of-range params and conflicting options raise :class:`ConfigError` naming them."""
    _load_all()
    if data is None:
        data = {}
    if isinstance(data, str):
        data = parse_text(data)
    if not isinstance(data, Mapping):
        raise ConfigError(f"a recipe is a mapping of option -> params, got {type(data).__name__}")
    chosen = {}
    for key, params in data.items():
        if key not in OPTIONS:
            raise ConfigError(f"unknown option {key!r}; known options: {', '.join(sorted(OPTIONS))}")
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"option {key!r}: params must be a mapping, got {params!r}")
        try:
            chosen[key] = from_overrides(OPTIONS[key].Params, dict(params))
        except ConfigError as e:
            raise ConfigError(f"option {key!r}: {e}") from None
    check_compatible(list(chosen))
    order = list(OPTIONS)
    return Recipe(tuple(sorted(chosen.items(), key=lambda kv: order.index(kv[0]))))


def check_compatible(ids: list[str]) -> None:
    """Refuse two options of one exclusive group, or a declared conflict, naming both."""
    for i, a in enumerate(ids):
        ca = OPTIONS[a]
        for b in ids[i + 1:]:
            cb = OPTIONS[b]
            if ca.group and ca.group == cb.group:
                raise ConfigError(f"options {a!r} and {b!r} cannot be combined: both set the {ca.group}")
            if set(ca.conflicts) & _names(cb) or set(cb.conflicts) & _names(ca):
                raise ConfigError(f"options {a!r} and {b!r} cannot be combined ({_why(ca, cb)})")


def _names(c: type[Option]) -> set[str]:
    """What another option's ``conflicts`` may name: the id, the group and the traits."""
    return {c.id, *([c.group] if c.group else []), *c.traits}


def _why(a: type[Option], b: type[Option]) -> str:
    """The note of the option that declared the conflict (the first one's if both did)."""
    declared = [c for c, other in ((a, b), (b, a)) if set(c.conflicts) & _names(other)]
    note = next((getattr(c, "conflict_note", "") for c in declared if getattr(c, "conflict_note", "")), "")
    return note or "they change the same part of the GAN in incompatible ways"


def describe() -> list[dict]:
    """Every option as plain data (for ``python -m demos options`` and the lab's controls)."""
    from ..config import describe as fields

    _load_all()
    return [{"id": k, "label": c.label, "kind": c.kind, "group": c.group, "cite": c.cite,
             "doc": (c.__doc__ or "").strip(), "params": fields(c.Params)} for k, c in OPTIONS.items()]
