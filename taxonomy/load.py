"""Load and validate taxonomy and bibliography YAML files.

Every failure raises :class:`TaxonomyError`, whose message names the file, the line, the field
and what was expected, e.g.::

    my_taxonomy.yaml, line 41, field techniques[3].family: unknown family 'archi';
    expected one of: architecture, loss, regularisation, optimisation

Safety: files over ``MAX_BYTES`` are refused before parsing; bytes must be UTF-8; YAML anchors and
aliases are refused (a "billion laughs" file expands a few lines into gigabytes); data is built
with ``yaml.safe_load`` only (no Python object tags).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import ValidationError

from .schema import BibliographyFile, Challenge, Family, Meta, Reference, TaxonomyFile, Technique

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_TAXONOMY = DATA_DIR / "taxonomy.yaml"
DEFAULT_BIBLIOGRAPHY = DATA_DIR / "bibliography.yaml"
ENV_VAR = "GAN_CLINIC_TAXONOMY"
MAX_BYTES = 2 * 1024 * 1024  # the shipped taxonomy is ~100 kB; 2 MB leaves room, 10 MB is refused


class TaxonomyError(ValueError):
    """A taxonomy or bibliography file is not valid. ``str()`` is the message for people."""

    def __init__(self, file: str, message: str, line: Optional[int] = None, field: Optional[str] = None):
        self.file, self.line, self.field, self.message = file, line, field, message
        where = file + (f", line {line}" if line else "") + (f", field {field}" if field else "")
        super().__init__(f"{where}: {message}")

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


# ---------------------------------------------------------------------------------------------
# YAML with line numbers


def _field_name(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _line_map(node: yaml.Node, name: str) -> dict[tuple, int]:
    """Map each path (tuple of keys / indices) to its 1-based line; reject duplicate keys."""
    lines: dict[tuple, int] = {}
    stack = [((), node)]
    while stack:
        path, n = stack.pop()
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                if key in seen:
                    raise TaxonomyError(
                        name,
                        f"duplicate key '{key}' (first at line {seen[key]}); expected each key once",
                        k.start_mark.line + 1,
                        _field_name(path + (key,)),
                    )
                seen[key] = k.start_mark.line + 1
                stack.append((path + (key,), v))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                stack.append((path + (i,), v))
    return lines


def read_yaml(raw: bytes, name: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML bytes safely. Returns (data, line map)."""
    if len(raw) > MAX_BYTES:
        raise TaxonomyError(
            name, f"file is {len(raw) / 1e6:.1f} MB; expected at most {MAX_BYTES / 1e6:.1f} MB"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TaxonomyError(
            name, f"byte 0x{raw[e.start]:02x} at offset {e.start} is not UTF-8; expected UTF-8 text", line
        ) from None
    if not text.strip():
        raise TaxonomyError(name, "file is empty; expected a YAML mapping")
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor:
                raise TaxonomyError(
                    name,
                    f"YAML anchors/aliases ('&{anchor}' / '*{anchor}') are not allowed; "
                    "expected plain values (aliases can expand a small file into gigabytes)",
                    event.start_mark.line + 1,
                )
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _line_map(node, name) if node is not None else {}
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or "syntax error"
        hint = ""
        if "\t" in problem or "'\\t'" in problem:
            hint = " (tabs cannot indent YAML; use spaces)"
        raise TaxonomyError(
            name, f"YAML syntax error: {problem}{hint}; expected valid YAML", mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as e:  # pragma: no cover - non-marked errors are rare
        raise TaxonomyError(name, f"YAML error: {e}") from None
    except RecursionError:
        raise TaxonomyError(name, "YAML nesting is too deep; expected a shallow mapping") from None
    if not isinstance(data, dict):
        raise TaxonomyError(name, f"top level is a {type(data).__name__}; expected a mapping", 1)
    return data, lines


def _line_for(lines: dict[tuple, int], loc: tuple) -> Optional[int]:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _validate(model, data: dict, lines: dict[tuple, int], name: str):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # an unknown key is usually a typo of a required one: report it first, it says more
        err = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
        loc = tuple(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'; expected only the documented keys"
        elif err["type"] == "missing":
            msg = f"required field '{loc[-1]}' is missing"
        else:
            msg = f"{msg} (got {err.get('input')!r:.80})"
        more = f" (+{e.error_count() - 1} more problems)" if e.error_count() > 1 else ""
        raise TaxonomyError(name, msg + more, _line_for(lines, loc), _field_name(loc)) from None


# ---------------------------------------------------------------------------------------------
# The validated taxonomy


@dataclass(frozen=True)
class Taxonomy:
    source: str
    meta: Meta
    challenges: dict[str, Challenge]
    families: dict[str, Family]
    techniques: dict[str, Technique]
    references: dict[str, Reference]

    def counts(self) -> dict[str, int]:
        return {
            "challenges": len(self.challenges),
            "families": len(self.families),
            "techniques": len(self.techniques),
            "references": len(self.references),
            "demo_links": sum(1 for t in self.techniques.values() if t.demo),
            "biomedical_uses": sum(len(t.biomedical_uses) for t in self.techniques.values()),
        }

    def node_id(self, t: Technique) -> str:
        """Path of a technique in the tree: challenge/family/technique."""
        return f"{t.primary_challenge}/{t.family}/{t.id}"

    def cited_keys(self, t: Technique) -> list[str]:
        keys = [t.reference, *t.also_see, *(u.ref for u in t.biomedical_uses)]
        return list(dict.fromkeys(keys))


def _check_links(tf: TaxonomyFile, refs: dict[str, Reference], lines: dict, name: str, demos: dict) -> None:
    def fail(loc: tuple, msg: str):
        raise TaxonomyError(name, msg, _line_for(lines, loc), _field_name(loc))

    for section in ("challenges", "families", "techniques"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(tf, section)):
            if item.id in seen:
                fail((section, i, "id"), f"duplicate id '{item.id}' (also {section}[{seen[item.id]}]); expected unique ids")
            seen[item.id] = i
    challenges = {c.id for c in tf.challenges}
    families = {f.id for f in tf.families}
    techniques = {t.id for t in tf.techniques}

    def one_of(options) -> str:
        return "expected one of: " + ", ".join(sorted(options))

    if tf.meta.survey not in refs:
        fail(("meta", "survey"), f"citation key '{tf.meta.survey}' is not in the bibliography")
    for i, t in enumerate(tf.techniques):
        at = ("techniques", i)
        if t.family not in families:
            fail(at + ("family",), f"unknown family '{t.family}'; {one_of(families)}")
        if t.primary_challenge not in challenges:
            fail(at + ("primary_challenge",), f"unknown challenge '{t.primary_challenge}'; {one_of(challenges)}")
        for j, c in enumerate(t.challenges):
            if c not in challenges:
                fail(at + ("challenges", j), f"unknown challenge '{c}'; {one_of(challenges)}")
        if t.primary_challenge not in t.challenges:
            fail(at + ("challenges",), f"primary_challenge '{t.primary_challenge}' must also be listed in challenges")
        if t.reference not in refs:
            fail(at + ("reference",), f"citation key '{t.reference}' is not in the bibliography")
        for j, k in enumerate(t.also_see):
            if k not in refs:
                fail(at + ("also_see", j), f"citation key '{k}' is not in the bibliography")
        for j, u in enumerate(t.biomedical_uses):
            if u.ref not in refs:
                fail(at + ("biomedical_uses", j, "ref"), f"citation key '{u.ref}' is not in the bibliography")
        for j, b in enumerate(t.builds_on):
            if b not in techniques:
                fail(at + ("builds_on", j), f"unknown technique '{b}'; expected a technique id of this file")
        if t.demo is not None:
            if t.demo.id not in demos:
                fail(at + ("demo", "id"), f"unknown demo '{t.demo.id}'; {one_of(demos)}")
            if t.demo.variant not in demos[t.demo.id].variants:
                fail(at + ("demo", "variant"), f"demo '{t.demo.id}' has no variant '{t.demo.variant}'; {one_of(demos[t.demo.id].variants)}")

    # builds_on must be acyclic (depth-first search with colours)
    graph = {t.id: list(t.builds_on) for t in tf.techniques}
    index = {t.id: i for i, t in enumerate(tf.techniques)}
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        stack = [(start, iter(graph[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                fail(("techniques", index[node], "builds_on"), "cycle in builds_on: " + " -> ".join(cycle) + "; expected no cycles")
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(graph[nxt])))
                path.append(nxt)


def load_bibliography(raw: bytes, name: str) -> dict[str, Reference]:
    data, lines = read_yaml(raw, name)
    return dict(_validate(BibliographyFile, data, lines, name).references)


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise TaxonomyError(str(path), f"file is {size / 1e6:.1f} MB; expected at most {MAX_BYTES / 1e6:.1f} MB")
        return path.read_bytes()
    except OSError as e:
        raise TaxonomyError(str(path), f"cannot read file ({e.strerror}); expected a readable YAML file") from None


def parse_taxonomy(
    raw: bytes,
    name: str,
    base_dir: Optional[Path] = None,
    bibliography: Optional[dict[str, Reference]] = None,
    demos: Optional[dict] = None,
) -> Taxonomy:
    """Validate taxonomy bytes. The bibliography is, in order: the ``bibliography`` argument, the
    file named by ``meta.bibliography`` (relative to ``base_dir``), or the shipped bibliography;
    the file's own ``references:`` section is added to it (a key in both is an error)."""
    if demos is None:
        from demos.catalog import CATALOG as demos  # plain data, no torch
    data, lines = read_yaml(raw, name)
    tf: TaxonomyFile = _validate(TaxonomyFile, data, lines, name)
    if bibliography is None:
        if tf.meta.bibliography:
            bib_path = (base_dir or Path(".")) / tf.meta.bibliography
            bibliography = load_bibliography(_read(bib_path), str(bib_path))
        else:
            bibliography = default_bibliography()
    refs = dict(bibliography)
    for key in tf.references:
        if key in refs:
            raise TaxonomyError(name, f"reference '{key}' is also in the bibliography; expected each key once",
                                _line_for(lines, ("references", key)), f"references.{key}")
    refs.update(tf.references)
    _check_links(tf, refs, lines, name, demos)
    return Taxonomy(
        source=name,
        meta=tf.meta,
        challenges={c.id: c for c in tf.challenges},
        families={f.id: f for f in tf.families},
        techniques={t.id: t for t in tf.techniques},
        references=refs,
    )


def default_bibliography() -> dict[str, Reference]:
    return load_bibliography(_read(DEFAULT_BIBLIOGRAPHY), str(DEFAULT_BIBLIOGRAPHY.name))


def load_taxonomy(path: Optional[os.PathLike | str] = None, demos: Optional[dict] = None) -> Taxonomy:
    """Load a taxonomy file: ``path``, else ``$GAN_CLINIC_TAXONOMY``, else the shipped one."""
    p = Path(path or os.environ.get(ENV_VAR) or DEFAULT_TAXONOMY)
    name = p.name if p.resolve() == DEFAULT_TAXONOMY.resolve() else str(p)
    return parse_taxonomy(_read(p), name, base_dir=p.parent, demos=demos)
