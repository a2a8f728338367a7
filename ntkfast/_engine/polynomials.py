"""Polynomials with non-negative coefficients for the arc-cosine functions (SPEC section 8).

``P1(t) = sum_j c_j t^j ~ kappa1(t)`` and ``P0(t) = sum_j b_j t^j ~ kappa0(t)`` on
``[-1, 1]``, by non-negative least squares (``scipy.optimize.nnls``) on a uniform grid.
Non-negative coefficients make each polynomial a positive-definite dot-product kernel, whose
features PolySketch computes.

The grid point ``t = 1`` carries the weight :data:`ENDPOINT_WEIGHT`: it is the cosine of every
row with itself, so it sets the diagonal of the kernel.  Without it the fit of ``kappa0``
(whose derivative is infinite at ``t = 1``) gives ``P0(1) = 0.957`` at degree 8, a 2% error
on every diagonal entry of the NTK per layer; with it ``P0(1) = 0.9998`` while the largest
error on ``[-1, 1]`` stays where it was (0.040 at degree 8, measured while writing this
module).  It is still a non-negative least squares fit, on a weighted grid.
"""
import functools

import numpy as np
from scipy.optimize import nnls

__all__ = ["GRID_POINTS", "ENDPOINT_WEIGHT", "arccos_polynomials", "kappa0", "kappa1", "ntk_on_unit_rows",
           "ntk_polynomial"]

GRID_POINTS = 2001
ENDPOINT_WEIGHT = 100.0


def kappa0(t):
    """``1 - arccos(t) / pi`` (SPEC section 1), ``t`` clipped to [-1, 1]."""
    t = np.clip(t, -1.0, 1.0)
    return 1.0 - np.arccos(t) / np.pi


def kappa1(t):
    """``(sqrt(1 - t^2) + t (pi - arccos(t))) / pi`` (SPEC section 1), ``t`` clipped."""
    t = np.clip(t, -1.0, 1.0)
    return (np.sqrt(1.0 - t * t) + t * (np.pi - np.arccos(t))) / np.pi


@functools.lru_cache(maxsize=64)
def _fit(degree):
    t = np.linspace(-1.0, 1.0, GRID_POINTS)
    w = np.ones_like(t)
    w[-1] = ENDPOINT_WEIGHT
    V = np.vander(t, degree + 1, increasing=True) * w[:, None]
    c, _ = nnls(V, kappa1(t) * w, maxiter=100 * (degree + 1))
    b, _ = nnls(V, kappa0(t) * w, maxiter=100 * (degree + 1))
    for a in (c, b):
        a.setflags(write=False)
    return c, b


def arccos_polynomials(degree):
    """Coefficients ``(c, b)`` of ``P1 ~ kappa1`` and ``P0 ~ kappa0``, each of shape
    ``(degree + 1,)``, float64, non-negative, lowest degree first (cached, read-only)."""
    return _fit(int(degree))


def ntk_on_unit_rows(t, depth):
    """``Theta_L`` of two unit rows with cosine ``t`` (SPEC section 2 without bias): a
    function of ``t`` alone, which is what makes the NTK on the sphere a dot-product kernel."""
    t = np.clip(np.asarray(t, dtype=np.float64), -1.0, 1.0)
    sigma, theta = t, t
    for _ in range(depth):
        sigma, dot = kappa1(sigma), kappa0(sigma)
        theta = theta * dot + sigma
    return theta


@functools.lru_cache(maxsize=64)
def _fit_ntk(depth, degree):
    t = np.linspace(-1.0, 1.0, GRID_POINTS)
    w = np.ones_like(t)
    w[-1] = ENDPOINT_WEIGHT
    V = np.vander(t, degree + 1, increasing=True) * w[:, None]
    a, _ = nnls(V, ntk_on_unit_rows(t, depth) * w, maxiter=100 * (degree + 1))
    a.setflags(write=False)
    return a


def ntk_polynomial(depth, degree):
    """Coefficients, shape ``(degree + 1,)``, non-negative, lowest degree first, of one
    polynomial fitted to the whole depth-``depth`` NTK on unit rows (:func:`ntk_on_unit_rows`;
    the authors' ``ntk_sketch.py`` does this, with a quadratic program): the polynomial of
    ``NTKSketch(method="direct")``.  Same grid and weights as :func:`arccos_polynomials`."""
    return _fit_ntk(int(depth), int(degree))
