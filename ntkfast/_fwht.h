/* Structured projections: the Walsh-Hadamard transform and the products of stages
 *     v <- H_p (D * v[perm])
 * that NTKRandomFeatures(projection="fastfood" / "sorf") uses in place of a dense Gaussian
 * matrix (O(p log p) per row and block instead of O(p k)).
 *
 * ntkfast_fwht_{f,d}(v, p): v <- H_p v in place, unnormalised, Sylvester order
 * (H_1 = [1], H_2p = [[H_p, H_p], [H_p, -H_p]]), p a power of 2.
 *
 * Every output is the same chain of additions whatever the row or the thread (the code
 * depends on p only), so results are bit-identical for any thread count.  With GCC/Clang
 * vector extensions the levels inside one vector (h < lanes) are a shuffle and a
 * multiply-add per level, and the others radix-4 butterflies over two levels at once (half
 * the passes over v); with GCC on x86-64 glibc the functions are compiled for x86-64-v3 and
 * the baseline (NTKFAST_CLONES, _simd.h).  NTKFAST_PLAIN_C: plain loops only.
 *
 * Exactness: additions and subtractions only (no factor 1/sqrt(p)), in the same pairs and
 * order on both paths: the in-vector levels compute x[l ^ h] + s * x[l] with s = +-1, which
 * rounds exactly like the scalar a + b and a - b, and a radix-4 pass adds the same pairs in
 * the same order as two radix-2 passes.  So the vector and plain builds give the same bits
 * (tests/test_structured.py checks the transform against scipy.linalg.hadamard). */
#ifndef NTKFAST_FWHT_H
#define NTKFAST_FWHT_H

#include <stddef.h>
#include "_simd.h"

#define NTKFAST_FWHT_RADIX4(T)                                                         \
    /* Levels h and 2h at once, h >= lanes; then a last radix-2 level if one is left. */ \
    while (4 * h <= p) {                                                               \
        for (ptrdiff_t i = 0; i < p; i += 4 * h) {                                     \
            T *restrict a = v + i, *restrict b = v + i + h;                            \
            T *restrict c = v + i + 2 * h, *restrict d = v + i + 3 * h;                \
            for (ptrdiff_t j = 0; j < h; j++) {                                        \
                T s0 = a[j] + b[j], s1 = a[j] - b[j];                                  \
                T s2 = c[j] + d[j], s3 = c[j] - d[j];                                  \
                a[j] = s0 + s2;                                                        \
                b[j] = s1 + s3;                                                        \
                c[j] = s0 - s2;                                                        \
                d[j] = s1 - s3;                                                        \
            }                                                                          \
        }                                                                              \
        h *= 4;                                                                        \
    }                                                                                  \
    if (h < p) {                                                                       \
        for (ptrdiff_t i = 0; i < p; i += 2 * h) {                                     \
            T *restrict a = v + i, *restrict b = v + i + h;                            \
            for (ptrdiff_t j = 0; j < h; j++) {                                        \
                T s = a[j], t = b[j];                                                  \
                a[j] = s + t;                                                          \
                b[j] = s - t;                                                          \
            }                                                                          \
        }                                                                              \
    }

#if NTKFAST_VECTOR
typedef float ntkfast_fwht_v8f __attribute__((vector_size(32)));
typedef int ntkfast_fwht_v8i __attribute__((vector_size(32)));
typedef double ntkfast_fwht_v4d __attribute__((vector_size(32)));
typedef long long ntkfast_fwht_v4l __attribute__((vector_size(32)));
#endif

NTKFAST_INLINE void ntkfast_fwht_body_f(float *v, ptrdiff_t p)
{
    ptrdiff_t h = 1;
#if NTKFAST_VECTOR
    if (p >= 8) {
        /* Levels 1, 2, 4 inside each 8-lane vector: lane l pairs with lane l ^ h and keeps
         * x[l ^ h] + x[l] (bit h of l clear) or x[l ^ h] - x[l] (set). */
        const ntkfast_fwht_v8i m1 = {1, 0, 3, 2, 5, 4, 7, 6};
        const ntkfast_fwht_v8i m2 = {2, 3, 0, 1, 6, 7, 4, 5};
        const ntkfast_fwht_v8i m4 = {4, 5, 6, 7, 0, 1, 2, 3};
        const ntkfast_fwht_v8f s1 = {1, -1, 1, -1, 1, -1, 1, -1};
        const ntkfast_fwht_v8f s2 = {1, 1, -1, -1, 1, 1, -1, -1};
        const ntkfast_fwht_v8f s4 = {1, 1, 1, 1, -1, -1, -1, -1};
        for (ptrdiff_t i = 0; i < p; i += 8) {
            ntkfast_fwht_v8f x;
            memcpy(&x, v + i, sizeof x);
            x = __builtin_shuffle(x, m1) + s1 * x;
            x = __builtin_shuffle(x, m2) + s2 * x;
            x = __builtin_shuffle(x, m4) + s4 * x;
            memcpy(v + i, &x, sizeof x);
        }
        h = 8;
    }
#endif
    NTKFAST_FWHT_RADIX4(float)
}

NTKFAST_INLINE void ntkfast_fwht_body_d(double *v, ptrdiff_t p)
{
    ptrdiff_t h = 1;
#if NTKFAST_VECTOR
    if (p >= 4) {
        const ntkfast_fwht_v4l m1 = {1, 0, 3, 2};
        const ntkfast_fwht_v4l m2 = {2, 3, 0, 1};
        const ntkfast_fwht_v4d s1 = {1, -1, 1, -1};
        const ntkfast_fwht_v4d s2 = {1, 1, -1, -1};
        for (ptrdiff_t i = 0; i < p; i += 4) {
            ntkfast_fwht_v4d x;
            memcpy(&x, v + i, sizeof x);
            x = __builtin_shuffle(x, m1) + s1 * x;
            x = __builtin_shuffle(x, m2) + s2 * x;
            memcpy(v + i, &x, sizeof x);
        }
        h = 4;
    }
#endif
    NTKFAST_FWHT_RADIX4(double)
}

NTKFAST_CLONES
static void ntkfast_fwht_f(float *v, ptrdiff_t p) { ntkfast_fwht_body_f(v, p); }

NTKFAST_CLONES
static void ntkfast_fwht_d(double *v, ptrdiff_t p) { ntkfast_fwht_body_d(v, p); }

/* out[:m] = M x (see structured_project_row in _sketch.pyx and _sketch.pxd): per block, x
 * zero-padded to p, then each stage v <- H_p (D * v[perm]) (perm NULL: none); work holds
 * 2 p elements.  The first stage reads x directly (D * x, then zeros). */
#define NTKFAST_STRUCTURED_ROW(T, SFX)                                                   \
NTKFAST_CLONES                                                                           \
static void ntkfast_structured_row_##SFX(const T *x, ptrdiff_t k, const T *diag,         \
                                         const ptrdiff_t *perm, ptrdiff_t n_blocks,      \
                                         ptrdiff_t n_stages, ptrdiff_t p, ptrdiff_t m,   \
                                         T *out, T *work)                                \
{                                                                                        \
    for (ptrdiff_t b = 0; b < n_blocks; b++) {                                           \
        T *v = work, *u = work + p; /* swapped below: not restrict */                    \
        for (ptrdiff_t s = 0; s < n_stages; s++) {                                       \
            const T *restrict dg = diag + (b * n_stages + s) * p;                        \
            const ptrdiff_t *pm = perm ? perm + (b * n_stages + s) * p : NULL;           \
            if (s == 0) {                                                                \
                if (pm) {                                                                \
                    for (ptrdiff_t t = 0; t < p; t++)                                    \
                        v[t] = pm[t] < k ? dg[t] * x[pm[t]] : (T)0;                      \
                } else {                                                                 \
                    for (ptrdiff_t t = 0; t < k; t++)                                    \
                        v[t] = dg[t] * x[t];                                             \
                    for (ptrdiff_t t = k; t < p; t++)                                    \
                        v[t] = 0;                                                        \
                }                                                                        \
            } else if (pm) {                                                             \
                for (ptrdiff_t t = 0; t < p; t++)                                        \
                    u[t] = dg[t] * v[pm[t]];                                             \
                T *w = v;                                                                \
                v = u;                                                                   \
                u = w;                                                                   \
            } else {                                                                     \
                for (ptrdiff_t t = 0; t < p; t++)                                        \
                    v[t] = dg[t] * v[t];                                                 \
            }                                                                            \
            ntkfast_fwht_body_##SFX(v, p);                                               \
        }                                                                                \
        ptrdiff_t rows = m - b * p < p ? m - b * p : p;                                  \
        memcpy(out + b * p, v, (size_t)rows * sizeof(T));                                \
    }                                                                                    \
}

NTKFAST_STRUCTURED_ROW(float, f)
NTKFAST_STRUCTURED_ROW(double, d)

#endif /* NTKFAST_FWHT_H */
