"""Progress bars (tqdm, on stderr) for the stages a user waits on; no-ops when disabled."""
import contextlib
import sys

__all__ = ["progress_bar"]


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
