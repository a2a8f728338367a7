"""Writing files atomically: under a temporary name in the destination folder, renamed into
place only once complete, so an interrupted or failed write never leaves a partial file under
the destination's name, and a failure removes the temporary file."""
import contextlib
import os
import tempfile

__all__ = ["atomic_path", "default_file_mode"]


def default_file_mode():
    """``0o666`` less the process umask: the mode ``open(path, "w")`` would give a new file
    (``tempfile.mkstemp`` creates files ``0o600`` whatever the umask)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other way to read it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path, suffix=".part"):
    """Yield a temporary path next to ``path``; on success it is given the mode a new file
    would have and renamed to ``path``; on any exception (KeyboardInterrupt and SystemExit
    included) it is removed.  ``FileNotFoundError`` when the folder does not exist."""
    path = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
