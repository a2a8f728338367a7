/* Fused dense layer + activation kernels of ntkfast:
 *
 *     out[r, j] = act(scale[j] * <x[r, :k], w[j, :k]>)      r < n_rows, j < m
 *
 * act is step (order 0: scale[j] if the product is > 0, else 0), ReLU (order 1) or the
 * identity (order 2).  One pass over the output: every 6 x NR tile of it is accumulated in
 * registers over the whole of k, goes through the activation there and is stored once, so
 * the activation costs no memory traffic and no pass of its own.
 *
 * Why not BLAS: a GEMM call followed by an activation pass either repacks the weights for
 * every small block of rows (OpenBLAS packs both operands per call: with k = 64 and 64-row
 * blocks the packing moved as many bytes as the output) or runs the activation on a block
 * that has left the cache.  The weights are packed here once per fit, in panels of NR
 * rows (pack_weights), and a chunk of panels that fits in L2 is reused by every row tile of
 * a block (the classic GEMM blocking, see Goto and van de Geijn, "Anatomy of
 * high-performance matrix multiplication", 2008).  Measured in bench/ (README,
 * "Performance"): faster than numpy's own X @ W.T without any activation at k = 64.
 *
 * Determinism: each output element is one FMA (or multiply-add) chain over k = 0, 1, ...
 * in the same vector lanes, whatever its row's position in a tile or block: a partial tile
 * at the end repeats its last row in the unused slots and stores only the valid rows, and
 * the last panel is padded with zero weights.  So a row's features depend on its values
 * alone, not on the thread count, the batch size or the block it falls in.
 *
 * The code uses GCC/Clang vector extensions (32-byte vectors: AVX on x86-64, two NEON
 * registers on arm64).  With GCC on x86-64 glibc Linux the drivers are compiled twice, for
 * x86-64-v3 (AVX2 + FMA) and for the baseline, and the loader picks one per machine
 * (target_clones); the choice is made once per process, so results are reproducible on a
 * machine.  Other compilers get a plain C version of the same loops.  Compile-time
 * switches (tests/test_dense_kernel.py builds all three): NTKFAST_NO_CLONES (baseline code
 * only), NTKFAST_PLAIN_C (the plain C loops).
 */
#ifndef NTKFAST_DENSE_H
#define NTKFAST_DENSE_H

#include <stddef.h>
#include <string.h>

/* Rows per register tile. */
#define NTKFAST_MR 6
/* Bytes of packed weights reused from L2 by all row tiles of a block (half of a 512 KiB L2,
 * the rest holds the block's rows and the output lines in flight). */
#define NTKFAST_PANEL_CHUNK_BYTES (256 * 1024)

/* NTKFAST_VECTOR, NTKFAST_INLINE, NTKFAST_CLONES: shared with _arccos.h. */
#include "_simd.h"

/* float: 8 lanes, panels of 16 weights rows */
#define NTKFAST_T float
#define NTKFAST_I int
#define NTKFAST_VL 8
#define NTKFAST_NAME(name) ntkfast_##name##_f
#include "_dense_impl.h"
#undef NTKFAST_T
#undef NTKFAST_I
#undef NTKFAST_VL
#undef NTKFAST_NAME

/* double: 4 lanes, panels of 8 rows */
#define NTKFAST_T double
#define NTKFAST_I long long
#define NTKFAST_VL 4
#define NTKFAST_NAME(name) ntkfast_##name##_d
#include "_dense_impl.h"
#undef NTKFAST_T
#undef NTKFAST_I
#undef NTKFAST_VL
#undef NTKFAST_NAME

#endif /* NTKFAST_DENSE_H */
