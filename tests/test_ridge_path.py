"""bench/penalty_path.py runs end to end in --quick mode (no timing is checked)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "penalty_path.py")
CASP = os.path.join(os.path.dirname(ROOT), "shared", "data", "CASP.csv")


def _run(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    return subprocess.run([sys.executable, SCRIPT, *args], env=env, check=True,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="bench/ is not shipped with the package")
def test_penalty_path_quick(tmp_path):
    if not os.path.exists(CASP):
        pytest.skip(f"{CASP} is absent")
    out = tmp_path / "table.md"
    run = _run("--quick", "--out", str(out))
    text = out.read_text()
    assert text in run.stdout
    assert "| 300 |" in text and "| 600 |" in text and "5 alphas / Exact" in text
    assert "nan" not in text.lower() and "load average" in text


@pytest.mark.skipif(not os.path.exists(SCRIPT), reason="bench/ is not shipped with the package")
def test_penalty_path_without_data(tmp_path):
    run = _run("--quick", "--data", str(tmp_path / "absent.csv"))
    assert "not found" in run.stderr and "skipping" in run.stderr
    assert run.stdout == "" and list(tmp_path.iterdir()) == []
