"""The ``ntkfast`` command: ``demo``, ``fit``, ``predict`` and ``transform``.

* :mod:`.parser`: the argument parser;
* :mod:`.commands`: ``fit``, ``predict``, ``transform``;
* :mod:`.data`: reading ``.npy`` and ``.csv`` files (line numbers as an editor shows them);
* :mod:`.output`: checked, atomic outputs with their disk space reserved;
* :mod:`.demo`: the demo;
* :mod:`.errors`: the error types and status lines.

Every user error ends with one line ``ntkfast: error: ...`` on stderr and exit status 1 (2
for a usage error), never a traceback.  SIGTERM removes the partial outputs (exit status
143), Ctrl-C too (130); a closed stdout stops the command quietly (141).
"""
import contextlib
import os
import signal
import sys
import threading
import warnings
import zipfile

from .errors import CLIError, Terminated, UsageError

__all__ = ["main"]

EXIT_ERROR, EXIT_USAGE = 1, 2
EXIT_SIGINT, EXIT_SIGPIPE, EXIT_SIGTERM = 130, 141, 143


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises :class:`Terminated` (so that the atomic writers clean up) while the
    command runs; the previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ntkfast: warning: {str(message).splitlines()[0] if str(message) else category.__name__}",
          file=sys.stderr)


def _stdout_closed():
    """Python's recipe for a closed pipe (the ``signal`` module's documentation): point
    stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a replaced stdout (tests) has no fd
        pass
    return EXIT_SIGPIPE


def _run(args):
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except UsageError as exc:
        print(f"ntkfast: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CLIError as exc:
        msg = str(exc)
    except (ValueError, TypeError, MemoryError) as exc:
        # The library's messages already name the argument ("X: expected ..., got ...").
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except FileNotFoundError as exc:
        msg = str(exc)
    except (OSError, zipfile.BadZipFile) as exc:
        name = getattr(exc, "filename", None)
        msg = f"{name + ': ' if name else ''}{getattr(exc, 'strerror', None) or exc}"
    except Terminated:
        print("ntkfast: terminated (SIGTERM); partial outputs removed", file=sys.stderr)
        return EXIT_SIGTERM
    except KeyboardInterrupt:
        print("ntkfast: interrupted; partial outputs removed", file=sys.stderr)
        return EXIT_SIGINT
    print(f"ntkfast: error: {msg}", file=sys.stderr)
    return EXIT_ERROR


def main(argv=None):
    """Run the ``ntkfast`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    from .parser import build_parser

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        try:
            sys.stdout.flush()
        except BrokenPipeError:  # ntkfast --help | head -1
            return _stdout_closed()
        return 0 if exc.code is None else exc.code
    with _sigterm_raises(), warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        return _run(args)
