"""pytest configuration of the benchmark grid (``bench/bench_*.py``, pytest-benchmark).

The default test run never sees these files: pytest's ``testpaths`` are ``tests`` and
``ntkfast``.  Run them explicitly, from the repository root, after an in-place build:

    python -m pytest bench/ -p no:cacheprovider --benchmark-only
    python -m pytest bench/bench_sketch.py -p no:cacheprovider --benchmark-only
    NTKFAST_BENCH_LARGE=1 python -m pytest bench/bench_exact.py --benchmark-only  # n up to 40,000

Each comparison of issue 4 is a pytest-benchmark *group*: the ntkfast workload and its
reference are timed in the same session, and at the end this file prints, per group, the
ratio of their minimum times with the target beside it.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LARGE = os.environ.get("NTKFAST_BENCH_LARGE", "") not in ("", "0")


def pytest_collect_file(file_path, parent):
    # python_files is "test_*.py" by default: collect bench_*.py too, but only here, and not
    # a file named on the command line (pytest collects those itself).
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def mark(benchmark, group, role, target=None, **info):
    """Put a benchmark in a comparison ``group`` as its "ntkfast" or "reference" side."""
    benchmark.group = group
    benchmark.extra_info["role"] = role
    if target is not None:
        benchmark.extra_info["target"] = target
    benchmark.extra_info.update(info)


def pytest_terminal_summary(terminalreporter, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not getattr(session, "benchmarks", None):
        return
    groups = {}
    for b in session.benchmarks:
        role = b.extra_info.get("role")
        if role is None or b.stats is None:
            continue
        groups.setdefault(b.group, {}).setdefault(role, []).append(b)
    lines = []
    for group, roles in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if "ntkfast" not in roles or "reference" not in roles:
            continue
        ours = roles["ntkfast"][0]
        for ref in roles["reference"]:
            ratio = ours.stats.min / ref.stats.min
            target = ref.extra_info.get("target") or ours.extra_info.get("target") or ""
            lines.append(f"{group}: {ours.name} / {ref.name} = {ratio:.2f} "
                         f"(speed-up {1 / ratio:.2f})  target {target}")
    if lines:
        terminalreporter.section("ntkfast ratios (min time / min time of the reference)")
        for line in lines:
            terminalreporter.write_line(line)
