/* Compiler switches shared by ntkfast's vector kernels (_dense.h, _arccos.h): whether GCC/Clang
 * vector extensions are used (NTKFAST_VECTOR), how the inner helpers are inlined
 * (NTKFAST_INLINE), and whether the drivers are compiled twice, for x86-64-v3 and the baseline
 * (NTKFAST_CLONES).  Compile-time switches: NTKFAST_PLAIN_C, NTKFAST_NO_CLONES. */
#ifndef NTKFAST_SIMD_H
#define NTKFAST_SIMD_H

#include <string.h>

/* NTKFAST_PLAIN_C: the plain C loops even where vector extensions exist (for tests). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(NTKFAST_PLAIN_C)
#define NTKFAST_VECTOR 1
#define NTKFAST_INLINE static inline __attribute__((always_inline))
#else
#define NTKFAST_VECTOR 0
#define NTKFAST_INLINE static inline
#endif

/* Multiversioning (target_clones) works through an ifunc: an IRELATIVE relocation that the
 * dynamic loader resolves by calling a resolver, which only glibc's loader does.  So the
 * guard is glibc itself (__GLIBC__, defined by glibc's <features.h>, which <string.h> below
 * includes), not __linux__:
 * - musl (musllinux wheels, Alpine): GCC configured for a musl target has no ifunc support
 *   and rejects target_clones at compile time ("the call requires 'ifunc', which is not
 *   supported by this target"; not reproducible on our glibc machines).  A glibc-configured
 *   GCC with musl headers (Debian's musl-gcc) compiles it, but musl's loader then refuses
 *   the program ("unsupported relocation type 37", R_X86_64_IRELATIVE; seen here).  musl's
 *   headers define no __GLIBC__ (musl-gcc -dM: __linux__ but no __GLIBC__), so musl builds
 *   get the baseline code, as with NTKFAST_NO_CLONES.
 * - macOS: Mach-O has no ifunc; Apple clang is excluded by !__clang__ and a Homebrew GCC
 *   on Darwin defines no __GLIBC__, so no clones there either.
 * - Windows, other compilers: no clones.
 * tests/test_packaging.py checks what NTKFAST_CLONES expands to with gcc and (where
 * installed) musl-gcc, and runs the kernels built against musl. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) \
    && defined(__GLIBC__) && !defined(NTKFAST_NO_CLONES)
#define NTKFAST_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define NTKFAST_CLONES
#endif

#endif /* NTKFAST_SIMD_H */
