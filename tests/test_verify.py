"""python -m demos verify: a group's rows count the seeds each claim holds in, with the Wilson interval
and the claim bar; the table names every row; a failing group is a row, not a crash; bad --only is
refused by name."""
import json
import math

import pytest

from demos import verify as V


def tiny_group(first, n, threads):
    return {"variants": {"x": {"per_seed": [{"ok": i % 4 != 0} for i in range(n)]}}}


def test_a_group_counts_seeds_and_applies_the_claim_bar(monkeypatch):
    g = V.Group("tiny:one", tiny_group, (("x", "fix", lambda r: [p["ok"] for p in r["variants"]["x"]["per_seed"]]),))
    monkeypatch.setattr(V, "groups", lambda: [g])
    (row,) = V._run_group("tiny:one", 1000, 16)
    assert (row["held"], row["of"], row["role"]) == (12, 16, "fix")
    assert row["claimable"] is False  # 75 % < 90 %
    assert row["wilson_lo"] < 0.75 < row["wilson_hi"]
    (row,) = V._run_group("tiny:one", 1000, 4)
    assert (row["held"], row["of"]) == (3, 4)


def test_the_table_lists_every_row_and_errors(tmp_path):
    rows = [{"group": "g:a", "variant": "fix1", "role": "fix", "held": 15, "of": 16, "rate": 15 / 16,
             "wilson_lo": 0.72, "wilson_hi": 0.99, "claimable": True, "first_seed": 1000},
            {"group": "g:b", "variant": "-", "role": "error", "held": 0, "of": 0, "rate": math.nan,
             "wilson_lo": math.nan, "wilson_hi": math.nan, "claimable": False, "error": "ValueError: boom"}]
    js, md = V.write(rows, tmp_path / "verify")
    text = md.read_text()
    assert "| g:a | fix1 | fix | 15/16 | 94% [72%, 99%] | yes |" in text
    assert "ValueError: boom" in text and "1000-1015" in text
    assert json.loads(js.read_text())[1]["rate"] is None  # NaN is written as null


def test_every_group_names_known_variants_and_unknown_only_is_refused():
    names = [g.name for g in V.groups()]
    assert len(names) == len(set(names)) and "lab:collapse_ring" in names and "mode_collapse:ring" in names
    with pytest.raises(ValueError, match="no such group"):
        V.verify(2, 0, 1, only=["nope"])
