"""``python -m taxonomy check [FILE] [--json]``: validate a taxonomy file for people editing it."""
from __future__ import annotations

import argparse
import json
import sys

from .load import TaxonomyError, load_taxonomy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m taxonomy")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate a taxonomy file and print its counts")
    c.add_argument("file", nargs="?", help="taxonomy YAML (default: $GAN_CLINIC_TAXONOMY or the shipped one)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    args = ap.parse_args(argv)
    try:
        tax = load_taxonomy(args.file)
    except TaxonomyError as e:
        if args.json:
            print(json.dumps({"ok": False, "error": e.as_dict(), "message": str(e)}))
        else:
            print(f"error: {e}", file=sys.stderr)
        return 1
    counts = tax.counts()
    if args.json:
        print(json.dumps({"ok": True, "file": tax.source, "counts": counts}))
    else:
        print(f"{tax.source}: valid")
        for k, v in counts.items():
            print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
