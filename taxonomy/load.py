"""Load and validate taxonomy and bibliography YAML files.

Every failure raises :class:`TaxonomyError`, whose message names the file, the line, the field
and what was expected, e.g.::

    my_taxonomy.yaml, line 41, field techniques[3].family: unknown family 'archi';
    expected one of: architecture, loss, regularisation, optimisation

Safety: files over ``MAX_BYTES`` are refused before parsing; bytes must be UTF-8; YAML anchors and
aliases are refused (a "billion laughs" file expands a few lines into gigabytes); so are explicit
tags such as ``!!python/object`` (they are never constructed) and nesting deeper than
``MAX_DEPTH``; data is built with PyYAML's safe constructor only. An uploaded file (no
``base_dir``) may not name a bibliography file, so an upload cannot make the server read its
files.
"""
from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pydantic import BaseModel, ValidationError

from .schema import BibliographyFile, Challenge, Family, Meta, Reference, TaxonomyFile, Technique

DATA_DIR = Path(__file__).parent / "data"
DEFAULT_TAXONOMY = DATA_DIR / "taxonomy.yaml"
DEFAULT_BIBLIOGRAPHY = DATA_DIR / "bibliography.yaml"
ENV_VAR = "GAN_CLINIC_TAXONOMY"
MAX_BYTES = 2 * 1024 * 1024  # the shipped taxonomy is ~100 kB; 2 MB leaves room, 10 MB is refused
MAX_DEPTH = 32  # the schema nests 5 deep; anything far deeper is an accident or an attack

_STR_TAG = "tag:yaml.org,2002:str"
# explicit tags that are harmless: they only restate what a plain value already is
_ALLOWED_TAGS = {"!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}


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
        out += f"[{p}]" if isinstance(p, int) and not isinstance(p, bool) else (f".{p}" if out else str(p))
    return out


def _show_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:"):] if tag.startswith("tag:yaml.org,2002:") else tag


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, explicit tags and deep nesting *while composing*
    (before anything is expanded or constructed), and turns constructor crashes (``year: 0x_``,
    ``2018-13-45``) into :class:`TaxonomyError`."""

    def __init__(self, text: str, name: str):
        super().__init__(text)
        self._name = name
        self._stack: list[tuple] = []  # paths of the collections being composed
        self.paths: dict[int, tuple] = {}  # id(node) -> path, filled by _line_map

    def _fail(self, msg: str, event, path: tuple):
        raise TaxonomyError(self._name, msg, event.start_mark.line + 1, _field_name(path) or None)

    def compose_node(self, parent, index):
        event = self.peek_event()
        path = self._stack[-1] if self._stack else ()
        if isinstance(index, yaml.ScalarNode):  # a mapping value: index is its key
            path += (index.value,)
        elif isinstance(index, int):  # a list item
            path += (index,)
        if isinstance(event, yaml.AliasEvent):
            self._fail(
                f"YAML alias '*{event.anchor}' is not allowed; expected plain values "
                "(anchors and aliases can expand a small file into gigabytes)",
                event, path,
            )
        if getattr(event, "anchor", None):
            self._fail(
                f"YAML anchor '&{event.anchor}' is not allowed; expected plain values "
                "(anchors and aliases can expand a small file into gigabytes)",
                event, path,
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _ALLOWED_TAGS:
            self._fail(
                f"YAML tag '{_show_tag(tag)}' is not allowed (it is not run or constructed); "
                "expected plain values: text, numbers, lists and mappings",
                event, path,
            )
        if not isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            return super().compose_node(parent, index)
        if len(self._stack) >= MAX_DEPTH:
            self._fail(
                f"YAML nesting is deeper than {MAX_DEPTH} levels; expected the taxonomy's "
                "shallow structure (a few levels)",
                event, path[:8],
            )
        self._stack.append(path)
        try:
            return super().compose_node(parent, index)
        finally:
            self._stack.pop()

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (TaxonomyError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError, IndexError) as e:
            path = self.paths.get(id(node))
            raise TaxonomyError(
                self._name,
                f"cannot read the value {str(node.value)!r:.60} as {_show_tag(node.tag).lstrip('!')} "
                f"({type(e).__name__}: {e}); expected a valid value (put text in quotes)",
                node.start_mark.line + 1,
                _field_name(path) if path else None,
            ) from None


def _line_map(node: yaml.Node, name: str, paths: Optional[dict] = None) -> dict[tuple, int]:
    """Map each path (tuple of keys / indices) to its 1-based line; reject duplicate keys.

    A mapping value's line is the line of its key (where the field is named), a list item's the
    line of the item."""
    lines: dict[tuple, int] = {(): 1}
    stack = [((), node)]
    while stack:
        path, n = stack.pop()
        if paths is not None:
            paths[id(n)] = path
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in n.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                if not isinstance(k, yaml.ScalarNode) or k.tag != _STR_TAG:
                    # {2020: ..} or {yes: ..} or {~: ..}: pydantic would silently drop such keys
                    kind = _show_tag(k.tag).lstrip("!") if isinstance(k, yaml.ScalarNode) else "a collection"
                    raise TaxonomyError(
                        name,
                        f"key {key!r:.60} is not text (YAML reads it as {kind}); expected a text key "
                        "(put it in quotes)",
                        k.start_mark.line + 1,
                        _field_name(path + (key,)),
                    )
                if key in seen:
                    raise TaxonomyError(
                        name,
                        f"duplicate key '{key}' (first at line {seen[key]}); expected each key once",
                        k.start_mark.line + 1,
                        _field_name(path + (key,)),
                    )
                seen[key] = k.start_mark.line + 1
                lines[path + (key,)] = k.start_mark.line + 1
                stack.append((path + (key,), v))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[path + (i,)] = v.start_mark.line + 1
                stack.append((path + (i,), v))
    return lines


def read_yaml(raw: bytes, name: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML bytes safely. Returns (data, line map); raises only :class:`TaxonomyError`."""
    if len(raw) > MAX_BYTES:
        raise TaxonomyError(
            name, f"file is {len(raw) / 1e6:.1f} MB; expected at most {MAX_BYTES / 1e6:.1f} MB"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise TaxonomyError(
            name, f"byte 0x{raw[e.start]:02x} at offset {e.start} is not UTF-8; expected UTF-8 text", line
        ) from None
    if not text.strip():
        raise TaxonomyError(name, "file is empty; expected a YAML mapping (meta:, challenges:, ...)")
    loader = None
    try:
        loader = _StrictLoader(text, name)  # checks for control characters at once
        node = loader.get_single_node()
        lines = _line_map(node, name, loader.paths) if node is not None else {}
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1
        char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
        raise TaxonomyError(
            name, f"control character {char} is not allowed in YAML; expected printable text", line
        ) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "syntax error"
        hint = ""
        if "\t" in problem or "'\\t'" in problem:
            hint = " (tabs cannot indent YAML; use spaces)"
        if e.context and problem.startswith("but "):  # "expected a single document ... but found another"
            problem = f"{e.context} {problem}"
        raise TaxonomyError(
            name,
            f"YAML syntax error: {problem}{hint}; expected valid YAML",
            mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as e:  # pragma: no cover - non-marked errors are rare
        raise TaxonomyError(name, f"YAML error: {e}; expected valid YAML") from None
    except RecursionError:  # pragma: no cover - MAX_DEPTH stops this first
        raise TaxonomyError(name, "YAML nesting is too deep; expected a shallow mapping") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise TaxonomyError(name, "file has no content (only comments?); expected a YAML mapping", 1)
    if not isinstance(data, dict):
        kind = {"list": "a list", "str": "a single text value", "int": "a number", "float": "a number",
                "bool": "a boolean"}.get(type(data).__name__, f"a {type(data).__name__}")
        raise TaxonomyError(name, f"top level is {kind}; expected a mapping (meta:, challenges:, ...)", 1)
    return data, lines


def _line_for(lines: dict[tuple, int], loc: tuple) -> Optional[int]:
    alt = tuple(str(p) if not isinstance(p, int) or isinstance(p, bool) else p for p in loc)
    for cut in range(len(loc), -1, -1):
        for cand in (loc[:cut], alt[:cut]):
            if cand in lines:
                return lines[cand]
    return None


def _unwrap(tp):
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _model_at(model, loc: tuple):
    """The pydantic model that validates the mapping at ``loc``, or None."""
    tp = model
    for p in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            f = tp.model_fields.get(p) if isinstance(p, str) else None
            if f is None:
                return None
            tp = f.annotation
        elif typing.get_origin(tp) is list and isinstance(p, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_SLUG_PATTERN = "^[a-z][a-z0-9_]*$"


def _expected(err: dict) -> str:
    """What was expected, in words, for one pydantic error."""
    t, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if t in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a mapping (indented 'key: value' lines)"
    if t == "list_type":
        return "expected a list ('- item' lines or [a, b])"
    if t == "string_type":
        hint = ""
        if isinstance(value, bool):
            hint = " (YAML reads yes/no/on/off/true/false as booleans: put the text in quotes)"
        elif isinstance(value, (int, float)):
            hint = " (YAML read it as a number: put it in quotes)"
        return "expected text" + hint
    if t in ("int_type", "int_parsing", "int_from_float"):
        return "expected a whole number"
    if t == "string_pattern_mismatch":
        if ctx.get("pattern") == _SLUG_PATTERN:
            return "expected an identifier: lower-case letters, digits and '_', starting with a letter"
        return f"expected text matching the pattern {ctx.get('pattern')}"
    if t == "string_too_short":
        return f"expected text of at least {ctx.get('min_length')} character(s)"
    if t == "string_too_long":
        return f"expected text of at most {ctx.get('max_length')} characters"
    if t == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s)"
    if t == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s)"
    if t == "literal_error":
        return f"expected one of: {ctx.get('expected')}"
    if t in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[t]
        bound = next(iter(ctx.values()), "?")
        return f"expected a number {op} {bound}"
    msg = err["msg"]
    return "expected " + msg[len("Input should be "):] if msg.startswith("Input should be ") else f"expected: {msg}"


def _validate(model, data: dict, lines: dict[tuple, int], name: str):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        # an unknown key is usually a typo of a required one: report it first, it says more;
        # otherwise the problem that comes first in the file
        err = min(
            errors,
            key=lambda x: (x["type"] != "extra_forbidden", _line_for(lines, tuple(x["loc"])) or 0),
        )
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1])
            allowed = list(owner.model_fields) if owner else []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            msg = f"unknown key '{loc[-1]}'"
            if close:
                msg += f" (did you mean '{close[0]}'?)"
            msg += ("; expected only the keys " + ", ".join(allowed)) if allowed else "; expected only the documented keys"
        elif err["type"] == "missing":
            msg = f"required field '{loc[-1]}' is missing; expected a '{loc[-1]}:' entry here"
        else:
            msg = f"{_expected(err)}; got {err.get('input')!r:.80}"
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
            "demo_links": sum(len(t.demos) for t in self.techniques.values()),
            "techniques_with_demo": sum(1 for t in self.techniques.values() if t.demos),
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

    def one_of(options) -> str:
        return "expected one of: " + ", ".join(sorted(options))

    def unknown(what: str, value: str, options) -> str:
        close = difflib.get_close_matches(value, list(options), n=1)
        return f"unknown {what} '{value}'" + (f" (did you mean '{close[0]}'?)" if close else "")

    def cite(loc: tuple, key: str) -> None:
        if key not in refs:
            close = difflib.get_close_matches(key, list(refs), n=1)
            fail(loc, f"citation key '{key}' is not in the bibliography"
                 + (f" (did you mean '{close[0]}'?)" if close else "")
                 + "; expected a key of the bibliography or of this file's references: section")

    for section in ("challenges", "families", "techniques"):
        seen: dict[str, int] = {}
        for i, item in enumerate(getattr(tf, section)):
            if item.id in seen:
                fail((section, i, "id"), f"duplicate id '{item.id}' (also {section}[{seen[item.id]}]); expected unique ids")
            seen[item.id] = i
    challenges = {c.id for c in tf.challenges}
    families = {f.id for f in tf.families}
    techniques = {t.id for t in tf.techniques}

    cite(("meta", "survey"), tf.meta.survey)
    for i, t in enumerate(tf.techniques):
        at = ("techniques", i)
        if t.family not in families:
            fail(at + ("family",), f"{unknown('family', t.family, families)}; {one_of(families)}")
        if t.primary_challenge not in challenges:
            fail(at + ("primary_challenge",),
                 f"{unknown('challenge', t.primary_challenge, challenges)}; {one_of(challenges)}")
        for j, c in enumerate(t.challenges):
            if c not in challenges:
                fail(at + ("challenges", j), f"{unknown('challenge', c, challenges)}; {one_of(challenges)}")
        if t.primary_challenge not in t.challenges:
            fail(at + ("challenges",),
                 f"primary_challenge '{t.primary_challenge}' is not listed in challenges; expected it there too")
        cite(at + ("reference",), t.reference)
        for j, k in enumerate(t.also_see):
            cite(at + ("also_see", j), k)
        for j, u in enumerate(t.biomedical_uses):
            cite(at + ("biomedical_uses", j, "ref"), u.ref)
        for j, b in enumerate(t.builds_on):
            if b not in techniques:
                fail(at + ("builds_on", j),
                     f"{unknown('technique', b, techniques)}; expected a technique id of this file")
        if t.demo is not None and t.demos:
            fail(at + ("demo",), "both demo: and demos: are given; expected only demos: (a list of "
                 "{id, variant}; demo: is the old single-link form)")
        links = [(at + ("demo",), t.demo)] if t.demo is not None else [
            (at + ("demos", j), d) for j, d in enumerate(t.demos)]
        seen_links: dict[tuple[str, str], int] = {}
        for loc, d in links:
            if d.id not in demos:
                fail(loc + ("id",), f"{unknown('demo', d.id, demos)}; {one_of(demos)}")
            variants = demos[d.id].variants
            if d.variant not in variants:
                fail(loc + ("variant",), f"demo '{d.id}' has no variant '{d.variant}'; {one_of(variants)}")
            if (d.id, d.variant) in seen_links:
                fail(loc, f"demo link {d.id}:{d.variant} is listed twice; expected each link once")
            seen_links[(d.id, d.variant)] = 1

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


def _with_demo_list(t: Technique) -> Technique:
    """The old single ``demo:`` link read as ``demos: [demo]`` (views only look at ``demos``)."""
    return t.model_copy(update={"demos": [t.demo], "demo": None}) if t.demo is not None else t


def load_bibliography(raw: bytes, name: str) -> dict[str, Reference]:
    data, lines = read_yaml(raw, name)
    return dict(_validate(BibliographyFile, data, lines, name).references)


def _read(path: Path) -> bytes:
    """Read a file, refusing one over ``MAX_BYTES`` (without reading it all: a FIFO or a device
    such as /dev/zero reports no size)."""
    too_big = f"expected at most {MAX_BYTES / 1e6:.1f} MB"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise TaxonomyError(str(path), f"file is {size / 1e6:.1f} MB; {too_big}")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise TaxonomyError(str(path), f"cannot read file ({e.strerror or e}); expected a readable YAML file") from None
    if len(raw) > MAX_BYTES:
        raise TaxonomyError(str(path), f"file is larger than {MAX_BYTES / 1e6:.1f} MB; {too_big}")
    return raw


def parse_taxonomy(
    raw: bytes,
    name: str,
    base_dir: Optional[Path] = None,
    bibliography: Optional[dict[str, Reference]] = None,
    demos: Optional[dict] = None,
    allow_bibliography_path: bool = True,
) -> Taxonomy:
    """Validate taxonomy bytes. The bibliography is, in order: the ``bibliography`` argument, the
    file named by ``meta.bibliography`` (relative to ``base_dir``), or the shipped bibliography;
    the file's own ``references:`` section is added to it (a key in both is an error).

    An upload is parsed with no ``base_dir`` (or ``allow_bibliography_path=False``): then a
    ``meta.bibliography`` path is refused, so an uploaded file cannot make the server read files.
    Raises only :class:`TaxonomyError`."""
    if demos is None:
        from demos.catalog import CATALOG as demos  # plain data, no torch
    data, lines = read_yaml(raw, name)
    tf: TaxonomyFile = _validate(TaxonomyFile, data, lines, name)
    if bibliography is None:
        if tf.meta.bibliography:
            at = (_line_for(lines, ("meta", "bibliography")), "meta.bibliography")
            if base_dir is None or not allow_bibliography_path:
                raise TaxonomyError(
                    name,
                    f"this taxonomy was uploaded, so it may not name a bibliography file "
                    f"('{tf.meta.bibliography}'); expected no meta.bibliography key: the shipped "
                    "bibliography is used, and extra entries go in this file's references: section",
                    *at,
                )
            bib_path = Path(base_dir) / tf.meta.bibliography
            try:
                raw_bib = _read(bib_path)
            except TaxonomyError as e:
                raise TaxonomyError(
                    name, f"bibliography file {bib_path}: {e.message}", *at
                ) from None
            bibliography = load_bibliography(raw_bib, str(bib_path))
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
        techniques={t.id: _with_demo_list(t) for t in tf.techniques},
        references=refs,
    )


def default_bibliography() -> dict[str, Reference]:
    return load_bibliography(_read(DEFAULT_BIBLIOGRAPHY), str(DEFAULT_BIBLIOGRAPHY.name))


def load_taxonomy(path: Optional[os.PathLike | str] = None, demos: Optional[dict] = None) -> Taxonomy:
    """Load a taxonomy file: ``path``, else ``$GAN_CLINIC_TAXONOMY``, else the shipped one."""
    p = Path(path or os.environ.get(ENV_VAR, "").strip() or DEFAULT_TAXONOMY).expanduser()
    name = p.name if p.resolve() == DEFAULT_TAXONOMY.resolve() else str(p)
    return parse_taxonomy(_read(p), name, base_dir=p.parent, demos=demos)
