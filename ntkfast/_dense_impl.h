/* One precision of the kernels in _dense.h, which includes this file twice with
 * NTKFAST_T (float or double), NTKFAST_I (an integer type of the same size),
 * NTKFAST_VL (lanes per 32-byte vector) and NTKFAST_NAME(name) defined.
 * A panel holds NR = 2 * NTKFAST_VL weight rows, interleaved: panel p, step kk holds
 * w[p*NR + j, kk] for j < NR, contiguous, so that one tile step loads two vectors. */

#define NTKFAST_NR (2 * NTKFAST_VL)

/* Elements of the packed form of an (m, k) weight matrix and its m scales. */
static ptrdiff_t NTKFAST_NAME(packed_size)(ptrdiff_t m, ptrdiff_t k)
{
    ptrdiff_t n_panels = (m + NTKFAST_NR - 1) / NTKFAST_NR;
    return n_panels * NTKFAST_NR * (k + 1);
}

/* packed <- w (m, k), row-major, in panels, followed by the scales (all ones if scale is
 * NULL).  Rows past m are zero weights with zero scale. */
static void NTKFAST_NAME(pack_weights)(const NTKFAST_T *w, const NTKFAST_T *scale, ptrdiff_t m,
                                       ptrdiff_t k, NTKFAST_T *packed)
{
    ptrdiff_t n_panels = (m + NTKFAST_NR - 1) / NTKFAST_NR;
    NTKFAST_T *scales = packed + n_panels * NTKFAST_NR * k;
    ptrdiff_t p, j, kk, row;
    for (p = 0; p < n_panels; p++) {
        NTKFAST_T *panel = packed + p * NTKFAST_NR * k;
        for (j = 0; j < NTKFAST_NR; j++) {
            row = p * NTKFAST_NR + j;
            for (kk = 0; kk < k; kk++)
                panel[kk * NTKFAST_NR + j] = row < m ? w[row * k + kk] : (NTKFAST_T)0;
        }
    }
    for (j = 0; j < n_panels * NTKFAST_NR; j++)
        scales[j] = j < m ? (scale != NULL ? scale[j] : (NTKFAST_T)1) : (NTKFAST_T)0;
}

#if NTKFAST_VECTOR

typedef NTKFAST_T NTKFAST_NAME(vec) __attribute__((vector_size(32)));
typedef NTKFAST_I NTKFAST_NAME(mask) __attribute__((vector_size(32)));

/* One MR x NR tile: out[i, j] = act(scale[j] * <x[i], w[j]>) for i < n_rows, j < n_cols.
 * xr[i] points at row i (rows past n_rows repeat a valid row and are not stored). */
NTKFAST_INLINE void NTKFAST_NAME(tile)(const NTKFAST_T *const *xr, ptrdiff_t k,
                                       const NTKFAST_T *panel, const NTKFAST_T *scale,
                                       int order, NTKFAST_T *out, ptrdiff_t ldo,
                                       int n_rows, int n_cols)
{
    typedef NTKFAST_NAME(vec) V;
    typedef NTKFAST_NAME(mask) M;
    V acc[NTKFAST_MR][2], w0, w1, s0, s1, t0, t1;
    const V zero = {0};
    NTKFAST_T buf[NTKFAST_MR][NTKFAST_NR];
    ptrdiff_t kk;
    int i;
    for (i = 0; i < NTKFAST_MR; i++)
        acc[i][0] = acc[i][1] = zero;
#ifndef __clang__
#pragma GCC unroll 4
#endif
    for (kk = 0; kk < k; kk++) {
        memcpy(&w0, panel + kk * NTKFAST_NR, sizeof(V));
        memcpy(&w1, panel + kk * NTKFAST_NR + NTKFAST_VL, sizeof(V));
#ifndef __clang__
#pragma GCC unroll 6
#endif
        for (i = 0; i < NTKFAST_MR; i++) {
            /* scalar * vector broadcasts the scalar (GCC/Clang vector extensions) */
            acc[i][0] += xr[i][kk] * w0;
            acc[i][1] += xr[i][kk] * w1;
        }
    }
    memcpy(&s0, scale, sizeof(V));
    memcpy(&s1, scale + NTKFAST_VL, sizeof(V));
    for (i = 0; i < NTKFAST_MR; i++) {
        if (order == 0) {          /* scale * step(z): the scale where z > 0, else 0 */
            t0 = (V)((M)(acc[i][0] > zero) & (M)s0);
            t1 = (V)((M)(acc[i][1] > zero) & (M)s1);
        } else {
            t0 = acc[i][0] * s0;
            t1 = acc[i][1] * s1;
            if (order == 1) {      /* relu(scale * z), scale > 0: keep where positive */
                t0 = (V)((M)(t0 > zero) & (M)t0);
                t1 = (V)((M)(t1 > zero) & (M)t1);
            }
        }
        if (n_rows == NTKFAST_MR && n_cols == NTKFAST_NR) {
            memcpy(out + i * ldo, &t0, sizeof(V));
            memcpy(out + i * ldo + NTKFAST_VL, &t1, sizeof(V));
        } else {
            memcpy(buf[i], &t0, sizeof(V));
            memcpy(buf[i] + NTKFAST_VL, &t1, sizeof(V));
        }
    }
    if (n_rows != NTKFAST_MR || n_cols != NTKFAST_NR) {
        for (i = 0; i < n_rows; i++)
            memcpy(out + i * ldo, buf[i], n_cols * sizeof(NTKFAST_T));
    }
}

#else  /* plain C: the same loops and the same per-element chains, without vector types */

NTKFAST_INLINE void NTKFAST_NAME(tile)(const NTKFAST_T *const *xr, ptrdiff_t k,
                                       const NTKFAST_T *panel, const NTKFAST_T *scale,
                                       int order, NTKFAST_T *out, ptrdiff_t ldo,
                                       int n_rows, int n_cols)
{
    NTKFAST_T acc[NTKFAST_MR][NTKFAST_NR], v;
    ptrdiff_t kk;
    int i, j;
    for (i = 0; i < NTKFAST_MR; i++)
        for (j = 0; j < NTKFAST_NR; j++)
            acc[i][j] = 0;
    for (kk = 0; kk < k; kk++)
        for (i = 0; i < NTKFAST_MR; i++)
            for (j = 0; j < NTKFAST_NR; j++)
                acc[i][j] += xr[i][kk] * panel[kk * NTKFAST_NR + j];
    for (i = 0; i < n_rows; i++) {
        for (j = 0; j < n_cols; j++) {
            if (order == 0) {
                v = acc[i][j] > 0 ? scale[j] : (NTKFAST_T)0;
            } else {
                v = acc[i][j] * scale[j];
                if (order == 1 && !(v > 0))
                    v = 0;
            }
            out[i * ldo + j] = v;
        }
    }
}

#endif

/* out[r, :m] = act(scale * x[r, :k] @ w.T) for r < n_rows (see _dense.h), with w and scale
 * packed by pack_weights.  x has leading dimension ldx, out ldo (both row-major). */
NTKFAST_CLONES static void NTKFAST_NAME(dense_activation_packed)(
    const NTKFAST_T *x, ptrdiff_t ldx, ptrdiff_t n_rows, ptrdiff_t k,
    const NTKFAST_T *packed, ptrdiff_t m, int order, NTKFAST_T *out, ptrdiff_t ldo)
{
    ptrdiff_t n_panels = (m + NTKFAST_NR - 1) / NTKFAST_NR;
    const NTKFAST_T *scales = packed + n_panels * NTKFAST_NR * k;
    /* Panels per L2 chunk; k = 0 (every product is 0) takes them all at once. */
    ptrdiff_t panel_bytes = (ptrdiff_t)sizeof(NTKFAST_T) * NTKFAST_NR * k;
    ptrdiff_t chunk = k > 0 ? NTKFAST_PANEL_CHUNK_BYTES / panel_bytes : n_panels;
    ptrdiff_t p0, p1, p, r;
    const NTKFAST_T *xr[NTKFAST_MR];
    int i, nr, nc;
    if (chunk < 1)
        chunk = 1;
    for (p0 = 0; p0 < n_panels; p0 += chunk) {
        p1 = p0 + chunk < n_panels ? p0 + chunk : n_panels;
        for (r = 0; r < n_rows; r += NTKFAST_MR) {
            nr = n_rows - r < NTKFAST_MR ? (int)(n_rows - r) : NTKFAST_MR;
            for (i = 0; i < NTKFAST_MR; i++)
                xr[i] = x + (r + (i < nr ? i : nr - 1)) * ldx;
            for (p = p0; p < p1; p++) {
                nc = m - p * NTKFAST_NR < NTKFAST_NR ? (int)(m - p * NTKFAST_NR) : NTKFAST_NR;
                NTKFAST_NAME(tile)(xr, k, packed + p * NTKFAST_NR * k, scales + p * NTKFAST_NR,
                                   order, out + r * ldo + p * NTKFAST_NR, ldo, nr, nc);
            }
        }
    }
}

#undef NTKFAST_NR
