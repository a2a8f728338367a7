"""Progress bars (tqdm, on stderr) for the stages a user waits on; no-ops when disabled."""
import contextlib
import sys

__all__ = ["progress_bar", "stage"]


class _Null:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


@contextlib.contextmanager
def progress_bar(enabled, total, desc, unit="rows"):
    """Yield a bar with ``update(n)`` (a do-nothing object when ``enabled`` is false)."""
    bar = _Null()
    if enabled:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass
    try:
        yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def stage(enabled, text):
    """A status line on stderr for a stage without a natural count (a factorisation, a solve):
    ``text ...`` when it starts, ``text: 12.3 s`` when it ends.  Nothing when disabled."""
    if not enabled:
        yield
        return
    import time

    print(f"{text} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    yield
    print(f"{text}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
