"""A small on-disk cache of finished demo results, keyed by (demo, config, variants, seeds, code
version): identical runs by a class of students are computed once, and survive a server restart.

The folder is created on demand (so deleting it, even while the server runs, only empties the
cache); an unreadable or corrupt entry is dropped and recomputed, never shown.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Optional

DEFAULT_DIR = Path(os.environ.get("GAN_CLINIC_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "results"))


class ResultCache:
    def __init__(self, root: Optional[Path] = None, max_entries: int = 500):
        self.root = Path(root or DEFAULT_DIR)
        self.max_entries = max_entries
        self._lock = threading.Lock()

    def _path(self, key: tuple) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
        return self.root / f"{digest}.json"

    def get(self, key: tuple) -> Optional[dict]:
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            path.unlink(missing_ok=True)  # corrupt: drop it, the run is recomputed
            return None
        if not isinstance(data, dict) or data.get("_key") != json.loads(json.dumps(key, default=str)):
            return None  # a hash collision or a foreign file: never serve it
        return data.get("result")

    def put(self, key: tuple, result: dict) -> None:
        from .jsonio import jsonable as _jsonable  # NaN -> null, as in every JSON we write

        with self._lock:
            try:
                self.root.mkdir(parents=True, exist_ok=True)  # recreated if someone deleted it
                path = self._path(key)
                tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")  # unique across processes too
                tmp.write_text(json.dumps({"_key": json.loads(json.dumps(key, default=str)),
                                           "result": _jsonable(result)}), encoding="utf-8")
                tmp.replace(path)
                self._prune()
            except OSError:
                pass  # a full or read-only disk costs a recomputation, not the user's result

    def _prune(self) -> None:
        files = sorted(self.root.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for p in files[: max(0, len(files) - self.max_entries)]:
            p.unlink(missing_ok=True)
