"""``ntkfast`` outputs: a full disk, SIGTERM, a closed stdout, outputs that would replace an
input, and file modes.  Crash cases run in a subprocess and must end with a clean exit code,
not a signal."""
import errno
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ntkfast.cli.output
from ntkfast.cli import main

from test_cli import REPO, _assert_clean_error, _run, _write_csv


def _env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _files(folder):
    return sorted(os.listdir(folder))


@pytest.fixture
def fitted(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3))
    y = X[:, 0] - X[:, 1] ** 2
    _write_csv(tmp_path / "train.csv", ["a", "b", "c", "y"], [(*x, t) for x, t in zip(X, y)])
    code, _, err = _run(capsys, "fit", "--data", tmp_path / "train.csv", "--target", "y",
                        "--n-components", 64, "--model", tmp_path / "m.npz", "-q")
    assert code == 0, err
    return tmp_path


# ----------------------------------------------------------------------------- full disk

def _no_space(fd, offset, length):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("out", ["p.npy", "p.csv"])
def test_predict_full_disk(fitted, capsys, monkeypatch, out):
    before = _files(fitted)
    monkeypatch.setattr(os, "posix_fallocate", _no_space)  # .npy: the reservation fails
    if out.endswith(".csv"):  # .csv (size unknown beforehand): a write fails
        def full(f, rows, header=None, progress=None):
            f.write("0.5\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(ntkfast.cli.output, "write_csv_rows", full)
    code, _, err = _run(capsys, "predict", "--model", fitted / "m.npz", "--data", fitted / "train.csv",
                        "--out", fitted / out, "-q")
    _assert_clean_error(code, err, f"--out: cannot write '{fitted / out}': No space left on device")
    assert "requested" not in err  # numpy's byte counts
    assert _files(fitted) == before  # no output, no temporary file


def test_transform_full_disk_in_process(tmp_path, capsys, monkeypatch):
    np.save(tmp_path / "X.npy", np.ones((1000, 4)))
    monkeypatch.setattr(os, "posix_fallocate", _no_space)
    code, _, err = _run(capsys, "transform", "--data", tmp_path / "X.npy", "--out", tmp_path / "F.npy",
                        "--n-components", 64, "--save-model", tmp_path / "rf.npz", "-q")
    _assert_clean_error(code, err, "--out: cannot write", "No space left on device (500.1 KiB needed)")
    assert _files(tmp_path) == ["X.npy"]


def _limited_file_size(limit):
    def preexec():
        # Python ignores SIGXFSZ: writes past the limit fail with EFBIG, as on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


@pytest.mark.parametrize("reserve", [True, False], ids=["reserved", "plain-writes"])
def test_transform_past_the_file_size_limit_subprocess(tmp_path, reserve):
    # A real failing write: 200 KB of input allowed, 12.8 MB of output wanted.  Without the
    # reservation the writes themselves fail (the memory-mapped writer died of SIGBUS here).
    np.save(tmp_path / "X.npy", np.ones((50000, 4), dtype=np.float32))
    prelude = "" if reserve else "import ntkfast.cli.output as o; o.reserve = lambda f, n: None; "
    code = (f"import sys; {prelude}from ntkfast.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, "transform", "--data", "X.npy", "--out", "F.npy",
                        "--n-components", "64", "--batch-size", "4096"],
                       cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120,
                       preexec_fn=_limited_file_size(1 << 20))
    assert r.returncode == 1, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("ntkfast: error: --out: cannot write 'F.npy': File too large"), r.stderr
    assert "Traceback" not in r.stderr
    assert _files(tmp_path) == ["X.npy"]


# ----------------------------------------------------------------------------- SIGTERM

def test_sigterm_mid_transform_leaves_nothing(tmp_path):
    np.save(tmp_path / "X.npy", np.random.default_rng(0).standard_normal((50000, 4)).astype(np.float32))
    # --batch-size 1 makes the run last several seconds.
    p = subprocess.Popen([sys.executable, "-m", "ntkfast", "transform", "--data", "X.npy", "--out",
                          "F.npy", "--n-components", "64", "--batch-size", "1", "-q"],
                         cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(f.endswith(".part") for f in os.listdir(tmp_path)):
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # well inside the transform loop
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 143, (p.returncode, err)  # an exit status, not death by a signal
    assert err.strip() == "ntkfast: terminated (SIGTERM); partial outputs removed", err
    assert _files(tmp_path) == ["X.npy"]


def test_sigterm_handler_is_restored(tmp_path, capsys):
    before = signal.getsignal(signal.SIGTERM)
    np.save(tmp_path / "X.npy", np.ones((5, 2)))
    assert _run(capsys, "transform", "--data", tmp_path / "X.npy", "--out", tmp_path / "F.npy",
                "--n-components", 16, "-q")[0] == 0
    assert signal.getsignal(signal.SIGTERM) is before


# ----------------------------------------------------------------------------- closed stdout

def test_predict_into_a_closed_pipe_stops_quietly(fitted):
    # 6000 predictions (~120 KB) overflow the pipe's buffer; the reader stops after one line.
    rng = np.random.default_rng(1)
    np.save(fitted / "big.npy", rng.standard_normal((6000, 3)))
    p = subprocess.Popen([sys.executable, "-m", "ntkfast", "predict", "--model", "m.npz", "--data",
                          "big.npy"], cwd=fitted, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert float(first)
    assert p.returncode == 141, (p.returncode, err)
    assert "error" not in err and "Traceback" not in err and "Exception" not in err, err


# ----------------------------------------------------------------------------- collisions

def test_outputs_never_replace_inputs(fitted, capsys):
    m, data = fitted / "m.npz", fitted / "train.csv"
    np.save(fitted / "X.npy", np.ones((4, 3)))
    X = fitted / "X.npy"
    os.symlink(data, fitted / "link.csv")
    os.symlink(data, fitted / "link.npz")  # the output's name passes the suffix check
    os.symlink(X, fitted / "xlink.npz")
    before = {f: (fitted / f).read_bytes() for f in _files(fitted)}
    cases = [
        (("predict", "--model", m, "--data", data, "--out", data), "--out", "--data"),
        (("predict", "--model", m, "--data", data, "--out", fitted / "." / "train.csv"), "--out", "--data"),
        (("predict", "--model", m, "--data", fitted / "link.csv", "--out", data), "--out", "--data"),
        (("fit", "--data", data, "--target", "y", "--model", fitted / "link.npz"), "--model", "--data"),
        (("transform", "--data", X, "--out", X, "--n-components", 16), "--out", "--data"),
        (("transform", "--data", X, "--out", fitted / "F.npy", "--n-components", 16,
          "--save-model", fitted / "xlink.npz"), "--save-model", "--data"),
    ]
    for argv, what, other in cases:
        code, _, err = _run(capsys, *argv, "-q")
        _assert_clean_error(code, err, f"{what}: ", f"is the same file as {other}; refusing to overwrite it")
    after = {f: (fitted / f).read_bytes() for f in _files(fitted)}
    assert after == before


# ----------------------------------------------------------------------------- modes

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_output_modes_follow_the_umask(fitted, capsys, umask, mode):
    old = os.umask(umask)
    try:
        outs = [fitted / "m2.npz", fitted / "p.csv", fitted / "p.npy", fitted / "F.npy", fitted / "rf.npz"]
        assert _run(capsys, "fit", "--data", fitted / "train.csv", "--target", "y", "--n-components", 32,
                    "--model", outs[0], "-q")[0] == 0
        for out in outs[1:3]:
            assert _run(capsys, "predict", "--model", outs[0], "--data", fitted / "train.csv",
                        "--out", out, "-q")[0] == 0
        np.save(fitted / "X.npy", np.ones((4, 3)))
        assert _run(capsys, "transform", "--data", fitted / "X.npy", "--out", outs[3], "--n-components",
                    16, "--save-model", outs[4], "-q")[0] == 0
    finally:
        os.umask(old)
    for out in outs:
        assert os.stat(out).st_mode & 0o777 == mode, out
