/* tq_gemm_avx512.h — what the two AVX-512 VNNI ternary matmuls share (tq_avx512.c over T16 tiles, tq1_avx512.c
 * over TQ1 tiles): the four-byte activation broadcast, the epilogue (tq_epilogue_avx512.h), and the GEMM pass over two row blocks × up to
 * MB_MAX activation rows, written once; each file supplies its tile geometry and the multiply of one tile
 * (tile_step). Include from those files only (it defines static functions and needs their -m flags):
 *   #define TQ_TILE_BYTES / TQ_TILE_COLS  the bytes and the k columns of one 16-row tile
 *   tile_step(acc, w0, w1, q, ld, mb, two)  defined by the includer, after this header
 * PASS_CASES(two) calls gemm_pass with a constant mb, so that each case is its own unrolled copy. */
#ifndef TRIT_CPU_X86_TQ_GEMM_AVX512_H
#define TRIT_CPU_X86_TQ_GEMM_AVX512_H

#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"
#include "cpu/x86/tq_epilogue_avx512.h"

#define MB_MAX 8

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* acc[r][0..1] += tile w0 (w1) × the activation bytes q[r * ld ..] for r < mb; defined by the includer */
static inline __attribute__((always_inline)) void tile_step(__m512i acc[MB_MAX][2], __m512i w0, __m512i w1,
                                                            const int8_t *q, size_t ld, const int mb,
                                                            const int two);

/* row block nb (and nb + 1 when two) × activation rows m0 .. m0 + mb */
static inline __attribute__((always_inline)) void gemm_pass(const trit_cpu_tq_args *a, int32_t nb, int32_t m0,
                                                            const int mb, const int two) {
    __m512i acc[MB_MAX][2];
    for (int r = 0; r < MB_MAX; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    const int8_t *q0 = a->q + (size_t)m0 * a->K;
    const size_t ld = (size_t)a->K;
    const uint8_t *w0 = a->w + (size_t)nb * a->KT * TQ_TILE_BYTES;
    const uint8_t *w1 = w0 + (size_t)a->KT * TQ_TILE_BYTES;
    const int32_t KF = a->K / TQ_TILE_COLS;
    for (int32_t kt = 0; kt < KF; kt++) {
        const __m512i t0 = _mm512_load_si512((const void *)(w0 + (size_t)kt * TQ_TILE_BYTES));
        const __m512i t1 = two ? _mm512_load_si512((const void *)(w1 + (size_t)kt * TQ_TILE_BYTES)) : t0;
        tile_step(acc, t0, t1, q0 + (size_t)kt * TQ_TILE_COLS, ld, mb, two);
    }
    if (KF < a->KT) { // last partial tile through zero-padded copies of the q tails
        int8_t qt[MB_MAX][TQ_TILE_COLS];
        memset(qt, 0, sizeof qt);
        for (int r = 0; r < mb; r++)
            memcpy(qt[r], q0 + (size_t)r * ld + (size_t)KF * TQ_TILE_COLS, (size_t)(a->K - KF * TQ_TILE_COLS));
        const __m512i t0 = _mm512_load_si512((const void *)(w0 + (size_t)KF * TQ_TILE_BYTES));
        const __m512i t1 = two ? _mm512_load_si512((const void *)(w1 + (size_t)KF * TQ_TILE_BYTES)) : t0;
        tile_step(acc, t0, t1, &qt[0][0], TQ_TILE_COLS, mb, two);
    }
    for (int r = 0; r < mb; r++) {
        epilogue(a, m0 + r, nb * TRIT_T16_ROWS, acc[r][0]);
        if (two)
            epilogue(a, m0 + r, (nb + 1) * TRIT_T16_ROWS, acc[r][1]);
    }
}

#define PASS_CASES(two)                                                                                          \
    switch (mb) {                                                                                                \
    case 8: gemm_pass(a, nb, m0, 8, two); break;                                                                 \
    case 7: gemm_pass(a, nb, m0, 7, two); break;                                                                 \
    case 6: gemm_pass(a, nb, m0, 6, two); break;                                                                 \
    case 5: gemm_pass(a, nb, m0, 5, two); break;                                                                 \
    case 4: gemm_pass(a, nb, m0, 4, two); break;                                                                 \
    case 3: gemm_pass(a, nb, m0, 3, two); break;                                                                 \
    case 2: gemm_pass(a, nb, m0, 2, two); break;                                                                 \
    default: gemm_pass(a, nb, m0, 1, two); break;                                                                \
    }

#endif
