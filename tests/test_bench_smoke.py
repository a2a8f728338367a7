"""The benchmark report runs end to end on a tiny grid (no timing is checked)."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "bench", "report.py")


@pytest.mark.skipif(not os.path.exists(REPORT), reason="bench/ is not shipped with the package")
def test_report_quick_runs(tmp_path):
    pytest.importorskip("matplotlib")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               # Passive OpenMP waiting: on a busy machine spinning workers make each tiny
               # call of the smoke grid take tens of milliseconds (see bench/results.md).
               OMP_WAIT_POLICY="passive")
    # A subset of the quick grid keeps this well under 30 s on 2 busy cores; every section
    # is still exercised by `python bench/report.py --quick`.
    # Without --out, a quick run writes into a fresh temporary folder (it names it on stderr)
    # and leaves the committed bench/results.md and time_vs_n.png alone.
    committed = {name: os.stat(os.path.join(ROOT, "bench", name)).st_mtime_ns
                 for name in ("results.md", "time_vs_n.png") if os.path.exists(os.path.join(ROOT, "bench", name))}
    env["TMPDIR"] = str(tmp_path)
    res = subprocess.run([sys.executable, REPORT, "--quick", "--only", "sketch,ntk,scaling",
                          "--repeat", "1"],
                         env=env, check=True, capture_output=True, text=True, timeout=300)
    out = [line.split("writing to ", 1)[1].strip() for line in res.stderr.splitlines()
           if line.startswith("writing to ")]
    assert len(out) == 1 and out[0].startswith(str(tmp_path))
    for name, mtime in committed.items():
        assert os.stat(os.path.join(ROOT, "bench", name)).st_mtime_ns == mtime
    tmp_path = type(tmp_path)(out[0])
    text = (tmp_path / "results.md").read_text()
    for heading in ("## 2. TensorSketch", "## 3. NTK random features", "## 4. Linear scaling",
                    "load average"):
        assert heading in text
    assert "nan" not in text.lower().replace("nanosecond", "")
    png = (tmp_path / "time_vs_n.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


STAGES = os.path.join(ROOT, "bench", "thread_stages.py")


@pytest.mark.skipif(not os.path.exists(STAGES), reason="bench/ is not shipped with the package")
def test_thread_stages_runs():
    # The stage timers wrap the functions the transform calls: if one is renamed or no longer
    # called, its row would read 0 ms.
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    res = subprocess.run([sys.executable, STAGES, "--n", "2000", "--runs", "1"], env=env,
                         check=True, capture_output=True, text=True, timeout=300)
    rows = {line.split("|")[1].strip(): line for line in res.stdout.splitlines()
            if line.startswith("| ") and not line.startswith("| stage")}
    assert set(rows) == {"layer_inputs", "rfft", "multiply", "irfft", "other", "total"}
    for stage in ("layer_inputs", "rfft", "multiply", "irfft"):
        ms_1, ms_2 = (float(v) for v in rows[stage].split("|")[2:4])
        assert ms_1 > 0 and ms_2 > 0, rows[stage]


PARETO = os.path.join(ROOT, "bench", "projection_pareto.py")


@pytest.mark.skipif(not os.path.exists(PARETO), reason="bench/ is not shipped with the package")
def test_projection_pareto_runs(tmp_path):
    """Every construction appears with a finite error and time, and the front is marked."""
    pytest.importorskip("matplotlib")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    res = subprocess.run([sys.executable, PARETO, "--n", "40", "--n-time", "200", "--widths", "64", "128",
                          "--depths", "2", "--seeds", "2", "--repeat", "1", "--casp", "",
                          "--plot", str(tmp_path / "p.png")],
                         env=env, check=True, capture_output=True, text=True, timeout=300,
                         cwd=os.path.join(ROOT, "bench"))
    rows = [line.split("|")[1:-1] for line in res.stdout.splitlines() if line.startswith("| Gaussian")]
    assert {(r[2].strip(), r[3].strip(), r[4].strip()) for r in rows} == {
        (p, s, w) for p in ("gaussian", "fastfood", "sorf") for s in ("countsketch", "srht") for w in ("64", "128")}
    for r in rows:
        assert 0 < float(r[5].split("±")[0]) < 10 and float(r[6]) > 0 and float(r[7]) > 0
    assert any(r[8].strip() == "*" for r in rows)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CASP_GAP = os.path.join(ROOT, "bench", "casp_gap.py")


def _synthetic_casp(tmp_path):
    """A synthetic table with the protein data's columns (the real one is not shipped)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 9)) * rng.uniform(0.5, 50, 9)
    y = np.abs(np.sin(X[:, 0] / 10) * 5 + X[:, 1] / 20 + rng.standard_normal(1000))
    csv = tmp_path / "casp.csv"
    np.savetxt(csv, np.c_[y, X], delimiter=",", comments="",
               header=",".join(["RMSD"] + [f"F{i}" for i in range(1, 10)]))
    return csv


def _run_casp_gap(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    return subprocess.run([sys.executable, CASP_GAP, "--quick", *args], env=env,
                          check=True, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not os.path.exists(CASP_GAP), reason="bench/ is not shipped with the package")
def test_casp_gap_quick_runs(tmp_path):
    # 600 / 300 rows, widths 256 and 512, two constructions: a few seconds.  The script
    # checks its own dual solves against NTKRidge (cv_mse_ and predict) on stderr.
    res = _run_casp_gap("--data", str(_synthetic_casp(tmp_path)))
    out = res.stdout
    for text in ("Command:", "load average", "| ExactNTKRidge |", "| gaussian/countsketch | 256 |",
                 "| gaussian/srht | 512 |", "oracle (test set)", "At the end:"):
        assert text in out, text
    assert "nan" not in out.lower()
    checks = [float(line.split(":")[1]) for line in res.stderr.splitlines()
              if "cv_mse_ check" in line]
    assert checks and max(checks) < 1e-8
    refit = [line for line in out.splitlines() if line.startswith("| NTKRidge gaussian/countsketch 256 |")]
    assert len(refit) == 1 and float(refit[0].rstrip(" |").split("|")[-1]) < 1e-8


@pytest.mark.skipif(not os.path.exists(CASP_GAP), reason="bench/ is not shipped with the package")
def test_casp_gap_quick_runs_nystroem_and_ntk_sketch(tmp_path):
    # NTKRidge(features="nystroem") rows (their dual diagnostic checks cv_mse_ and predict),
    # and NTK Sketch features narrower than the 540 training rows (the script's primal solves).
    res = _run_casp_gap("--data", str(_synthetic_casp(tmp_path)), "--constructions",
                        "nystroem/uniform", "ntksketch/direct")
    out = res.stdout
    for text in ("| nystroem/uniform | 256 |", "| nystroem/uniform | 512 |", "| ntksketch/direct | 256 |",
                 "| ntksketch/direct | 512 |", "oracle (test set)"):
        assert text in out, text
    assert "nan" not in out.lower()
    checks = [float(line.split(":")[1]) for line in res.stderr.splitlines() if "cv_mse_ check" in line]
    assert checks and max(checks) < 1e-8
    refit = [line for line in out.splitlines() if line.startswith("| NTKRidge nystroem/uniform 256 |")]
    assert len(refit) == 1 and float(refit[0].rstrip(" |").split("|")[-1]) < 1e-8


CLAIMS = os.path.join(ROOT, "bench", "claims.py")


@pytest.mark.skipif(not os.path.exists(CLAIMS), reason="bench/ is not shipped with the package")
def test_claims_quick_runs():
    # Every section on tiny sizes (a few seconds); the numpy NTK recursion must agree with
    # ntk_kernel (the "max rel. diff" column), no timing is checked.
    pytest.importorskip("sklearn")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    res = subprocess.run([sys.executable, CLAIMS, "--quick", "--repeat", "1"], env=env,
                         check=True, capture_output=True, text=True, timeout=300)
    text = res.stdout
    for heading in ("## 1. `ArcCosineFeatures", "## 2. `tensor_sketch", "## 3. `ntk_kernel",
                    "load average", "At the end"):
        assert heading in text
    assert "nan" not in text.lower()
    section = text.split("## 3. `ntk_kernel", 1)[1]
    ntk_rows = [line.split("|") for line in section.splitlines()
                if line.startswith("| ") and "float" in line]
    assert ntk_rows
    for cells in ntk_rows:
        tol = 1e-3 if "float32" in cells[3] else 1e-6
        assert float(cells[11]) < tol, cells


CASP_CLI = os.path.join(ROOT, "bench", "casp_cli.py")


@pytest.mark.skipif(not os.path.exists(CASP_CLI), reason="bench/ is not shipped with the package")
def test_casp_cli_quick_runs(tmp_path):
    # The split, 'ntkfast fit' (Nystroem and random features) and 'predict' on a synthetic
    # table with the protein data's columns: a few seconds; every row of the table finite.
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_WAIT_POLICY="passive")
    res = subprocess.run([sys.executable, CASP_CLI, "--quick", "--data", str(_synthetic_casp(tmp_path))],
                         env=env, check=True, capture_output=True, text=True, timeout=300)
    rows = [line for line in res.stdout.splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["--features nystroem --n-components 64", "--n-components 256"]
    for r in rows:
        mse, seconds, mib = (float(c) for c in r.split("|")[2:5])
        assert 0 < mse < 100 and seconds > 0 and mib > 0
    assert "800 training rows, 200 test rows" in res.stdout
