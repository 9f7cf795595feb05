"""Shipped results of the default configurations (``pretrained/``), so a page opens instantly.

Each file is the JSON result of a demo's ``run`` (it records its config and code version). The
page shows it when the requested config equals the file's; anything else is a live run. A missing,
corrupt or stale file is reported as a :class:`PretrainedError` with a message naming the file,
and the page falls back to a live run.

    python -m demos pretrain mode_collapse      # regenerate pretrained/mode_collapse_*.json
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent / "pretrained"
MAX_BYTES = 20 * 1024 * 1024


class PretrainedError(ValueError):
    pass


def path_for(demo: str, name: str, root: Optional[Path] = None) -> Path:
    return (root or ROOT) / f"{demo}_{name}.json"


def load(path: Path, code_version: Optional[str] = None) -> dict:
    """Read and sanity-check a shipped result; raise PretrainedError naming the file and problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PretrainedError(f"{path.name}: no shipped result (file missing)") from None
    except OSError as e:
        raise PretrainedError(f"{path.name}: cannot read ({e.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise PretrainedError(f"{path.name}: {len(raw) / 1e6:.0f} MB is too large for a shipped result")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PretrainedError(f"{path.name}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), dict) or not isinstance(data.get("config"), dict):
        raise PretrainedError(f"{path.name}: expected a result object with 'config' and 'variants'")
    if code_version and data.get("code_version") != code_version:
        raise PretrainedError(f"{path.name}: made by code version {data.get('code_version')!r}, "
                              f"expected {code_version!r}; regenerate it with python -m demos pretrain")
    for v, r in data["variants"].items():
        if not isinstance(r, dict) or not isinstance(r.get("per_seed"), list) or not isinstance(r.get("mean"), dict):
            raise PretrainedError(f"{path.name}: variant {v!r} lacks per_seed/mean")
    return data


def save(result: dict, path: Path) -> None:
    from .jsonio import jsonable as _jsonable  # NaN -> null, as in the CLI's JSON

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent savers never share a file
    tmp.write_text(json.dumps(_jsonable(result), separators=(",", ":")))
    tmp.replace(path)  # atomic: a reader never sees half a file
