/* Vectorised arc-cosine functions and exact NTK / NNGP recursion of ntkfast (SPEC sections
 * 1-2), for the driver and the C-level API of ntkfast/_exact.pyx.
 *
 *     ntkfast_exact_row_d / _f(g, n, nx, ny, kind, depth, bias, g2)
 *
 * turn n cosines g[j] (double or float) into kernel values in place, for one row of norm nx
 * and n columns of norms ny[j]: kappa0, ||x|| ||y|| kappa1, the NNGP Sigma_L or the NTK
 * Theta_L (kind 0 to 3, the NTKFAST_KIND_* values of _exact.pxd); with kind 3 and g2 not NULL,
 * g2[j] also receives the NNGP.  They return 1 if a value stored in g is not finite (inf or
 * NaN after rounding to g's type; the caller turns that into an error), else 0.
 *
 * Why not libm: the kernel's cost is n^2 evaluations of arccos (one per pair and layer), and
 * libm's scalar acos/asin/sqrt, one element at a time, took 1.9 of the 2.3 s of a 10,000 x
 * 10,000 NTK (37 ns per pair and layer on one core).  Here NTKFAST_AC_L elements go through
 * each instruction together, in NTKFAST_AC_G independent groups (about 5 ns per pair and
 * layer on one core, with Estrin's scheme for the polynomial below).
 *
 * arccos: with a = |rho| and v = 1 - |rho| (taken from the carried u = 1 - rho when rho >= 0,
 * so that pairs near rho = 1 keep their accuracy; 1 + rho is exact for rho in [-1, -1/2] by
 * Sterbenz's lemma),
 *     a <= 1/2:  arccos a = pi/2 - asin a
 *     a >  1/2:  arccos a = 2 asin sqrt(v / 2)            (half-angle identity, v/2 <= 1/4)
 *     arccos(rho) = arccos a if rho >= 0, else pi - arccos a
 * so asin is only needed on [0, 1/2], where asin x = x + x z P(z), z = x^2 in [0, 1/4], P a
 * polynomial of degree 12 evaluated by Estrin's scheme (the classic reduction of Cephes' asin
 * and of SLEEF).  P is the interpolant of (asin sqrt z - sqrt z) / z^1.5 at the 13 Chebyshev
 * nodes of [0, 1/4], computed in exact rational arithmetic from the Taylor series of asin and
 * rounded to double.
 *
 * Error bound.  With those double coefficients, |x z (P - P_exact)| / asin x <= 5.2e-18 =
 * 0.024 ulp on a grid of 200,001 points of [0, 1/4] (longdouble); the Chebyshev error of
 * degree 12 decays like 13.9^-13 (asin is analytic inside the Bernstein ellipse through
 * z = 1), so nothing between grid points is larger.  Rounding: evaluating P (terms decreasing
 * like 4^-k) costs a few ulps of x z P, which is at most 4.7% of asin x, so the rounding of
 * the final sum dominates: asin is within 0.5 + 0.024 + 0.047 * 4 < 0.8 ulp; the sqrt adds
 * 0.55 ulp (correctly rounded, and |d asin / dx| x / asin x <= 1.1 on [0, 1/2]); pi/2 and pi
 * are added as two doubles (hi + lo); so arccos(rho) is within about 2 ulps of the exact
 * arccos of its inputs (rho, v) in every branch.  For the kernels, given an exact cosine t:
 *     |kappa0 - exact| <= 2 ulp (relative, on all of [-1, 1]),
 *     |kappa1 - exact| <= 2 ulp (relative) for t >= 0 and <= 2^-52 (absolute) for t < 0
 * (measured maxima 1.61 ulp, 1.56 ulp and 0.64 * 2^-52 on the 3 million points of
 * tests/test_arccos_approx.py, which asserts these bounds against longdouble numpy, for this
 * build and for the baseline and plain C forms; libm's acos gave the same absolute accuracy,
 * and a relative one only for kappa0 >= 1/2).
 *
 * kappa0 = 1 - arccos(rho)/pi for rho >= 0 (>= 1/2, exact 1 at rho = 1) and
 * arccos|rho| / pi for rho < 0 (relative accuracy down to rho = -1, exact 0 there);
 * 1 - kappa1 = u + (rho arccos(rho) - sqrt(1 - rho^2)) / pi (the carried u of the next
 * layer), kappa1 = 1 - (1 - kappa1) for rho >= 0 and (sqrt(1 - rho^2) + rho (pi -
 * arccos rho)) / pi for rho < 0 (exact 0 at rho = -1).  The recursion itself (division by
 * c_h, the update of u with bias, the closing products with the norms) is that of ntk_pair
 * in _exact.pyx before this file existed, operation for operation; per-lane libm calls remain
 * only for hypot (bias only) and the rare products of norms outside the normal range.
 *
 * Determinism: every element is computed by the same vector operations in one lane,
 * whatever its position: a row is processed in blocks of NTKFAST_AC_G groups of NTKFAST_AC_L
 * columns through one call site (the G groups run the same expressions side by side), and a
 * partial group at the end repeats its last element in the unused lanes and stores only the
 * valid ones (tests/test_arccos_approx.py checks that a value does not depend on its
 * position).  So a value depends on its inputs alone, not on the
 * thread count or on how the caller splits rows and columns.  The drivers are cloned for
 * x86-64-v3 and the baseline (NTKFAST_CLONES, see _simd.h): the loader picks one per machine,
 * so results are reproducible on a machine; the two clones may differ in the last bits
 * (FMA contraction).
 */
#ifndef NTKFAST_ARCCOS_H
#define NTKFAST_ARCCOS_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "_simd.h"

/* The helpers below pass 64-byte vectors by value; they are always inlined, so the ABI note
 * GCC prints about such arguments concerns no actual call. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* The kind codes (the same values as the enum of _exact.pxd). */
#define NTKFAST_AC_ARCCOS0 0
#define NTKFAST_AC_ARCCOS1 1
#define NTKFAST_AC_NNGP 2
#define NTKFAST_AC_NTK 3

/* Groups of lanes processed together (see ntkfast_ac_values). */
#define NTKFAST_AC_G 2

#define NTKFAST_AC_PI_HI 3.141592653589793116         /* pi rounded to double */
#define NTKFAST_AC_PI_LO 1.2246467991473532e-16       /* pi - PI_HI */
#define NTKFAST_AC_PIO2_HI 1.5707963267948965580      /* pi/2 rounded to double */
#define NTKFAST_AC_PIO2_LO 6.123233995736766e-17      /* pi/2 - PIO2_HI */
#define NTKFAST_AC_INV_PI 0.31830988618379067154      /* 1/pi rounded to double */

#if NTKFAST_VECTOR
/* 4 lanes: one 32-byte vector (AVX2 in the x86-64-v3 clone, two SSE2 registers in the
 * baseline).  64-byte vectors came out as scalar code for the masks; the independent
 * chains that wider vectors would give come from NTKFAST_AC_G groups instead. */
#define NTKFAST_AC_L 4
typedef double ntkfast_acv __attribute__((vector_size(8 * NTKFAST_AC_L)));
typedef long long ntkfast_acm __attribute__((vector_size(8 * NTKFAST_AC_L)));
#define NTKFAST_AC_LANE(v, l) ((v)[l])
/* m ? a : b, lane by lane (m: all ones or all zeros per lane). */
#define NTKFAST_AC_SEL(m, a, b) \
    ((ntkfast_acv)(((m) & (ntkfast_acm)(a)) | (~(m) & (ntkfast_acm)(b))))
#else
#define NTKFAST_AC_L 1
typedef double ntkfast_acv;
typedef int ntkfast_acm;
#define NTKFAST_AC_LANE(v, l) (v)
#define NTKFAST_AC_SEL(m, a, b) ((m) ? (a) : (b))
#endif

/* A vector with every lane equal to c. */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_splat(double c)
{
    ntkfast_acv r;
    int l;
#if NTKFAST_VECTOR
    for (l = 0; l < NTKFAST_AC_L; l++)
        r[l] = c;
#else
    (void)l;
    r = c;
#endif
    return r;
}

/* sqrt lane by lane: GCC turns the loop into vsqrtpd/sqrtpd (-fno-math-errno, set by
 * setup.py: no errno branch for negative inputs, which do not occur here). */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_sqrt(ntkfast_acv x)
{
#if NTKFAST_VECTOR
    ntkfast_acv r;
    int l;
    for (l = 0; l < NTKFAST_AC_L; l++)
        r[l] = __builtin_sqrt(x[l]);
    return r;
#else
    return sqrt(x);
#endif
}

NTKFAST_INLINE ntkfast_acv ntkfast_ac_min(ntkfast_acv a, ntkfast_acv b)
{
    return NTKFAST_AC_SEL(a < b, a, b);
}

NTKFAST_INLINE ntkfast_acv ntkfast_ac_max(ntkfast_acv a, ntkfast_acv b)
{
    return NTKFAST_AC_SEL(a > b, a, b);
}

/* t clipped to [-1, 1] (rounding pushes cosines just past +-1); a NaN stays NaN, as with the
 * scalar code this replaced (a C caller's NaN cosine must not become a cosine of 1). */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_clip1(ntkfast_acv t)
{
    t = NTKFAST_AC_SEL(t > 1.0, ntkfast_ac_splat(1.0), t);
    return NTKFAST_AC_SEL(t < -1.0, ntkfast_ac_splat(-1.0), t);
}

/* asin(x) = x + x z P(z) for x in [0, 1/2], z = x^2 (see the top of the file for the bound). */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_asin_small(ntkfast_acv x, ntkfast_acv z)
{
    /* Estrin's scheme (pairs, then z^2, z^4, z^8): the same polynomial as Horner's rule in
     * a quarter of the dependent steps, which the recursion's chain of layers is bound by. */
    ntkfast_acv z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
    ntkfast_acv p01 = 0.16666666666666669 + 0.07499999999998433 * z;
    ntkfast_acv p23 = 0.04464285714635543 + 0.030381944138531247 * z;
    ntkfast_acv p45 = 0.02237217294214989 + 0.017352392720869973 * z;
    ntkfast_acv p67 = 0.013971212973552933 + 0.011479177415184906 * z;
    ntkfast_acv p89 = 0.01032281435018578 + 0.005457506718640357 * z;
    ntkfast_acv pab = 0.017400879442694025 + -0.014851887071247209 * z;
    ntkfast_acv p03 = p01 + p23 * z2;
    ntkfast_acv p47 = p45 + p67 * z2;
    ntkfast_acv p8b = p89 + pab * z2;
    ntkfast_acv p8c = p8b + 0.02875785136742157 * z4;
    ntkfast_acv p = (p03 + p47 * z4) + p8c * z8;
    return x + (x * z) * p;
}

/* kappa0(rho), kappa1(rho) and 1 - kappa1(rho) from rho in [-1, 1] and u = 1 - rho. */
NTKFAST_INLINE void ntkfast_ac_layer(ntkfast_acv rho, ntkfast_acv u, ntkfast_acv *k0,
                                     ntkfast_acv *k1, ntkfast_acv *omk1)
{
    ntkfast_acm pos = rho >= 0.0;
    ntkfast_acv a = NTKFAST_AC_SEL(pos, rho, -rho);
    ntkfast_acv v = NTKFAST_AC_SEL(pos, u, 1.0 + rho);          /* 1 - |rho| */
    ntkfast_acm big = a > 0.5;
    ntkfast_acv z = NTKFAST_AC_SEL(big, 0.5 * v, a * a);
    ntkfast_acv x = NTKFAST_AC_SEL(big, ntkfast_ac_sqrt(z), a);
    ntkfast_acv s = ntkfast_ac_asin_small(x, z);
    /* arccos|rho| in [0, pi/2], then arccos(rho) and pi - arccos(rho) */
    ntkfast_acv acos_a = NTKFAST_AC_SEL(big, 2.0 * s, (NTKFAST_AC_PIO2_HI - s) + NTKFAST_AC_PIO2_LO);
    ntkfast_acv flip = (NTKFAST_AC_PI_HI - acos_a) + NTKFAST_AC_PI_LO;
    ntkfast_acv angle = NTKFAST_AC_SEL(pos, acos_a, flip);
    ntkfast_acv sine = ntkfast_ac_sqrt(u * (1.0 + rho));       /* sqrt(1 - rho^2) */
    ntkfast_acv o = u + (rho * angle - sine) * NTKFAST_AC_INV_PI;
    *k0 = NTKFAST_AC_SEL(pos, 1.0 - angle * NTKFAST_AC_INV_PI, acos_a * NTKFAST_AC_INV_PI);
    *k1 = NTKFAST_AC_SEL(pos, 1.0 - o, (sine + rho * acos_a) * NTKFAST_AC_INV_PI);
    *omk1 = o;
}

/* v * a * b for norms a, b >= 0 and |v| of order 1, without a spurious over- or underflow
 * (_times_norms of _exact.pyx, one lane). */
static double ntkfast_ac_times_norms1(double v, double a, double b)
{
    double p = a * b, t;
    if (DBL_MIN <= p && p <= DBL_MAX)
        return v * p;
    if (a < b) {
        t = a;
        a = b;
        b = t;
    }
    if (p > DBL_MAX)
        return (v * b) * a;     /* overflowing product: the smaller norm first */
    return (v * a) * b;         /* underflowing product: the larger norm first */
}

/* Nonzero if any lane of m is set. */
NTKFAST_INLINE long long ntkfast_ac_any(ntkfast_acm m)
{
#if NTKFAST_VECTOR
    long long r = 0;
    int l;
    for (l = 0; l < NTKFAST_AC_L; l++)
        r |= m[l];
    return r;
#else
    return m;
#endif
}

/* v * a * b lane by lane: one product of the norms where it is a normal number (always, for
 * ordinary data), the careful order of ntkfast_ac_times_norms1 in the other lanes. */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_times_norms(ntkfast_acv v, double a, ntkfast_acv b)
{
    ntkfast_acv p = a * b;
    ntkfast_acv r = v * p;
    int l;
    if (ntkfast_ac_any((p < DBL_MIN) | (p > DBL_MAX)))
        for (l = 0; l < NTKFAST_AC_L; l++) {
            double pl = NTKFAST_AC_LANE(p, l);
            if (!(DBL_MIN <= pl && pl <= DBL_MAX))
                NTKFAST_AC_LANE(r, l) = ntkfast_ac_times_norms1(NTKFAST_AC_LANE(v, l), a,
                                                               NTKFAST_AC_LANE(b, l));
        }
    return r;
}

/* hypot(a, b) lane by lane (bias only). */
NTKFAST_INLINE ntkfast_acv ntkfast_ac_hypot(ntkfast_acv a, double b)
{
    ntkfast_acv r = a;
    int l;
    for (l = 0; l < NTKFAST_AC_L; l++)
        NTKFAST_AC_LANE(r, l) = hypot(NTKFAST_AC_LANE(a, l), b);
    return r;
}

/* The kernel values of one group of lanes for the arc-cosine kinds and for NNGP / NTK with
 * bias: out = the kind's value, out2 = the NNGP (kind NTK only).  c: cosines, nx: the row's
 * norm, ny: the columns' norms. */
NTKFAST_INLINE void ntkfast_ac_values1(ntkfast_acv c, double nx, ntkfast_acv ny, int kind,
                                      int depth, double bias, ntkfast_acv *out,
                                      ntkfast_acv *out2)
{
    const ntkfast_acv zero = ntkfast_ac_splat(0.0);
    ntkfast_acm zero_norm = (ny == 0.0) | (ntkfast_ac_splat(nx) == 0.0);
    ntkfast_acv rho, u, theta, k0, k1, omk1, sy, ratio, b, d, a, sy_new, ntk, nngp;
    double sb, sx, sx_new;
    int h;
    c = ntkfast_ac_clip1(c);
    if (kind == NTKFAST_AC_ARCCOS0 || kind == NTKFAST_AC_ARCCOS1) {
        ntkfast_ac_layer(c, 1.0 - c, &k0, &k1, &omk1);
        if (kind == NTKFAST_AC_ARCCOS0)
            *out = NTKFAST_AC_SEL(zero_norm, zero, k0);   /* step(0) = 0: a zero row gives 0 */
        else
            *out = NTKFAST_AC_SEL(zero_norm, zero, ntkfast_ac_times_norms(k1, nx, ny));
        *out2 = zero;
        return;
    }
    /* With bias.  The recursion runs on Sigma_h / c_h, c_h = sqrt(Sigma_h(x,x) Sigma_h(y,y)),
     * and carries u = 1 - rho (see ntk_pair in _exact.pyx for the identities). */
    {
        sb = sqrt(bias);
        sx = hypot(nx, sb);                         /* sqrt(||x||^2 + b^2) */
        sy = ntkfast_ac_hypot(ny, sb);
        a = (nx / sx) * (ny / sy);
        b = (sb / sx) * (sb / sy);
        d = nx - ny;
        rho = ntkfast_ac_clip1(a * c + b);
        d = sb * (d / sx) / sy;                     /* b (||x|| - ||y||) / (s_x s_y) */
        u = d * d / (1.0 + a + b) + a * (1.0 - c);
        u = ntkfast_ac_min(ntkfast_ac_splat(2.0), ntkfast_ac_max(zero, u));
        theta = rho;
        for (h = 0; h < depth; h++) {
            ntkfast_ac_layer(rho, u, &k0, &k1, &omk1);
            sx_new = hypot(sx, sb);                 /* Sigma_h(x,x) = Sigma_{h-1}(x,x) + b^2 */
            sy_new = ntkfast_ac_hypot(sy, sb);
            ratio = (sx / sx_new) * (sy / sy_new);
            b = (sb / sx_new) * (sb / sy_new);
            d = sb * ((sx - sy) / sx_new) / sy_new;
            rho = ntkfast_ac_clip1(ratio * k1 + b);
            u = d * d / (1.0 + ratio + b) + ratio * omk1;
            u = ntkfast_ac_min(ntkfast_ac_splat(2.0), ntkfast_ac_max(zero, u));
            theta = theta * k0 * ratio + rho;
            sx = sx_new;
            sy = sy_new;
        }
        ntk = ntkfast_ac_times_norms(theta, sx, sy);
        nngp = ntkfast_ac_times_norms(rho, sx, sy);
    }
    *out = kind == NTKFAST_AC_NTK ? ntk : nngp;
    *out2 = nngp;
}

/* NTKFAST_AC_G groups of lanes at once: out[q] = the kind's value, out2[q] = the NNGP (kind
 * NTK only).  Without bias the G recursions advance layer by layer side by side: each layer
 * is a chain of about 80 dependent cycles (sqrt, polynomial, products), and two independent
 * chains keep the core busy (17-30% faster than one group at a time in A/B runs of the row
 * function on this project's Zen 3 VM). */
NTKFAST_INLINE void ntkfast_ac_values(const ntkfast_acv *c, double nx, const ntkfast_acv *ny,
                                      int kind, int depth, double bias, ntkfast_acv *out,
                                      ntkfast_acv *out2)
{
    const ntkfast_acv zero = ntkfast_ac_splat(0.0);
    ntkfast_acv rho[NTKFAST_AC_G], u[NTKFAST_AC_G], theta[NTKFAST_AC_G], k0[NTKFAST_AC_G],
        k1[NTKFAST_AC_G], omk1[NTKFAST_AC_G], ntk, nngp;
    ntkfast_acm zero_norm;
    int h, q;
    if (bias != 0.0 || kind == NTKFAST_AC_ARCCOS0 || kind == NTKFAST_AC_ARCCOS1) {
        for (q = 0; q < NTKFAST_AC_G; q++)
            ntkfast_ac_values1(c[q], nx, ny[q], kind, depth, bias, &out[q], &out2[q]);
        return;
    }
    /* Without bias c_h = ||x|| ||y|| at every layer: Sigma_h / c = kappa1(rho_{h-1}). */
    for (q = 0; q < NTKFAST_AC_G; q++) {
        rho[q] = ntkfast_ac_clip1(c[q]);
        u[q] = 1.0 - rho[q];
        theta[q] = rho[q];
    }
    for (h = 0; h < depth; h++) {
        for (q = 0; q < NTKFAST_AC_G; q++)
            ntkfast_ac_layer(rho[q], u[q], &k0[q], &k1[q], &omk1[q]);
        for (q = 0; q < NTKFAST_AC_G; q++) {
            rho[q] = k1[q];              /* not clipped (nor was it before): 1 + 1 ulp is harmless */
            u[q] = ntkfast_ac_min(ntkfast_ac_splat(2.0), ntkfast_ac_max(zero, omk1[q]));
            theta[q] = theta[q] * k0[q] + rho[q];
        }
    }
    for (q = 0; q < NTKFAST_AC_G; q++) {
        /* A zero norm (no bias): every term carries its factor (SPEC: rho = 0 there). */
        zero_norm = (ny[q] == 0.0) | (ntkfast_ac_splat(nx) == 0.0);
        ntk = NTKFAST_AC_SEL(zero_norm, zero, ntkfast_ac_times_norms(theta[q], nx, ny[q]));
        nngp = NTKFAST_AC_SEL(zero_norm, zero, ntkfast_ac_times_norms(rho[q], nx, ny[q]));
        out[q] = kind == NTKFAST_AC_NTK ? ntk : nngp;
        out2[q] = nngp;
    }
}

/* One row for both output precisions (the values are computed in double either way).  Full
 * groups are loaded and stored as vectors, a partial group lane by lane; both feed the one
 * call of ntkfast_ac_values. */
#if NTKFAST_VECTOR
#define NTKFAST_AC_TV(T) T __attribute__((vector_size(sizeof(T) * NTKFAST_AC_L)))
#define NTKFAST_AC_TM(T) NTKFAST_AC_TMASK_##T __attribute__((vector_size(sizeof(T) * NTKFAST_AC_L)))
typedef long long NTKFAST_AC_TMASK_double;
typedef int NTKFAST_AC_TMASK_float;
#define NTKFAST_AC_FULL_LOAD(T, c, src)                                                      \
    do {                                                                                     \
        typedef NTKFAST_AC_TV(T) tv_;                                                        \
        tv_ t_;                                                                              \
        memcpy(&t_, (src), sizeof(t_));                                                      \
        (c) = __builtin_convertvector(t_, ntkfast_acv);                                      \
    } while (0)
#define NTKFAST_AC_FULL_STORE(T, dst, v, bad)                                                \
    do {                                                                                     \
        typedef NTKFAST_AC_TV(T) tv_;                                                        \
        typedef NTKFAST_AC_TM(T) tm_;                                                        \
        tv_ t_ = __builtin_convertvector((v), tv_);                                          \
        tm_ m_ = (t_ - t_) != (T)0;                                                          \
        int l_;                                                                              \
        memcpy((dst), &t_, sizeof(t_));                                                      \
        for (l_ = 0; l_ < NTKFAST_AC_L; l_++)                                                \
            (bad) |= m_[l_] != 0;                                                            \
    } while (0)
#else
#define NTKFAST_AC_FULL_LOAD(T, c, src) ((c) = (double)*(src))
#define NTKFAST_AC_FULL_STORE(T, dst, v, bad)                                                \
    do {                                                                                     \
        T t_ = (T)(v);                                                                       \
        *(dst) = t_;                                                                         \
        (bad) |= !(t_ - t_ == 0);                                                            \
    } while (0)
#endif

#define NTKFAST_AC_ROW(NAME, T)                                                              \
NTKFAST_CLONES int NAME(T *g, ptrdiff_t n, double nx, const double *ny, int kind, int depth, \
                        double bias, double *g2)                                             \
{                                                                                            \
    ntkfast_acv c[NTKFAST_AC_G], cy[NTKFAST_AC_G], out[NTKFAST_AC_G], out2[NTKFAST_AC_G];    \
    T res;                                                                                   \
    ptrdiff_t j, k, m, l;                                                                    \
    int bad = 0, q;                                                                          \
    for (j = 0; j < n; j += NTKFAST_AC_G * NTKFAST_AC_L) {                                   \
        for (q = 0; q < NTKFAST_AC_G; q++) {                                                 \
            k = j + q * NTKFAST_AC_L;                                                         \
            m = n - k < NTKFAST_AC_L ? n - k : NTKFAST_AC_L;                                 \
            if (m <= 0) {                                                                    \
                /* past the end: a copy of the first group, not stored */                    \
                c[q] = c[0];                                                                 \
                cy[q] = cy[0];                                                               \
            } else if (m == NTKFAST_AC_L) {                                                  \
                NTKFAST_AC_FULL_LOAD(T, c[q], g + k);                                        \
                memcpy(&cy[q], ny + k, sizeof(cy[q]));                                       \
            } else {                                                                         \
                /* a partial group repeats its last element in the unused lanes */           \
                for (l = 0; l < NTKFAST_AC_L; l++) {                                         \
                    NTKFAST_AC_LANE(c[q], l) = (double)g[k + (l < m ? l : m - 1)];           \
                    NTKFAST_AC_LANE(cy[q], l) = ny[k + (l < m ? l : m - 1)];                 \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        ntkfast_ac_values(c, nx, cy, kind, depth, bias, out, out2);                          \
        for (q = 0; q < NTKFAST_AC_G; q++) {                                                 \
            k = j + q * NTKFAST_AC_L;                                                         \
            m = n - k < NTKFAST_AC_L ? n - k : NTKFAST_AC_L;                                 \
            if (m == NTKFAST_AC_L) {                                                         \
                NTKFAST_AC_FULL_STORE(T, g + k, out[q], bad);                                \
            } else {                                                                         \
                for (l = 0; l < m; l++) {                                                    \
                    res = (T)NTKFAST_AC_LANE(out[q], l);                                     \
                    g[k + l] = res;                                                          \
                    bad |= !(res - res == 0);                                                \
                }                                                                            \
            }                                                                                \
            if (g2 != NULL)                                                                  \
                for (l = 0; l < m; l++)                                                      \
                    g2[k + l] = NTKFAST_AC_LANE(out2[q], l);                                 \
        }                                                                                    \
    }                                                                                        \
    return bad;                                                                              \
}

NTKFAST_AC_ROW(ntkfast_exact_row_d, double)
NTKFAST_AC_ROW(ntkfast_exact_row_f, float)

#undef NTKFAST_AC_ROW

#endif /* NTKFAST_ARCCOS_H */
