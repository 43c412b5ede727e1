"""Every benchmark is an entry point of the importable ``benchmarks`` package: it starts with
``python -m benchmarks.<name>``, sets the process up before torch loads, and nothing in
benchmarks/ or tests/ edits ``sys.path`` to find it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.peer_common import PEER_SCRIPTS, ROOT

ENTRY_POINTS = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                      if p.name not in PEER_SCRIPTS
                      and re.search(r"^if __name__ == \"__main__\":", p.read_text(), re.M))

SPY = """
import json, os, runpy, sys
seen = {}
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "torch" not in seen:
            seen["torch"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Spy())
codes = {}
for name in sys.argv[1:]:
    sys.argv = [name, "--help"]
    try:
        runpy.run_module("benchmarks." + name, run_name="__main__")
    except SystemExit as exc:
        codes[name] = exc.code
print(json.dumps({"omp_when_torch_loaded": seen, "codes": codes}))
"""


def test_the_entry_points_are_found() -> None:
    assert {"accuracy", "speed", "dashboard", "ingest", "identity", "adaptation",
            "port_check", "port_check_facex"} <= set(ENTRY_POINTS)


def test_every_entry_point_runs_as_a_module_and_configures_the_process_before_torch() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    proc = subprocess.run([sys.executable, "-c", SPY, *ENTRY_POINTS], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["codes"] == dict.fromkeys(ENTRY_POINTS, 0)
    # adaptation and train_resnet_timing load torch on import: the policy was set by then
    assert out["omp_when_torch_loaded"] == {"torch": "PASSIVE"}


def test_nothing_edits_sys_path() -> None:
    found = [str(p.relative_to(ROOT)) for folder in ("benchmarks", "tests")
             for p in (ROOT / folder).rglob("*.py")
             if re.search(r"sys\.path\.(insert|append)", p.read_text())
             and p != Path(__file__)]
    assert found == []
