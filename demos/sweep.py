r"""Sweeps on Ray: a demo x a grid of settings x seeds, each cell a Ray task, one streaming table.

    python -m demos sweep sweeps/evidence_mode_collapse.yaml         # local Ray, one task per core
    python -m demos sweep SPEC --address 10.0.0.5:6379               # an existing cluster (or $RAY_ADDRESS)
    python -m demos sweep SPEC --dry-run                             # list the cells and which are done

A spec is a YAML file (:class:`Spec`; unknown keys are refused)::

    name: mode_collapse_settings        # the table is OUT/NAME.parquet (+ .csv, + .md report)
    demo: mode_collapse                 # a demo of demos.catalog, or "papers" (demos/papers.py)
    variants: [gan, pacgan]             # default: all of the demo's
    set: {decay_from: 0.3}              # config overrides for every point
    grid:                               # a product of lists, or a list of products (their union)
      - {dataset: [ring], sigma: [0.05, 0.1]}
      - {dataset: [grid], sigma: [0.2, 0.25], steps: [2500, 3500]}
    seeds: 16                           # seeds first_seed .. first_seed + seeds - 1
    seeds_per_task: 8                   # seeds trained as one batched computation per task

**Cells.** A cell is one point of the grid x one block of ``seeds_per_task`` consecutive seeds, with
every variant of the spec. The demos train a block of seeds as one batched computation (small
matmuls cost per op, not per seed): 8 seeds in one task cost ~1.5-2x one seed, so a task per seed
would cost several times the CPU. Blocks are fixed by the spec (seeds 0-7, 8-15, ...), so a cell
computes the same numbers wherever and whenever it runs.

**Content addressing and resume.** A cell's key is a hash of (demo, variants, its full resolved
config, its seeds, the tissue ``setup``, the code version); the code version hashes the source the
demo runs (its module and every engine/ or demos/ module it imports, found from the import
statements) and this file's claim adapters, so an edit to the training code gives its cells new keys. Each finished cell is written at once to
``OUT/.NAME.parts/KEY.parquet`` and merged into the table every few seconds; re-running a killed
sweep skips every cell whose key is already in the table or the parts. A cell that raises is
recorded with its error (one row per variant and seed, ``error`` set) and the sweep goes on; the
next run retries it.

**Ray.** Each cell is a plain Ray task (``num_cpus=1``): Ray's scheduler places tasks and
``ray.wait`` streams them back as they finish; every task sets one torch thread. Without
``--address`` (or ``$RAY_ADDRESS``) a local Ray starts with one worker per core (``--cpus``). The
code reaches the workers as a Ray ``working_dir`` (this checkout, without tests/docs/.git), and each
task checks that its code version is the driver's, so a node with other code fails loudly.
Ray Tune was not used: its trials are one process per config with their own directories and
checkpoints, while a cell here is a short, deterministic function whose only state is its row
block; plain tasks plus ``ray.wait`` are the whole scheduler.

**Table.** One row per (cell, variant, seed): ``sweep, key, demo, variant, label, role
(failure/fix), testbed, point (JSON of the grid values), config (JSON of the full config), seed,
claim`` (the demo's own per-seed claim rule; empty where the demo has none), ``error``, timing
(``cell_wall_s``: the task's wall time; ``variant_wall_s``), ``host``, ``code_version``, one
``m_<metric>`` column per per-seed metric and one ``p_<key>`` column per grid key. The spec itself
travels in the Parquet file's metadata (``gan_clinic_spec``).
"""
from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ROOT = Path(__file__).resolve().parent.parent
SPEC_META = b"gan_clinic_spec"
EXTRA_DEMOS = {"papers": "demos.papers"}  # runnable with the demo contract, not listed in the catalogue
# what the Ray working_dir leaves out: only the code, the shipped classifier and the data it reads travel
WORKING_DIR_EXCLUDES = [".git", "tests", "docs", ".cache", "cache", "tmp", "*.parquet", "*.csv", "**/__pycache__",
                        "pretrained/tissue_patches_*"]


class SweepError(ValueError):
    """A spec or a run request is invalid; ``str()`` names the file, the field and what was expected."""


# ---------------------------------------------------------------------------------------------
# The spec


class Axis(BaseModel):
    """The setting a sensitivity plot puts on its x axis: ``key`` (a grid key), divided by ``over``
    (another config key) when given, e.g. the D/G learning-rate ratio lr_d / lr_g."""

    model_config = ConfigDict(extra="forbid")
    key: str
    over: Optional[str] = None
    label: str = ""
    log: bool = False


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_]*$", max_length=80)
    title: str = ""
    purpose: Literal["matrix", "sensitivity", "settings", "paper"] = "settings"
    demo: str
    variants: Optional[list[str]] = None
    set: dict[str, Any] = {}
    grid: Union[dict[str, list], list[dict[str, list]]] = {}
    seeds: int = Field(8, ge=1, le=4096)
    first_seed: int = Field(0, ge=0, le=10**6)
    seeds_per_task: int = Field(8, ge=1, le=64)
    setup: dict[str, Any] = {}  # tissue_patches only: the base network of every variant (see _tissue_setup)
    x: Optional[Axis] = None  # sensitivity sweeps: the x axis
    form: str = ""  # paper presets: "cpu" or "gpu"
    paper: str = ""  # paper presets: which published table (a key of demos.papers.PUBLISHED)
    notes: str = ""
    metrics: list[str] = []  # per-seed metrics the report shows (default: the demo's METRICS, first four)
    out: str = "docs/sweeps"


def load_spec(path: Path | str) -> Spec:
    """Read and validate a spec; every problem is a :class:`SweepError` naming the file and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepError(f"{path}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SweepError(f"{path}: cannot read ({e})") from None
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SweepError(f"{path}: expected a mapping of spec fields, got {type(raw).__name__}")
    raw.setdefault("name", path.stem)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as e:
        msgs = [f"{'.'.join(map(str, err['loc'])) or 'spec'}: {err['msg']}" for err in e.errors()[:5]]
        raise SweepError(f"{path}: " + "; ".join(msgs)) from None
    check_spec(spec, path)
    return spec


def module_name(demo: str) -> str:
    from .catalog import CATALOG

    if demo in CATALOG and CATALOG[demo].module:
        return CATALOG[demo].module
    if demo in EXTRA_DEMOS:
        return EXTRA_DEMOS[demo]
    raise SweepError(f"unknown demo '{demo}'; expected one of: {', '.join([*CATALOG, *EXTRA_DEMOS])}")


def points(spec: Spec) -> list[tuple[dict, Optional[list[str]]]]:
    """The grid's points, in order, without repeats ({} when there is no grid), each with the
    variants of its block: a block of a grid list may name its own ``variants`` (not an axis), e.g.
    one fix with its knob varied beside the failure it is measured against."""
    out: list[tuple[dict, Optional[list[str]]]] = []
    for g in spec.grid if isinstance(spec.grid, list) else [spec.grid]:
        g = dict(g)
        variants = g.pop("variants", None)
        keys = list(g)
        for values in itertools.product(*(g[k] for k in keys)):
            p = (dict(zip(keys, values)), variants)
            if p not in out:
                out.append(p)
    return out or [({}, None)]


def grid_keys(spec: Spec) -> set[str]:
    return {k for g in (spec.grid if isinstance(spec.grid, list) else [spec.grid]) for k in g if k != "variants"}


def check_spec(spec: Spec, where: Path | str = "spec") -> None:
    """Refuse what would only fail later, in a worker: unknown demo or variants, bad config values
    at any point, an empty grid list, seeds on a deterministic demo, an axis that is not a grid key."""
    try:
        mod = importlib.import_module(module_name(spec.demo))
    except SweepError as e:
        raise SweepError(f"{where}: demo: {e}") from None
    ad = adapter_for(spec.demo)
    known = list(mod.VARIANTS)
    for vs in [spec.variants or [], *(v or [] for _, v in points(spec))]:
        bad = [v for v in vs if not isinstance(v, str) or v not in known]
        if bad:
            raise SweepError(f"{where}: variants: unknown {', '.join(map(str, bad))}; expected some of: {', '.join(known)}")
    for g in spec.grid if isinstance(spec.grid, list) else [spec.grid]:
        for k, values in g.items():
            if not values:
                raise SweepError(f"{where}: grid.{k}: empty list of values")
    if not ad.seeded and spec.seeds != 1:
        raise SweepError(f"{where}: seeds: {spec.demo} is deterministic, so seeds must be 1 (got {spec.seeds})")
    if spec.setup and spec.demo != "tissue_patches":
        raise SweepError(f"{where}: setup: only tissue_patches has a base network to change")
    if spec.x and spec.x.key not in grid_keys(spec):
        raise SweepError(f"{where}: x.key: '{spec.x.key}' is not a grid key")
    from engine.config import ConfigError

    for p, _ in points(spec):
        try:
            config_for(mod, spec.demo, {**spec.set, **p}, spec.first_seed)
        except (ConfigError, ValueError, TypeError) as e:
            raise SweepError(f"{where}: point {json.dumps(p, default=str)}: {e}") from None
    if spec.setup:
        try:
            with _tissue_setup(mod, spec.setup):
                pass
        except (KeyError, ValueError) as e:
            raise SweepError(f"{where}: setup: {e}") from None


# ---------------------------------------------------------------------------------------------
# What each demo claims, per seed (the demos' own success rules), and what a row calls its testbed


def _tissue_setup(mod, fields: dict):
    """Give every tissue-patch variant another base network (what scripts/sweep_tissue_patches.py's
    ``--setup`` did): its scenario's failure Setup gets ``fields``, then the variant re-applies its
    own change on top. A context manager: the module's VARIANTS are restored afterwards, because a
    Ray worker process runs many cells."""
    types = {f.name: f.type for f in dataclasses.fields(mod.Setup)}
    unknown = set(fields) - set(types)
    if unknown:
        raise KeyError(f"unknown Setup field(s) {sorted(unknown)}; expected some of {sorted(types)}")
    conv = {"bool": lambda v: v if isinstance(v, bool) else str(v).lower() in ("1", "true", "yes"), "int": int, "str": str}
    changes = {k: conv[str(types[k])](v) for k, v in fields.items()}
    original = dict(mod.VARIANTS)

    def make(fn, failure_fn):
        def f(c):
            su, failure = fn(c), failure_fn(c)
            own = {k.name: getattr(su, k.name) for k in dataclasses.fields(su) if getattr(su, k.name) != getattr(failure, k.name)}
            return dataclasses.replace(failure, **(changes | own))  # the variant's own change wins
        return f

    @contextlib.contextmanager
    def patched():
        for v, (label, scenario, fn) in original.items():
            mod.VARIANTS[v] = (label, scenario, make(fn, original[mod.FAILURE[scenario]][2]))
        try:
            yield
        finally:
            mod.VARIANTS.clear()
            mod.VARIANTS.update(original)

    return patched()


# Dirac-GAN: which methods converge at the equilibrium (Mescheder et al. 2018, shared/REFERENCES.md):
# the unregularised GAN (both losses), WGAN and TTUR alone do not; WGAN-GP need not; the rest do.
DIRAC_CONVERGES = {"gan": False, "nsgan": False, "wgan": False, "wgan_gp": False, "ttur": False,
                   "instance_noise": True, "r1": True, "consensus": True, "extragradient": True, "optimism": True}


@dataclass(frozen=True)
class Adapter:
    """How a sweep reads one demo: the variants that show the failure, the testbed a row belongs to,
    the per-seed claim (None where the demo states none), and variants another variant's claim
    needs in the same run (the oscillation claims pair each fix with the plain GAN's same seed)."""

    failures: Callable[[Any], set]
    testbed: Callable[[Any, dict, str], str]
    claim: Callable[[Any, dict, str, str], list]
    needs: tuple[str, ...] = ()
    seeded: bool = True
    data: tuple[str, ...] = ()  # files (besides source) whose content decides the numbers


def _none(result: dict, v: str) -> list:
    return [None] * len(result["variants"][v]["per_seed"])


ADAPTERS: dict[str, Adapter] = {
    "mode_collapse": Adapter(lambda m: {"gan"}, lambda m, c, v: c["dataset"],
                             lambda m, r, v, role: m.success(r, v, role)),
    "oscillation": Adapter(lambda m: {"gan"}, lambda m, c, v: "ring",
                           lambda m, r, v, role: m.success(r, v) if role == "fix" else _none(r, v), needs=("gan",)),
    "vanishing_gradients": Adapter(lambda m: {"saturating"}, lambda m, c, v: c["dataset"],
                                   lambda m, r, v, role: m.success(r, v)),
    "instability": Adapter(lambda m: set(m.FAILURE.values()), lambda m, c, v: m.VARIANTS[v][1],
                           lambda m, r, v, role: m.success(r, v)),
    "tissue_patches": Adapter(lambda m: set(m.FAILURE.values()), lambda m, c, v: m.VARIANTS[v][1],
                              lambda m, r, v, role: m.success(r, v, role),
                              data=("pretrained/patch_classifier.pt", "pretrained/patch_classifier.json")),
    "dirac": Adapter(lambda m: {v for v, ok in DIRAC_CONVERGES.items() if not ok}, lambda m, c, v: c["update"],
                     lambda m, r, v, role: [(r["variants"][v]["outcome"] == "converges") == DIRAC_CONVERGES[v]],
                     seeded=False),
    "lab": Adapter(lambda m: {v for v in m.VARIANTS if v.startswith("plain@")},
                   lambda m, c, v: v.split("@", 1)[1] if "@" in v else (m.PRESETS[v].scenario if v in m.PRESETS else c["scenario"]),
                   lambda m, r, v, role: m.success(r, v, role)),
    "papers": Adapter(lambda m: {"gan"}, lambda m, c, v: c["dataset"], lambda m, r, v, role: _none(r, v)),
}


def config_for(mod, demo: str, overrides: dict, first_seed: int):
    """The demo's Config for one cell (``seed`` = the block's first seed), resolved where the demo
    fills dataset defaults (mode collapse's sigma = 0 / steps = 0)."""
    from engine.config import from_overrides

    fields = {f.name for f in dataclasses.fields(mod.Config)}
    if "seed" in overrides:
        raise ValueError("'seed' is set by the sweep (first_seed, seeds); leave it out of set/grid")
    cfg = from_overrides(mod.Config, {**overrides, **({"seed": first_seed} if "seed" in fields else {})})
    return mod.resolve(cfg) if hasattr(mod, "resolve") else cfg


# ---------------------------------------------------------------------------------------------
# Cells and their keys

# Adapters added after the shared block above are hashed into their own demos' code versions only
# (see code_version), so adding a demo leaves the others' versions -- and their finished cells -- as
# they were. The medical demos: the testbed is the image set; their classifier decides the numbers.
# extra adapters
EXTRA_ADAPTERS: dict[str, Adapter] = {
    d: Adapter(lambda m: {m.FAILURE}, lambda m, c, v: m.KIND, lambda m, r, v, role: m.success(r, v, role),
               data=("pretrained/med_classifier.pt", "pretrained/med_classifier.json"))
    for d in ("brain_mri", "modalities")}
ADAPTERS.update(EXTRA_ADAPTERS)
# /extra adapters


def adapter_for(demo: str) -> Adapter:
    """The demo's adapter; a demo without one (a new demo, a recipe preset) gets the generic reading
    of the demo contract: its catalogue's failure variant, one testbed, its ``success(result,
    variant, kind)`` when it has one (else no claim)."""
    if demo in ADAPTERS:
        return ADAPTERS[demo]
    from .catalog import CATALOG

    failure = {CATALOG[demo].failure} if demo in CATALOG else set()

    def claim(m, r, v, role):
        return m.success(r, v, role) if hasattr(m, "success") else _none(r, v)

    return Adapter(lambda m: failure, lambda m, c, v: "default", claim)


def local_sources(modname: str) -> list[Path]:
    """The source files of ``modname`` and of every engine/ or demos/ module it imports, directly or
    not, read from the import statements (function-level ones included: demos import lazily)."""
    seen: dict[Path, None] = {}
    stack = [modname]
    while stack:
        m = stack.pop()
        for path in (ROOT / (m.replace(".", "/") + ".py"), ROOT / m.replace(".", "/") / "__init__.py"):
            if not path.is_file() or path in seen:
                continue
            seen[path] = None
            package = m if path.name == "__init__.py" else m.rpartition(".")[0]
            for node in ast.walk(ast.parse(path.read_bytes())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                        base = f"{parent}.{base}" if base else parent
                    names = [base, *(f"{base}.{a.name}" for a in node.names)]
                else:
                    continue
                stack += [n for n in names if n.split(".")[0] in ("engine", "demos") and n != "demos.sweep"]
            if "." in m:
                stack.append(m.rpartition(".")[0])  # the package's __init__ runs first
    return sorted(seen)


def code_version(demo: str) -> str:
    """The demo's CODE_VERSION plus a hash of the source it runs: its module and every engine/ or
    demos/ module it imports, and the claim adapters of this file (they decide the claim column)."""
    name = module_name(demo)
    mod = importlib.import_module(name)
    h = hashlib.sha256()
    for p in local_sources(name):
        h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    if demo not in ADAPTERS:
        h.update(inspect.getsource(adapter_for).encode())
    for rel in adapter_for(demo).data:
        h.update(rel.encode() + b"\0" + ((ROOT / rel).read_bytes() if (ROOT / rel).is_file() else b"missing") + b"\0")
    text = Path(__file__).read_bytes()
    h.update(text[text.index(b"# What each demo claims"):text.index(b"# Cells and their keys")])
    if demo in EXTRA_ADAPTERS:
        h.update(text[text.index(b"# extra adapters"):text.index(b"# /extra adapters")])
    return f"{getattr(mod, 'CODE_VERSION', demo)}+{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class Cell:
    sweep: str
    demo: str
    variants: tuple[str, ...]
    point: dict
    overrides: dict
    seeds: tuple[int, ...]
    setup: dict
    config: dict  # the resolved config, as JSON-able values (seed = the block's first)
    code_version: str
    key: str


def _jsonable_config(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=list))


def cells(spec: Spec) -> list[Cell]:
    mod = importlib.import_module(module_name(spec.demo))
    ad = adapter_for(spec.demo)
    version = code_version(spec.demo)
    out = []
    all_seeds = list(range(spec.first_seed, spec.first_seed + spec.seeds))
    for p, own in points(spec):
        variants = list(own or spec.variants or mod.VARIANTS)
        variants += [v for v in ad.needs if v not in variants]
        overrides = {**spec.set, **p}
        for i in range(0, len(all_seeds), spec.seeds_per_task):
            block = tuple(all_seeds[i:i + spec.seeds_per_task])
            config = _jsonable_config(config_for(mod, spec.demo, overrides, block[0]))
            ident = {"demo": spec.demo, "variants": variants, "config": config, "seeds": block,
                     "setup": spec.setup, "code_version": version}
            key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:20]
            out.append(Cell(spec.name, spec.demo, tuple(variants), p, overrides, block, dict(spec.setup), config,
                            version, key))
    return out


# ---------------------------------------------------------------------------------------------
# One cell, in a worker


def _num(x) -> Optional[float]:
    """A per-seed metric as a float (inf and NaN kept: a vanished gradient's drop is inf)."""
    return float(x) if isinstance(x, (int, float)) else None


def _base_row(cell: Cell, v: str, seed: int) -> dict:
    return {"sweep": cell.sweep, "key": cell.key, "demo": cell.demo, "variant": v, "label": v, "role": "",
            "testbed": "", "point": json.dumps(cell.point, sort_keys=True, default=str),
            "config": json.dumps(cell.config, sort_keys=True), "seed": seed, "claim": None, "error": "",
            "code_version": cell.code_version, "host": socket.gethostname(), "cell_wall_s": None,
            "cell_cpu_s": None, "variant_wall_s": None, "note": "", **{f"p_{k}": _scalar(x) for k, x in cell.point.items()}}


def _scalar(x):
    return x if isinstance(x, (int, float, str, bool)) or x is None else json.dumps(x)


def error_rows(cell: Cell, error: str, wall: Optional[float] = None) -> list[dict]:
    return [{**_base_row(cell, v, s), "error": error[-4000:] or "failed", "cell_wall_s": wall}
            for v in cell.variants for s in cell.seeds]


def run_cell(cell: Cell, nice: int = 0) -> list[dict]:
    """Train one cell and return its rows; never raises (an exception becomes error rows). Its cost is
    recorded twice: wall time, and this process's CPU time (one thread: what the cell costs a core
    of its own, less inflated than wall time when the machine is shared)."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        if nice:
            with contextlib.suppress(OSError):
                os.nice(max(0, nice - os.nice(0)))
        import torch

        torch.set_num_threads(1)
        here = code_version(cell.demo)
        if here != cell.code_version:
            raise RuntimeError(f"code version {here} on {socket.gethostname()} differs from the driver's "
                               f"{cell.code_version}: this node runs other code")
        mod = importlib.import_module(module_name(cell.demo))
        ad = adapter_for(cell.demo)
        cfg = config_for(mod, cell.demo, cell.overrides, cell.seeds[0])
        with _tissue_setup(mod, cell.setup) if cell.setup else contextlib.nullcontext():
            result = mod.run(cfg, list(cell.variants), len(cell.seeds))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        failures = ad.failures(mod)
        rows = []
        for v in cell.variants:
            r = result["variants"][v]
            role = "failure" if v in failures else "fix"
            claims = ad.claim(mod, result, v, role)
            label = r.get("label") or (mod.VARIANTS[v][0] if isinstance(mod.VARIANTS[v], tuple) else mod.VARIANTS[v])
            note = r.get("outcome", "") if isinstance(r.get("outcome"), str) else ""
            for i, s in enumerate(cell.seeds):
                p = r["per_seed"][i] if i < len(r["per_seed"]) else {}
                row = {**_base_row(cell, v, s), "label": label, "role": role,
                       "testbed": ad.testbed(mod, cell.config, v), "claim": None if claims[i] is None else bool(claims[i]),
                       "cell_wall_s": wall, "cell_cpu_s": cpu, "variant_wall_s": _num(r.get("wall_time_s")),
                       "note": note}
                if r.get("diverged_at") and i < len(r["diverged_at"]) and r["diverged_at"][i]:
                    row["m_diverged_at"] = float(r["diverged_at"][i])
                row.update({f"m_{k}": _num(x) for k, x in p.items() if x is None or isinstance(x, (int, float))})
                rows.append(row)
        return rows
    except Exception as e:  # noqa: BLE001 -- a failing cell is an outcome, recorded with its error
        tb = traceback.format_exc(limit=6)
        return error_rows(cell, f"{type(e).__name__}: {e}\n{tb}", time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------
# The table: parts as cells finish, merged into Parquet + CSV


class Table:
    """``OUT/NAME.parquet`` and ``.csv`` (the merged table) and ``OUT/.NAME.parts/`` (one Parquet
    file per cell finished since the last merge: what makes a killed sweep resumable)."""

    def __init__(self, out: Path, name: str, spec: Spec):
        self.parquet, self.csv = out / f"{name}.parquet", out / f"{name}.csv"
        self.parts = out / f".{name}.parts"
        self.spec = spec

    def _frames(self):
        import pandas as pd

        frames = []
        if self.parquet.exists():
            frames.append(pd.read_parquet(self.parquet))
        for p in sorted(self.parts.glob("*.parquet")) if self.parts.exists() else []:
            try:
                frames.append(pd.read_parquet(p))
            except Exception:  # noqa: BLE001 -- a part cut short by a kill is redone
                p.unlink(missing_ok=True)
        return frames

    def rows(self):
        """Every recorded row, a later record of a key replacing an earlier one."""
        import pandas as pd

        frames = self._frames()
        if not frames:
            return pd.DataFrame()
        df = pd.concat(frames, ignore_index=True)
        return df.drop_duplicates(["key", "variant", "seed"], keep="last").reset_index(drop=True)

    def done_keys(self) -> set[str]:
        df = self.rows()
        if df.empty:
            return set()
        failed = set(df.loc[df["error"].fillna("") != "", "key"])
        return set(df["key"]) - failed

    def add(self, cell: Cell, rows: list[dict]) -> None:
        import pandas as pd

        self.parts.mkdir(parents=True, exist_ok=True)
        tmp = self.parts / f"{cell.key}.tmp"
        pd.DataFrame(rows).to_parquet(tmp, index=False)
        tmp.replace(self.parts / f"{cell.key}.parquet")  # atomic: a kill leaves no half part

    def merge(self, keys: set[str], final: bool = False) -> "Any":
        """Write the merged table (rows of this spec's cells only) to Parquet and CSV, atomically;
        at the end, drop the parts it now holds."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        df = self.rows()
        if not df.empty:
            df = df[df["key"].isin(keys)]
            order = [c for c in df.columns if not c.startswith(("m_", "p_"))]
            df = df[order + sorted(c for c in df.columns if c.startswith("p_"))
                    + sorted(c for c in df.columns if c.startswith("m_"))]
            by = sorted(c for c in df.columns if c.startswith("p_")) + ["point", "variant", "seed"]
            df = df.sort_values(by, kind="stable").reset_index(drop=True)  # grid values in numeric order
        self.parquet.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(df if not df.empty else pd.DataFrame({"key": pd.Series([], dtype=str)}),
                                     preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               SPEC_META: self.spec.model_dump_json().encode()})
        tmp = self.parquet.with_suffix(".parquet.tmp")
        pq.write_table(table, tmp)
        tmp.replace(self.parquet)
        tmp = self.csv.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(self.csv)
        if final and self.parts.exists():
            for p in self.parts.glob("*"):
                p.unlink()
            self.parts.rmdir()
        return df


# ---------------------------------------------------------------------------------------------
# Running: Ray tasks streamed back with ray.wait, or in this process (--serial, for tests)


def _progress(done: int, total: int, failed: int, t0: float, stream=sys.stderr) -> None:
    el = time.perf_counter() - t0
    left = el / done * (total - done) if done else float("nan")
    bar = "#" * int(30 * done / max(1, total))
    eta = f", ~{left:.0f} s left" if done and done < total else ""
    stream.write(f"\r[{bar:<30}] {done}/{total} cells, {failed} failed, {el:.0f} s{eta}   ")
    stream.flush()


def execute_ray(todo: list[Cell], record: Callable[[Cell, list[dict]], None], address: Optional[str],
                cpus: Optional[int], nice: int) -> None:
    # Ray 2.60 starts clusters with token authentication and keeps the token in ~/.ray/auth_token (or
    # $RAY_AUTH_TOKEN / $RAY_AUTH_TOKEN_PATH), but a client given an address stays in mode "disabled"
    # and is refused: switch to token mode when a token is at hand and the user chose no mode. (Ray
    # reads the mode when it is imported, so before the import.)
    if address and "RAY_AUTH_MODE" not in os.environ and (
            os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
            or (Path.home() / ".ray" / "auth_token").is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    runtime_env = {"working_dir": str(ROOT), "excludes": WORKING_DIR_EXCLUDES,
                   "env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False, runtime_env=runtime_env)
    if address:
        ray.init(address=address, **kwargs)
    else:  # a private local instance: never attach to a cluster someone else started on this machine
        # Ray starts its workers 15 niceness levels below its raylet (19 under `nice -n 10`): on a shared
        # machine they would get a seventh of a fair share. Workers at the driver's niceness (--nice).
        os.environ.setdefault("RAY_worker_niceness", "0")
        ray.init(address="local", num_cpus=cpus or os.cpu_count() or 1, object_store_memory=200 * 2**20, **kwargs)
    try:
        nodes = sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")})
        print(f"Ray nodes: {', '.join(nodes)}; {int(ray.cluster_resources().get('CPU', 0))} CPUs", file=sys.stderr)
        task = ray.remote(num_cpus=1, max_retries=0)(run_cell)
        pending = {task.remote(c, nice): c for c in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                cell = pending.pop(ref)
                try:
                    rows = ray.get(ref)
                except Exception as e:  # noqa: BLE001 -- a worker that died (OOM, killed) is a failed cell
                    rows = error_rows(cell, f"{type(e).__name__}: {e}")
                record(cell, rows)
    finally:
        ray.shutdown()


def run_sweep(spec: Spec, out: Optional[Path] = None, address: Optional[str] = None, cpus: Optional[int] = None,
              serial: bool = False, nice: int = 0, quiet: bool = False, merge_every: float = 10.0):
    """Run every cell of ``spec`` not already in its table; return the merged table (a DataFrame)."""
    out = Path(out) if out else ROOT / spec.out
    if not spec.metrics:
        mod = importlib.import_module(module_name(spec.demo))
        spec = spec.model_copy(update={"metrics": list(getattr(mod, "METRICS", ()))[:4]})
    all_cells = cells(spec)
    table = Table(out, spec.name, spec)
    done = table.done_keys()
    todo = [c for c in all_cells if c.key not in done]
    keys = {c.key for c in all_cells}
    t0, last_merge, finished, failed = time.perf_counter(), time.perf_counter(), 0, 0
    if not quiet:
        print(f"{spec.name}: {len(all_cells)} cells, {len(all_cells) - len(todo)} already done, {len(todo)} to run"
              + ("" if serial else f" on Ray ({address or 'local'})"), file=sys.stderr)

    def record(cell: Cell, rows: list[dict]) -> None:
        nonlocal finished, failed, last_merge
        table.add(cell, rows)
        finished += 1
        failed += any(r["error"] for r in rows)
        if not quiet:
            _progress(finished, len(todo), failed, t0)
        if time.perf_counter() - last_merge > merge_every:
            table.merge(keys)
            last_merge = time.perf_counter()

    if todo and nice:  # a local Ray's raylet and workers inherit the driver's niceness
        with contextlib.suppress(OSError):
            os.nice(max(0, nice - os.nice(0)))
    if todo and serial:
        for c in todo:
            record(c, run_cell(c))
    elif todo:
        execute_ray(todo, record, address, cpus, nice)
    if todo and not quiet:
        print(file=sys.stderr)
    df = table.merge(keys, final=True)
    from . import evidence

    evidence.write_report(spec, df, out / f"{spec.name}.md")
    return df


def main(args) -> int:
    """``python -m demos sweep SPEC [...]`` (see demos/__main__.py for the options)."""
    try:
        spec = load_spec(args.spec)
        if args.seeds is not None:
            if not args.out:
                raise SweepError("--seeds changes every cell: give --out too, so the spec's own table is not replaced")
            spec = spec.model_copy(update={"seeds": args.seeds})
        address = args.address or os.environ.get("RAY_ADDRESS") or None
        if args.dry_run:
            cs = cells(spec)
            done = Table(Path(args.out) if args.out else ROOT / spec.out, spec.name, spec).done_keys()
            for c in cs:
                print(f"{'done' if c.key in done else 'todo'} {c.key} seeds {c.seeds[0]}-{c.seeds[-1]} "
                      f"{json.dumps(c.point, default=str)}")
            print(f"{len(cs)} cells, {sum(c.key in done for c in cs)} done", file=sys.stderr)
            return 0
        df = run_sweep(spec, Path(args.out) if args.out else None, address, args.cpus, args.serial, args.nice,
                       args.quiet)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    errors = int((df["error"].fillna("") != "").sum()) if not df.empty else 0
    print(f"{spec.name}: {len(df)} rows, {errors} with an error -> {Path(args.out or ROOT / spec.out) / spec.name}.parquet")
    return 1 if errors else 0
