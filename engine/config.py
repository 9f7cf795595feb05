"""Frozen dataclass configs that reject unknown keys and out-of-range values.

Every demo's config is a frozen dataclass whose fields carry their bounds in ``metadata``::

    steps: int = field(default=1500, metadata=bounded(50, 20000, "generator steps"))

``from_overrides(Config, {"steps": "800"})`` parses strings (from the CLI's ``--set key=value``, the
URL or an uploaded file), rejects unknown keys with the list of known ones, and refuses values
outside their bounds with a message naming the key, the value and the range. The same bounds are
the server-side limits on what a URL may ask for.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional, Sequence, TypeVar, get_type_hints

T = TypeVar("T")


class ConfigError(ValueError):
    """A config key or value is invalid; ``str()`` names the key, the value and what was expected."""


def bounded(lo: Optional[float] = None, hi: Optional[float] = None, help: str = "", choices: Sequence = ()) -> dict:
    return {"lo": lo, "hi": hi, "help": help, "choices": tuple(choices)}


def _parse(kind: Any, raw: Any, key: str):
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={raw!r}: expected true or false")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{key}={raw!r}: expected an integer")
        try:
            f = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}={str(raw)[:40]!r}: expected an integer") from None
        if not math.isfinite(f) or f != int(f):
            raise ConfigError(f"{key}={raw!r}: expected an integer")
        return int(f)
    if kind is float:
        try:
            f = float(raw)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}={str(raw)[:40]!r}: expected a number") from None
        if not math.isfinite(f):
            raise ConfigError(f"{key}={raw!r}: expected a finite number")
        return f
    if kind is str:
        return str(raw).strip()
    if kind == tuple[float, float]:
        parts = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        if len(parts) != 2:
            raise ConfigError(f"{key}={raw!r}: expected two numbers 'a,b'")
        return (_parse(float, parts[0], key), _parse(float, parts[1], key))
    raise ConfigError(f"{key}: unsupported field type {kind}")  # pragma: no cover


def check(cfg: T) -> T:
    """Validate every field of a config against its bounds; return it unchanged."""
    for f in dataclasses.fields(cfg):
        m = f.metadata or {}
        v = getattr(cfg, f.name)
        if m.get("choices") and v not in m["choices"]:
            raise ConfigError(f"{f.name}={v!r}: expected one of {', '.join(map(str, m['choices']))}")
        values = v if isinstance(v, tuple) else (v,)
        for x in values:
            if isinstance(x, (int, float)) and not isinstance(x, bool):
                if m.get("lo") is not None and x < m["lo"]:
                    raise ConfigError(f"{f.name}={v!r}: expected a value in [{m['lo']}, {m['hi']}]")
                if m.get("hi") is not None and x > m["hi"]:
                    raise ConfigError(f"{f.name}={v!r}: expected a value in [{m['lo']}, {m['hi']}]")
    return cfg


def from_overrides(cls: type[T], overrides: Mapping[str, Any], base: Optional[T] = None) -> T:
    """Build ``cls`` from ``base`` (default: the defaults) with string/typed overrides."""
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, raw in overrides.items():
        if key not in known:
            raise ConfigError(f"unknown config key '{key}'; expected one of: {', '.join(sorted(known))}")
        values[key] = _parse(hints[key], raw, key)
    return check(dataclasses.replace(base if base is not None else cls(), **values))


def check_variants(variants: Sequence[str], known: Mapping) -> None:
    """Raise ValueError naming any of ``variants`` that is not a key of ``known`` (a demo's VARIANTS)."""
    unknown = [v for v in variants if v not in known]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; expected some of {list(known)}")


def parse_set_args(pairs: Sequence[str]) -> dict[str, str]:
    """``["steps=800", "lr_d=1e-3"]`` -> ``{"steps": "800", "lr_d": "1e-3"}``."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"--set {p!r}: expected key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def describe(cls: type) -> list[dict]:
    """Fields with type, default, bounds and help: for ``--help`` and the app's controls."""
    hints = get_type_hints(cls)
    return [
        {"name": f.name, "type": getattr(hints[f.name], "__name__", str(hints[f.name])),
         "default": f.default, **(f.metadata or {})}
        for f in dataclasses.fields(cls)
    ]
