"""Exact arc-cosine, NNGP and NTK kernels (SPEC sections 1-2).

The cost is one Gram matrix plus an elementwise recursion in a compiled, OpenMP-parallel
loop (``ntkfast/_engine/exact.py``): quadratic in the number of samples.  These are the
references the random features approximate, and the baseline they must beat.

A kernel value that overflows its dtype (rows of norm near the square root of the largest
float) raises ``ValueError``: the kernels are homogeneous (``K(cX) = c^2 K(X)`` without
bias), so scale the rows down and the result up in a wider type if you need such values.
"""
from ._engine.exact import exact_kernel
from ._engine.validation import check_depth, check_nonnegative_float, check_order

__all__ = ["arccos_kernel", "nngp_kernel", "ntk_kernel"]


def arccos_kernel(X, Y=None, order=0, n_threads=None):
    """Arc-cosine kernel of order 0 or 1 (Cho and Saul), as the ReLU features estimate it.

    ``order=0``: ``kappa0(rho)``; ``order=1``: ``||x|| ||y|| kappa1(rho)``, with
    ``rho = <x, y> / (||x|| ||y||)`` and kappa0, kappa1 as in SPEC section 1.  A pair with a
    zero row gives 0 for both orders, as the step and ReLU features do (step(0) = 0).

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
        Rows of the first argument.
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X`` (then the result is exactly symmetric with an exact diagonal).
    order : {0, 1}
        0: ``kappa0(rho)``; 1: ``||x|| ||y|| kappa1(rho)``.
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Returns
    -------
    K : ndarray of shape (n_x, n_y)
        float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
    >>> ntkfast.arccos_kernel(X, order=1).round(4)
    array([[1.    , 0.6366],
           [0.6366, 4.    ]])
    """
    order = check_order(order)
    return exact_kernel(X, Y, "arccos0" if order == 0 else "arccos1", n_threads=n_threads)


def nngp_kernel(X, Y=None, depth=1, bias=0.0, n_threads=None):
    """NNGP kernel ``Sigma_L`` of a fully-connected ReLU network with ``depth`` hidden layers.

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
        Rows of the first argument.
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X``.
    depth : int in [1, 1000]
        Number of hidden ReLU layers ``L`` (at most ``ntkfast.MAX_DEPTH``).
    bias : float >= 0
        Bias *variance* ``b^2``, added to every ``Sigma_h`` (SPEC section 2).
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Returns
    -------
    K : ndarray of shape (n_x, n_y)
        float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[3.0, 4.0]])
    >>> ntkfast.nngp_kernel(X, depth=3)      # Sigma_L(x, x) = ||x||^2 without bias
    array([[25.]])
    """
    depth, bias = check_depth(depth), check_nonnegative_float(bias, "bias")
    return exact_kernel(X, Y, "nngp", depth, bias, n_threads)


def ntk_kernel(X, Y=None, depth=1, bias=0.0, n_threads=None):
    """Neural Tangent Kernel ``Theta_L`` of a ReLU network with ``depth`` hidden layers.

    With this scaling (SPEC section 2) ``Theta_L(x, x) = (L + 1) ||x||^2`` without bias, and
    the neural-tangents kernel of ``stax.serial((Dense(W_std=sqrt(2)), Relu()) * L,
    Dense(W_std=1))`` equals this one divided by ``d``.

    Parameters
    ----------
    X : array-like of shape (n_x, d), float32 or float64
        Rows of the first argument.
    Y : array-like of shape (n_y, d), optional
        Defaults to ``X``.
    depth : int in [1, 1000]
        Hidden layers (at most ``ntkfast.MAX_DEPTH``).
    bias : float >= 0
        Bias variance ``b^2``.
    n_threads : int, optional
        OpenMP threads; default: the current OpenMP limit.

    Returns
    -------
    K : ndarray of shape (n_x, n_y)
        float32 if every input is float32, else float64.

    Examples
    --------
    >>> import numpy as np, ntkfast
    >>> X = np.array([[3.0, 4.0], [0.0, 1.0]])
    >>> ntkfast.ntk_kernel(X, depth=2).round(3)
    array([[75.   , 10.171],
           [10.171,  3.   ]])
    """
    depth, bias = check_depth(depth), check_nonnegative_float(bias, "bias")
    return exact_kernel(X, Y, "ntk", depth, bias, n_threads)
