"""``ntkfast demo``: random-feature vs exact NTK ridge on a data set bundled with
scikit-learn (no network), with its data augmentation and its results table."""
import time

import numpy as np

from .errors import Messages

__all__ = ["demo", "shift_digits", "demo_data", "times_faster"]


def shift_digits(X, dy, dx):
    """8x8 digit images shifted by (dy, dx) pixels, zero-filled (before standardisation)."""
    imgs = X.reshape(-1, 8, 8)
    out = np.zeros_like(imgs)
    ys = slice(max(dy, 0), 8 + min(dy, 0))
    yd = slice(max(-dy, 0), 8 + min(-dy, 0))
    xs = slice(max(dx, 0), 8 + min(dx, 0))
    xd = slice(max(-dx, 0), 8 + min(-dx, 0))
    out[:, ys, xs] = imgs[:, yd, xd]
    return out.reshape(len(X), 64)


def demo_data(task, quick, seed):
    """``(description, X_train, X_test, y_train, y_test)``, features standardised on the
    training rows."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if task == "classification":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
        name = f"digits (8x8 images, 10 classes; {len(X_tr)} training images"
        if not quick:
            # Training set augmented with the 4 one-pixel shifts (up, down, left, right) of
            # every image (the test images stay unshifted), so that n is large enough for
            # the quadratic cost of the exact kernel to show, within a minute on 2 cores.
            shifts = [(-1, 0), (1, 0), (0, -1), (0, 1)]
            X_tr = np.vstack([X_tr] + [shift_digits(X_tr, dy, dx) for dy, dx in shifts])
            y_tr = np.concatenate([y_tr] * (len(shifts) + 1))
            name += f" + their 4 one-pixel shifts = {len(X_tr)}"
        name += f", {len(X_te)} test images)"
    else:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
        name = f"diabetes (regression, {len(X_tr)} training rows, {len(X_te)} test rows)"
    scaler = StandardScaler().fit(X_tr)
    return name, scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def times_faster(t_exact, t_rf):
    """Which model was faster and by how much: a ratio >= 1, with two significant digits
    below 100 (``"random features 2.5x faster"``, ``"exact kernel 12x faster"``)."""
    t_exact, t_rf = max(t_exact, 1e-9), max(t_rf, 1e-9)
    if t_exact >= t_rf:
        return f"random features {_sig2(t_exact / t_rf)}x faster"
    return f"exact kernel {_sig2(t_rf / t_exact)}x faster"


def _sig2(r):
    return f"{r:.2g}" if r < 100 else f"{r:.0f}"


def _timed(f, *a):
    t0 = time.perf_counter()
    r = f(*a)
    return r, time.perf_counter() - t0


def demo(args):
    from .. import ridge
    from ..kernels import ntk_kernel

    quick = args.quick
    n_components = args.n_components or (1024 if quick else 2048)
    name, X_tr, X_te, y_tr, y_te = demo_data(args.task, quick, args.random_state)
    say = Messages(args.quiet)
    verbose = say.bars
    classify = args.task == "classification"
    alpha = args.alpha
    if alpha is None:
        # Unscaled targets (diabetes: y about 150 +/- 77) want a larger penalty than +/-1 ones.
        alpha = 1.0 if classify else 100.0
    say(f"ntkfast demo: {name}; NTK of depth {args.depth}, {n_components} random features")
    cls = ridge.NTKRidgeClassifier if classify else ridge.NTKRidge
    rf_model = cls(depth=args.depth, n_components=n_components, alpha=alpha,
                   verbose=verbose, random_state=args.random_state, n_threads=args.n_threads)
    _, fit_rf = _timed(rf_model.fit, X_tr, y_tr)
    pred_rf, pred_rf_t = _timed(rf_model.predict, X_te)

    # Exact kernel ridge on the same split.  For classification the exact model regresses
    # the one-vs-rest +/-1 targets, as NTKRidgeClassifier does, and predicts the argmax.
    exact = ridge.ExactNTKRidge(depth=args.depth, alpha=alpha, n_threads=args.n_threads,
                                verbose=verbose)
    if classify:
        classes = np.unique(y_tr)
        Y = np.where(y_tr[:, None] == classes[None, :], 1.0, -1.0)
        _, fit_ex = _timed(exact.fit, X_tr, Y)
        scores, pred_ex_t = _timed(exact.predict, X_te)
        pred_ex = classes[np.argmax(scores, axis=1)]
        score = lambda p: float(np.mean(p == y_te))  # noqa: E731
        metric = "test accuracy"
    else:
        _, fit_ex = _timed(exact.fit, X_tr, y_tr)
        pred_ex, pred_ex_t = _timed(exact.predict, X_te)
        score = lambda p: float(1 - np.sum((p - y_te) ** 2) / np.sum((y_te - y_te.mean()) ** 2))  # noqa: E731
        metric = "test R^2"

    # Kernel approximation error on a subsample of the training rows.
    rng = np.random.default_rng(args.random_state)
    sub = X_tr[rng.choice(len(X_tr), size=min(len(X_tr), args.error_rows), replace=False)]
    Phi = rf_model.features_.transform(sub)
    K = ntk_kernel(sub, depth=args.depth, n_threads=args.n_threads)
    err = float(np.linalg.norm(Phi @ Phi.T - K) / np.linalg.norm(K))

    rows = [
        (f"{type(rf_model).__name__} ({n_components} features)", score(pred_rf), fit_rf, pred_rf_t,
         f"{err:.3f} (on {len(sub)} rows)"),
        ("ExactNTKRidge", score(pred_ex), fit_ex, pred_ex_t, "0 (exact)"),
    ]
    header = ("model", metric, "fit time (s)", "predict time (s)", "||Phi Phi^T - K||_F / ||K||_F")
    table = [header] + [(r[0], f"{r[1]:.4f}", f"{r[2]:.2f}", f"{r[3]:.3f}", r[4]) for r in rows]
    widths = [max(len(r[j]) for r in table) for j in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("\n".join(lines))
    print(f"speed-up (n_train = {len(X_tr)}, d = {X_tr.shape[1]}): fit: "
          f"{times_faster(fit_ex, fit_rf)}; predict: {times_faster(pred_ex_t, pred_rf_t)}")
    return 0
