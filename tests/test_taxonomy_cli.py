"""``python -m taxonomy check [FILE] [--json]``: exit 0 and counts for a valid file; exit 1 and
the loader's own message for an invalid one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from taxonomy.__main__ import main  # noqa: E402
from taxonomy.load import ENV_VAR, TaxonomyError, load_taxonomy  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
GOOD = FIXTURES / "good_taxonomy" / "taxonomy.yaml"
BAD = FIXTURES / "bad_taxonomies"
GOOD_COUNTS = {
    "challenges": 2,
    "families": 2,
    "techniques": 3,
    "references": 5,
    "demo_links": 2,
    "techniques_with_demo": 2,
    "biomedical_uses": 1,
}
BAD_FILES = sorted(p.name for p in BAD.glob("*.yaml") if p.name != "bad_bibliography.yaml")


def run(*args: str, env_file: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    if env_file is not None:
        env[ENV_VAR] = env_file
    return subprocess.run(
        [sys.executable, "-m", "taxonomy", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )


def expected_error(path: Path) -> TaxonomyError:
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    return info.value


# ---------------------------------------------------------------------------------------------
# in a subprocess, as people run it


def test_good_fixture_json():
    r = run("check", str(GOOD), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out == {"ok": True, "file": str(GOOD), "counts": GOOD_COUNTS}


def test_good_fixture_text():
    r = run("check", str(GOOD))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"{GOOD}: valid"
    for key, value in GOOD_COUNTS.items():
        assert f"  {key}: {value}" in r.stdout


def test_default_file_is_valid():
    r = run("check", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is True and out["file"] == "taxonomy.yaml"
    assert out["counts"]["techniques"] >= 1 and out["counts"]["references"] >= 1


def test_environment_variable_selects_the_file():
    r = run("check", "--json", env_file=str(GOOD))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == GOOD_COUNTS


@pytest.mark.parametrize("name", ["syntax_error.yaml", "unknown_key.yaml", "builds_on_cycle.yaml",
                                  "python_object_tag.yaml", "billion_laughs.yaml", "empty.yaml"])
def test_bad_file_text_and_json(name):
    path = BAD / name
    e = expected_error(path)
    r = run("check", str(path))
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == f"error: {e}\n"
    assert "Traceback" not in r.stderr

    r = run("check", str(path), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out == {"ok": False, "error": e.as_dict(), "message": str(e)}


def test_bad_file_from_environment_variable():
    path = BAD / "dangling_demo_id.yaml"
    r = run("check", "--json", env_file=str(path))
    assert r.returncode == 1
    assert json.loads(r.stdout)["message"] == str(expected_error(path))


def test_generated_bad_files(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (10 * 1024 * 1024))
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("meta:\n  title: caf\xe9\n".encode("latin-1"))
    for path, message in [(big, "expected at most 2.1 MB"), (latin1, "is not UTF-8")]:
        r = run("check", str(path))
        assert r.returncode == 1
        assert r.stderr.startswith(f"error: {path}") and message in r.stderr


def test_missing_file():
    r = run("check", "no/such/taxonomy.yaml")
    assert r.returncode == 1
    assert "no/such/taxonomy.yaml: cannot read file" in r.stderr


def test_usage_error():
    assert run().returncode == 2
    assert run("frobnicate").returncode == 2


# ---------------------------------------------------------------------------------------------
# in process, over every bad fixture


@pytest.mark.parametrize("name", BAD_FILES)
def test_every_bad_fixture_fails_with_its_message(name, capsys):
    path = BAD / name
    e = expected_error(path)
    assert main(["check", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["message"] == str(e)
    assert out["error"]["line"] == e.line and out["error"]["field"] == e.field
    assert main(["check", str(path)]) == 1
    assert capsys.readouterr().err == f"error: {e}\n"


def test_main_good(capsys, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["check", str(GOOD), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == GOOD_COUNTS
