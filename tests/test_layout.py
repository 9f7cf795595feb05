"""The two rooms: ``engine/`` (how to train) imports neither Streamlit nor ``demos/`` (what to
train and claim); ``demos/`` imports no Streamlit. Checked in a fresh interpreter, so a module
another test imported earlier cannot hide an import."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules(pkg: str) -> list[str]:
    return sorted(f"{pkg}.{p.stem}" for p in (ROOT / pkg).glob("*.py") if p.stem not in ("__init__", "__main__"))


@pytest.mark.parametrize("pkg, forbidden", [("engine", ("streamlit", "demos", "app_pages")),
                                            ("demos", ("streamlit", "app_pages"))])
def test_package_does_not_import(pkg, forbidden):
    code = (
        "import importlib, sys\n"
        f"for m in {modules(pkg)!r}:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})\n"
        "print(' '.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "", f"{pkg} imports {out.stdout.strip()}"
