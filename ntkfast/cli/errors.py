"""The command's errors and messages: every user error is one line ``ntkfast: error: ...``."""
import sys

__all__ = ["CLIError", "UsageError", "Terminated", "Messages"]


class CLIError(Exception):
    """A user error (bad file, bad value, full disk): one line on stderr, exit code 1."""


class UsageError(CLIError):
    """Options that do not go together: one line on stderr, exit code 2 (as argparse's)."""


class Terminated(BaseException):
    """Raised by the SIGTERM handler, so that every ``atomic_path`` removes its temporary
    file on the way out (a BaseException: no ``except Exception`` swallows it)."""


class Messages:
    """Status lines on stderr for the stages a user waits on; silent with ``--quiet``.

    ``bars``: whether to show progress bars (tqdm's and the estimators' ``verbose``): only
    when stderr is a terminal, since a bar redrawn with carriage returns garbles a log file
    and would run into the one error line."""

    def __init__(self, quiet):
        self.quiet = quiet
        try:
            tty = sys.stderr.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.bars = not quiet and tty

    def __call__(self, msg):
        if not self.quiet:
            print(msg, file=sys.stderr, flush=True)
