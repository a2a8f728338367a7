"""The ``ntkfast`` argument parser.

Options that are refused in some combinations (the feature options with ``transform
--model``, the random-feature options with ``fit --exact``) default to None here, so that
the commands can tell "given" from "default"; their documented defaults are filled in by
:mod:`.commands`.
"""
import argparse
import math
import sys

from .. import __version__

__all__ = ["build_parser"]

EPILOG = ("Errors are one line 'ntkfast: error: ...' on stderr, exit status 1 (2 for a usage "
          "error). A command stopped by SIGTERM removes its partial outputs and exits with 143, "
          "by Ctrl-C with 130; a closed standard output (e.g. '| head') stops it quietly with "
          "exit status 141 (128 + SIGPIPE, as a shell reports a process killed by SIGPIPE).")

CSV_HELP = ("CSV: comma-separated, quoted fields allowed; the first line is a header when one "
            "of its fields is neither empty nor a number; lines starting with '#' are comments "
            "and empty lines are skipped; errors name the file's line (1-based, as an editor "
            "shows it) and the column.")


def _int_at_least(minimum):
    """An argparse type: an integer >= ``minimum``."""
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {v}")
        return v
    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def _float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {s}")
    return v


def _positive_float(s):
    v = _float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {s}")
    return v


def _nonneg_float(s):
    v = _float(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {s}")
    return v


def _fraction(s):
    v = _float(s)
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {s}")
    return v



class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, same prefix as every other error, exit code 2 (usage); the usage text
        # (several lines for 'fit') is one --help away.
        print(f"ntkfast: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _add_feature_options(p):
    p.add_argument("--depth", type=_positive_int, default=None, help="hidden ReLU layers L (default: 1)")
    p.add_argument("--n-components", type=_positive_int, default=None,
                   help="number of random features (default: 4096)")
    p.add_argument("--sketch-components", type=_positive_int, default=None,
                   help="TensorSketch width ms (< n-components; default: 60%% of --n-components, "
                   "rounded down to an FFT-friendly length: ntkfast.default_sketch_components)")
    p.add_argument("--step-components", type=_positive_int, default=None,
                   help="step features m0 per layer (hashed into the sketch, not output; "
                   "default: as many as ReLU features, n-components - sketch-components)")
    p.add_argument("--sketch", choices=("countsketch", "srht"), default=None,
                   help="sketch of each layer's tensor product: the CountSketch TensorSketch or "
                   "TensorSRHT (needs an even --sketch-components; default: countsketch)")
    p.add_argument("--projection", choices=("gaussian", "fastfood", "sorf"), default=None,
                   help="random projection of each layer: independent Gaussian rows, or one "
                   "structured projection shared by the ReLU and step features (fastfood: "
                   "unbiased; sorf: orthogonal, lowest error, slightly biased; default: gaussian)")
    p.add_argument("--no-leverage", action="store_const", const=True, default=None,
                   help="plain Gaussian ReLU weights (no leverage-score sampling)")
    p.add_argument("--kernel", choices=("ntk", "nngp"), default=None, help="kernel to approximate (default: ntk)")
    p.add_argument("--bias", type=_nonneg_float, default=None,
                   help="bias variance b of the network, as in ntk_kernel(X, bias=b) (default: 0; "
                   "also for --exact)")
    p.add_argument("--random-state", type=_seed, default=None, help="seed of the random features (default: 0)")


def _add_common(p):
    p.add_argument("--n-threads", type=_positive_int, default=None,
                   help="threads (default: the OpenMP limit, e.g. OMP_NUM_THREADS)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bars, status lines or summaries on stderr (errors only)")


def build_parser():
    from . import commands, demo

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog="ntkfast", description="Neural Tangent Kernel random features and kernel ridge "
                     "regression/classification on numpy and CSV files.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"ntkfast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="compare random-feature and exact NTK ridge on bundled data",
                       description="Fit NTKRidgeClassifier (or NTKRidge) and ExactNTKRidge on the same "
                       "split of a data set bundled with scikit-learn (no network) and print test score, "
                       "fit and predict times, the kernel approximation error and which model is "
                       "faster by how much.", epilog=EPILOG)
    p.add_argument("--task", choices=("classification", "regression"), default="classification",
                   help="classification: digits (+ shifted copies); regression: diabetes")
    p.add_argument("--depth", type=_positive_int, default=1, help="hidden ReLU layers L (default: 1)")
    p.add_argument("--n-components", type=_positive_int, default=None,
                   help="random features (default: 2048)")
    p.add_argument("--alpha", type=_positive_float, default=None,
                   help="ridge penalty, > 0 (default: 1 for classification, 100 for regression)")
    p.add_argument("--error-rows", type=_positive_int, default=1000,
                   help="training rows used to measure the kernel approximation error (default: 1000)")
    p.add_argument("--random-state", type=_seed, default=0, help="seed (default: 0)")
    p.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    _add_common(p)
    p.set_defaults(func=demo.demo)

    p = sub.add_parser("fit", help="fit a model on a .npy or .csv file and save it (.npz)",
                       description="Fit NTKRidge / NTKRidgeClassifier (or ExactNTKRidge with --exact) "
                       "on the columns of --data other than the target, and save the model as .npz.\n\n"
                       "By default the feature columns are standardised (mean and standard deviation "
                       "of the training rows; a constant column is centred and divided by 1) and so is "
                       "a regression target; the model file stores these numbers and 'ntkfast "
                       "predict' applies them (and de-standardises the predictions).\n\n" + CSV_HELP,
                       epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--data", required=True, help="training data: .npy (2-D numeric) or .csv")
    p.add_argument("--target", required=True,
                   help="target column: a name (csv with header) or an integer index (negative counts from the end)")
    p.add_argument("--task", choices=("regression", "classification"), default="regression",
                   help="default: regression")
    _add_feature_options(p)
    p.add_argument("--features", choices=("random", "nystroem"), default=None,
                   help="random: NTK random features (the options above); nystroem: Nystroem "
                   "features of the exact kernel at --n-components landmark rows of --data "
                   "(--depth, --kernel, --bias apply; closer to the exact model at equal width, "
                   "see the README; default: random)")
    p.add_argument("--alpha", type=_positive_float, nargs="+", default=None, metavar="ALPHA",
                   help="ridge penalty, > 0; several values: chosen on a held-out part (default: 1.0)")
    p.add_argument("--validation-fraction", type=_fraction, default=None,
                   help="held-out fraction used to choose among several --alpha (default: 0.1)")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="rows per streamed chunk")
    p.add_argument("--no-standardize", action="store_true",
                   help="use the values as they are (the data must then be on comparable scales)")
    p.add_argument("--exact", action="store_true", help="exact kernel ridge (ExactNTKRidge; cubic in n)")
    p.add_argument("--model", required=True, help="output model file (.npz)")
    _add_common(p)
    p.set_defaults(func=commands.fit)

    p = sub.add_parser("predict", help="predict with a saved model",
                       description="Predict the rows of --data with a model saved by 'ntkfast fit'. "
                       "A target column present in the file is dropped (by name for a csv with a "
                       "header); the model's standardisation is applied.\n\n" + CSV_HELP,
                       epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--model", required=True, help="model file written by 'ntkfast fit'")
    p.add_argument("--data", required=True, help="data: .npy or .csv")
    p.add_argument("--out", default=None, help="predictions (.npy or .csv); default: print to stdout")
    _add_common(p)
    p.set_defaults(func=commands.predict)

    p = sub.add_parser("transform", help="stream NTK random features of a .npy into a .npy",
                       description="Compute NTK random features of --data (a .npy, memory-mapped, read "
                       "in chunks) into --out (a .npy, written chunk by chunk, its disk space reserved "
                       "first), with the features of --model or new ones drawn from the feature options "
                       "(which cannot be combined with --model). The values are used as they are, "
                       "except with a model of 'ntkfast fit' that standardised its inputs: its "
                       "standardisation is applied.", epilog=EPILOG)
    p.add_argument("--data", required=True, help="input .npy of shape (n, d)")
    p.add_argument("--out", required=True, help="output .npy of shape (n, n_components)")
    p.add_argument("--model", default=None,
                   help="saved NTKRandomFeatures or NTKNystroem (or ridge model: its features) to use")
    _add_feature_options(p)
    p.add_argument("--save-model", default=None, help="save the newly drawn features (.npz) for later use")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="rows per chunk")
    _add_common(p)
    p.set_defaults(func=commands.transform)
    return parser
