/* tq_avx512.c — ternary × int8 matmul on AVX-512 VNNI (vpdpbusd) over the T16 layout (cpu.h).
 *
 * One 64-byte tile load gives, after (t >> 2i) & 3, four vectors whose 32-bit lane l holds the codes of row l at
 * four consecutive columns; vpdpbusd multiplies them (unsigned) with four broadcast activation bytes (signed) and
 * adds into 16 int32 lanes = 16 output rows. No horizontal sums anywhere.
 *  - GEMV (M = 1, decode): one row block at a time, four independent accumulators (one per i) to cover the
 *    vpdpbusd latency; memory-bound, the weights stream once.
 *  - GEMM (M > 1, prefill): two row blocks × up to 8 activation rows per pass, 16 accumulators, each unpacked tile
 *    reused by 16 vpdpbusd; the pair's weights stay in L1/L2 across the passes over M.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only called when trit_cpu_detect says so. */
#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"

#define TQ_TILE_BYTES TRIT_T16_BYTES
#define TQ_TILE_COLS TRIT_T16_COLS
#include "cpu/x86/tq_gemm_avx512.h"
#ifndef GEMV_PREFETCH
#define GEMV_PREFETCH 2048 /* bytes ahead of the weight stream: +5% read bandwidth measured on Zen 5 */
#endif

// ------------------------------------------------------------------------------------------------ GEMV

static void gemv(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const int32_t KF = a->K / TRIT_T16_COLS; // full tiles
    int8_t qt[TRIT_T16_COLS] = {0};          // zero-padded last partial tile of q
    if (KF < a->KT)
        memcpy(qt, a->q + (size_t)KF * TRIT_T16_COLS, (size_t)(a->K - KF * TRIT_T16_COLS));
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_T16_BYTES;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
        for (int32_t kt = 0; kt < a->KT; kt++) {
#if GEMV_PREFETCH
            _mm_prefetch((const char *)(blk + (size_t)kt * TRIT_T16_BYTES) + GEMV_PREFETCH, _MM_HINT_T0);
#endif
            const __m512i t = _mm512_load_si512((const void *)(blk + (size_t)kt * TRIT_T16_BYTES));
            const int8_t *qk = kt < KF ? a->q + (size_t)kt * TRIT_T16_COLS : qt;
            a0 = _mm512_dpbusd_epi32(a0, _mm512_and_si512(t, m3), bcast4(qk));
            a1 = _mm512_dpbusd_epi32(a1, _mm512_and_si512(_mm512_srli_epi16(t, 2), m3), bcast4(qk + 4));
            a2 = _mm512_dpbusd_epi32(a2, _mm512_and_si512(_mm512_srli_epi16(t, 4), m3), bcast4(qk + 8));
            a3 = _mm512_dpbusd_epi32(a3, _mm512_and_si512(_mm512_srli_epi16(t, 6), m3), bcast4(qk + 12));
        }
        const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3));
        epilogue(a, 0, nb * TRIT_T16_ROWS, acc);
    }
}

// ------------------------------------------------------------------------------------------------ GEMM

/* one tile of up to 2 row blocks against mb activation rows: 16 bytes of row r at p + r*ld. Rows are addressed
 * from one pointer (base + index*scale) so the loop needs few general registers. */
static inline __attribute__((always_inline)) void tile_step(__m512i acc[MB_MAX][2], __m512i t0, __m512i t1,
                                                            const int8_t *p, size_t ld, const int mb,
                                                            const int two) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const int8_t *p4 = p + 4 * ld;
    for (int i = 0; i < 4; i++) {
        const __m512i u0 = _mm512_and_si512(_mm512_srli_epi16(t0, 2 * i), m3);
        const __m512i u1 = two ? _mm512_and_si512(_mm512_srli_epi16(t1, 2 * i), m3) : u0;
        for (int r = 0; r < mb; r++) {
            const int8_t *pr = r < 4 ? p + (size_t)r * ld : p4 + (size_t)(r - 4) * ld;
            const __m512i b = bcast4(pr + 4 * i);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], u0, b);
            if (two)
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], u1, b);
        }
    }
}

/* the hot case of gemm_pass (8 rows × 2 blocks, full tiles) with named accumulators: gcc keeps an array of
 * accumulators in registers only with many extra moves, which cost a third of the throughput */
#define BC(ptr) bcast4(ptr)
#define DP2(c0, c1, b)                                                                                             \
    do {                                                                                                           \
        const __m512i b_ = (b);                                                                                    \
        c0 = _mm512_dpbusd_epi32(c0, u0, b_);                                                                      \
        c1 = _mm512_dpbusd_epi32(c1, u1, b_);                                                                      \
    } while (0)
#define STEP8(i)                                                                                                   \
    do {                                                                                                           \
        const __m512i u0 = _mm512_and_si512(_mm512_srli_epi16(t0, 2 * (i)), m3);                                   \
        const __m512i u1 = _mm512_and_si512(_mm512_srli_epi16(t1, 2 * (i)), m3);                                   \
        DP2(c00, c01, BC(p + 4 * (i)));                                                                            \
        DP2(c10, c11, BC(p + ld + 4 * (i)));                                                                       \
        DP2(c20, c21, BC(p + 2 * ld + 4 * (i)));                                                                   \
        DP2(c30, c31, BC(p + ld3 + 4 * (i)));                                                                      \
        DP2(c40, c41, BC(p4 + 4 * (i)));                                                                           \
        DP2(c50, c51, BC(p4 + ld + 4 * (i)));                                                                      \
        DP2(c60, c61, BC(p4 + 2 * ld + 4 * (i)));                                                                  \
        DP2(c70, c71, BC(p4 + ld3 + 4 * (i)));                                                                     \
    } while (0)

static void gemm_8x2(const trit_cpu_tq_args *a, int32_t nb, int32_t m0) {
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    const size_t ld = (size_t)a->K, ld3 = 3 * ld;
    const int8_t *p = a->q + (size_t)m0 * ld, *p4 = p + 4 * ld;
    const uint8_t *w0 = a->w + (size_t)nb * a->KT * TRIT_T16_BYTES;
    const uint8_t *w1 = w0 + (size_t)a->KT * TRIT_T16_BYTES;
    const int32_t KF = a->K / TRIT_T16_COLS;
    for (int32_t kt = 0; kt < KF; kt++) {
        const __m512i t0 = _mm512_load_si512((const void *)w0), t1 = _mm512_load_si512((const void *)w1);
        STEP8(0);
        STEP8(1);
        STEP8(2);
        STEP8(3);
        w0 += TRIT_T16_BYTES, w1 += TRIT_T16_BYTES, p += TRIT_T16_COLS, p4 += TRIT_T16_COLS;
    }
    const int32_t n0 = nb * TRIT_T16_ROWS, n1 = n0 + TRIT_T16_ROWS;
    epilogue(a, m0, n0, c00), epilogue(a, m0, n1, c01);
    epilogue(a, m0 + 1, n0, c10), epilogue(a, m0 + 1, n1, c11);
    epilogue(a, m0 + 2, n0, c20), epilogue(a, m0 + 2, n1, c21);
    epilogue(a, m0 + 3, n0, c30), epilogue(a, m0 + 3, n1, c31);
    epilogue(a, m0 + 4, n0, c40), epilogue(a, m0 + 4, n1, c41);
    epilogue(a, m0 + 5, n0, c50), epilogue(a, m0 + 5, n1, c51);
    epilogue(a, m0 + 6, n0, c60), epilogue(a, m0 + 6, n1, c61);
    epilogue(a, m0 + 7, n0, c70), epilogue(a, m0 + 7, n1, c71);
}

static void gemm(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    for (int32_t nb = nb0; nb < nb1; nb += 2) {
        const int two = nb + 1 < nb1;
        for (int32_t m0 = 0; m0 < a->M; m0 += MB_MAX) {
            const int mb = a->M - m0 < MB_MAX ? a->M - m0 : MB_MAX;
            if (two && mb == MB_MAX && a->K % TRIT_T16_COLS == 0) {
                gemm_8x2(a, nb, m0);
            } else if (two) {
                PASS_CASES(1)
            } else {
                PASS_CASES(0)
            }
        }
    }
}

void trit_cpu_tq_gemm_avx512(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    if (a->M == 1)
        gemv(a, nb0, nb1);
    else
        gemm(a, nb0, nb1);
}

int32_t trit_cpu_sum_i8_avx512(const int8_t *q, int32_t K) {
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512();
    int32_t k = 0;
    for (; k + 64 <= K; k += 64)
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512((const void *)(q + k)));
    if (k < K) {
        const __mmask64 mask = (__mmask64)-1 >> (64 - (K - k));
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(mask, q + k));
    }
    return _mm512_reduce_add_epi32(acc);
}
