"""engine.runtime.keep_heap: a malloc setting that must change where tensors live, never a result."""
import json
import subprocess
import sys
from pathlib import Path

from engine import runtime

ROOT = Path(__file__).resolve().parent.parent
RUN = """
import json, sys
sys.path.insert(0, {root!r})
if {keep}:
    from engine.runtime import keep_heap
    assert keep_heap()
import torch
torch.set_num_threads(1)
from demos import mode_collapse as mc
r = mc.run(mc.Config(steps=60, eval_every=20), ["gan", "pacgan"], 2)
print(json.dumps({{v: x["per_seed"] for v, x in r["variants"].items()}}))
"""


def test_keep_heap_takes_effect_on_glibc():
    assert runtime.keep_heap() is True  # Debian's glibc: mallopt accepts both settings


def test_keep_heap_changes_no_number():
    """The same short run in two fresh processes, one with the setting: per-seed results equal."""
    out = [json.loads(subprocess.run([sys.executable, "-c", RUN.format(root=str(ROOT), keep=k)], check=True,
                                     capture_output=True, text=True, timeout=300).stdout) for k in (False, True)]
    assert out[0] == out[1]
    assert len(out[0]["gan"]) == 2
