"""A sweep through a real Ray head, in CI: start a head (``ray start --head --num-cpus 2
--include-dashboard=false``), run a small sweep through ``--address``, check its table equals the
same sweep on a local Ray (``ray.init()``), stop the head.

Network rule: nothing leaves loopback. Ray 2.60 ignores ``--node-ip-address=127.0.0.1`` and
registers its node on the machine's outward address, so the head, its workers, the local Ray and
both drivers run inside a network namespace of their own (``unshare --net``) whose only interface
is ``lo``: there is no other address to register and no route out. A PID namespace of its own
(``--pid --mount-proc``) means ``ray stop`` sees only this head, and when the script ends the kernel
ends every process left in it (``--kill-child`` if pytest's timeout kills the script first).

Needs root (or unprivileged user namespaces), ``unshare`` (util-linux) and ``ip`` (iproute2);
``clinic.sh test`` installs iproute2 where it is missing. Without them the test fails and says why.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMING = ["host", "cell_wall_s", "cell_cpu_s", "variant_wall_s"]
SPEC = """
name: ray_ci
demo: mode_collapse
variants: [gan, pacgan]
set: {steps: 40, hidden: 16, eval_every: 20}
grid: {dataset: [ring, grid]}
seeds: 4
seeds_per_task: 2
"""


def namespace_command() -> list[str]:
    """``unshare`` with a private network and PID namespace; pytest.fail (never a hang, never a
    skip: CI must run this) when this machine cannot make one."""
    missing = [t for t in ("unshare", "ip") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the Ray test needs {' and '.join(missing)} (Debian: apt-get install util-linux iproute2) "
                    "to keep Ray's traffic on loopback in a network namespace of its own")
    cmd = ["unshare", "--net", "--pid", "--mount-proc", "--kill-child"]
    if os.geteuid() != 0:
        cmd[1:1] = ["--user", "--map-root-user"]  # unprivileged user namespaces, where the kernel allows them
    try:
        probe = subprocess.run([*cmd, "ip", "link", "set", "lo", "up"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("unshare did not return within 20 s")
    if probe.returncode != 0:
        pytest.fail(f"cannot create a network namespace ({' '.join(cmd)}: {probe.stderr.strip()[:300]}); the Ray "
                    "test must run as root (as CI does) or where unprivileged user namespaces are enabled")
    return cmd


def test_sweep_through_a_ray_head_equals_the_local_sweep(tmp_path):
    cmd = namespace_command()
    spec = tmp_path / "ray_ci.yaml"
    spec.write_text(SPEC)
    py, ray = sys.executable, f"{sys.executable} -m ray.scripts.scripts"
    # Ray's sockets live under its temp dir and a Unix socket path has at most 107 bytes: a short one
    temp = tempfile.mkdtemp(prefix="rayci-", dir="/tmp")
    script = f"""
set -eu
ip link set lo up
echo "interfaces: $(ip -o link show | awk -F': ' '{{print $2}}' | tr '\\n' ' ')"
{ray} start --head --num-cpus 2 --include-dashboard=false --disable-usage-stats --port 6390 \\
    --temp-dir {temp} > {tmp_path}/head.log 2>&1 || {{ cat {tmp_path}/head.log; exit 3; }}
{py} -m demos sweep {spec} --out {tmp_path}/head --address 127.0.0.1:6390 --nice 10
{py} -m demos sweep {spec} --out {tmp_path}/local --cpus 2 --nice 10
{ray} stop > /dev/null 2>&1
"""
    try:
        r = subprocess.run([*cmd, "bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the Ray sweep did not finish in 240 s; output so far:\n{(e.stderr or b'')[-3000:]}")
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "interfaces: lo " in out and out.count("Ray nodes: 127.0.0.1; 2 CPUs") == 2, out[-3000:]
    head = pd.read_parquet(tmp_path / "head" / "ray_ci.parquet")
    local = pd.read_parquet(tmp_path / "local" / "ray_ci.parquet")
    assert len(head) == 2 * 2 * 4 and (head["error"] == "").all() and head["claim"].notna().all()
    pd.testing.assert_frame_equal(head.drop(columns=TIMING), local.drop(columns=TIMING))
