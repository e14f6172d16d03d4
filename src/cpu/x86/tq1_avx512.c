/* tq1_avx512.c — ternary × int8 matmul on AVX-512 VNNI over the compact TQ1 layout (cpu.h, 1.6 bits per weight).
 *
 * A 64-byte tile holds 16 rows × 20 columns. Plane j (j = 0..4) of the tile is decoded from x_j = byte·3^j mod 256
 * (x_{j+1} = x_j + x_j + x_j in bytes, wrapping) as code = (x_j·3) >> 8 = [x_j >= 86] + [x_j >= 171]: two
 * unsigned byte compares into masks and two masked moves. The decoded plane is the same vpdpbusd operand as a
 * T16 plane (per 32-bit lane l: four codes of row l), multiplied with four broadcast activation bytes.
 *  - GEMV (M = 1): one row block at a time, five accumulators; 20% fewer bytes than T16 against ~3× the ALU work
 *    per byte; with AVX-512 VBMI four of the planes are table lookups instead (gemv_vbmi, 1.6× faster).
 *  - GEMM (M > 1): two row blocks × up to 8 activation rows per pass; each decoded plane feeds 16 vpdpbusd.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni; only called when trit_cpu_detect says so. */
#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"

#define TQ_TILE_BYTES TRIT_TQ1_BYTES
#define TQ_TILE_COLS TRIT_TQ1_COLS
#include "cpu/x86/tq_gemm_avx512.h"
#define PREFETCH 2048 /* bytes ahead of the GEMV weight stream, as the T16 GEMV */

/* codes 0..2 of the fractions x (see above) */
static inline __m512i decode(__m512i x) {
    const __mmask64 m1 = _mm512_cmpge_epu8_mask(x, _mm512_set1_epi8(86));
    const __mmask64 m2 = _mm512_cmpge_epu8_mask(x, _mm512_set1_epi8((char)171));
    return _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(m1, _mm512_set1_epi8(1)), m2, _mm512_set1_epi8(2));
}

static inline __m512i times3(__m512i x) { return _mm512_add_epi8(x, _mm512_add_epi8(x, x)); }

// ------------------------------------------------------------------------------------------------ GEMV

static void gemv(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const int32_t KF = a->K / TRIT_TQ1_COLS;
    int8_t qt[TRIT_TQ1_COLS] = {0}; // zero-padded last partial tile of q
    if (KF < a->KT)
        memcpy(qt, a->q + (size_t)KF * TRIT_TQ1_COLS, (size_t)(a->K - KF * TRIT_TQ1_COLS));
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_TQ1_BYTES;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
        for (int32_t kt = 0; kt < a->KT; kt++) {
            _mm_prefetch((const char *)(blk + (size_t)kt * TRIT_TQ1_BYTES) + PREFETCH, _MM_HINT_T0);
            const __m512i x0 = _mm512_load_si512((const void *)(blk + (size_t)kt * TRIT_TQ1_BYTES));
            const int8_t *qk = kt < KF ? a->q + (size_t)kt * TRIT_TQ1_COLS : qt;
            const __m512i x1 = times3(x0), x2 = times3(x1), x3 = times3(x2), x4 = times3(x3);
            a0 = _mm512_dpbusd_epi32(a0, decode(x0), bcast4(qk));
            a1 = _mm512_dpbusd_epi32(a1, decode(x1), bcast4(qk + 4));
            a2 = _mm512_dpbusd_epi32(a2, decode(x2), bcast4(qk + 8));
            a3 = _mm512_dpbusd_epi32(a3, decode(x3), bcast4(qk + 12));
            a4 = _mm512_dpbusd_epi32(a4, decode(x4), bcast4(qk + 16));
        }
        const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)), a4);
        epilogue(a, 0, nb * TRIT_T16_ROWS, acc);
    }
}

/* The same GEMV with AVX-512 VBMI (Ice Lake, Zen 4 and later): code j (j = 1..4) of a byte is looked up in a
 * 256-entry table, two 128-entry vpermi2b (index bits 6:0) picked by the byte's top bit — three instructions a
 * plane instead of six, no multiply chain; plane 0 keeps the compares, which run beside the permutes (33 vs 21 GB/s
 * of weights per Zen 5 core, L2-resident; all five planes by table: 30). The 16 table registers leave 16 for the
 * loop. */
static uint8_t g_dec[5][256] __attribute__((aligned(64)));

static void init_tables(void) {
    for (int j = 0; j < 5; j++)
        for (int b = 0; b < 256; b++)
            g_dec[j][b] = (uint8_t)trit_tq1_code((uint8_t)b, j);
}

#define LUT(x, hi, j)                                                                                             \
    _mm512_mask_blend_epi8(hi, _mm512_permutex2var_epi8(T##j##0, x, T##j##1),                                     \
                           _mm512_permutex2var_epi8(T##j##2, x, T##j##3))
#define LOADT(j)                                                                                                  \
    const __m512i T##j##0 = _mm512_load_si512((const void *)&g_dec[j][0]),                                        \
                  T##j##1 = _mm512_load_si512((const void *)&g_dec[j][64]),                                       \
                  T##j##2 = _mm512_load_si512((const void *)&g_dec[j][128]),                                      \
                  T##j##3 = _mm512_load_si512((const void *)&g_dec[j][192])

__attribute__((target("avx512vbmi"))) static void gemv_vbmi(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const int32_t KF = a->K / TRIT_TQ1_COLS;
    int8_t qt[TRIT_TQ1_COLS] = {0};
    if (KF < a->KT)
        memcpy(qt, a->q + (size_t)KF * TRIT_TQ1_COLS, (size_t)(a->K - KF * TRIT_TQ1_COLS));
    LOADT(1);
    LOADT(2);
    LOADT(3);
    LOADT(4);
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_TQ1_BYTES;
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
        for (int32_t kt = 0; kt < a->KT; kt++) {
            _mm_prefetch((const char *)(blk + (size_t)kt * TRIT_TQ1_BYTES) + PREFETCH, _MM_HINT_T0);
            const __m512i x = _mm512_load_si512((const void *)(blk + (size_t)kt * TRIT_TQ1_BYTES));
            const __mmask64 hi = _mm512_movepi8_mask(x);
            const int8_t *qk = kt < KF ? a->q + (size_t)kt * TRIT_TQ1_COLS : qt;
            a0 = _mm512_dpbusd_epi32(a0, decode(x), bcast4(qk)); // compares: a port the permutes leave idle
            a1 = _mm512_dpbusd_epi32(a1, LUT(x, hi, 1), bcast4(qk + 4));
            a2 = _mm512_dpbusd_epi32(a2, LUT(x, hi, 2), bcast4(qk + 8));
            a3 = _mm512_dpbusd_epi32(a3, LUT(x, hi, 3), bcast4(qk + 12));
            a4 = _mm512_dpbusd_epi32(a4, LUT(x, hi, 4), bcast4(qk + 16));
        }
        const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)), a4);
        epilogue(a, 0, nb * TRIT_T16_ROWS, acc);
    }
}

// ------------------------------------------------------------------------------------------------ GEMM

/* one tile of up to 2 row blocks against mb activation rows (20 bytes of row r at p + r*ld) */
static inline __attribute__((always_inline)) void tile_step(__m512i acc[MB_MAX][2], __m512i x0, __m512i x1,
                                                            const int8_t *p, size_t ld, const int mb,
                                                            const int two) {
    for (int j = 0; j < 5; j++) {
        const __m512i u0 = decode(x0);
        const __m512i u1 = two ? decode(x1) : u0;
        for (int r = 0; r < mb; r++) {
            const __m512i b = bcast4(p + (size_t)r * ld + 4 * j);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], u0, b);
            if (two)
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], u1, b);
        }
        x0 = times3(x0);
        if (two)
            x1 = times3(x1);
    }
}

static int g_vbmi; /* 1: VBMI usable, -1: not; set once by the first call (a benign race: same value) */

void trit_cpu_tq1_gemm_avx512(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    if (a->M == 1) {
        int v = __atomic_load_n(&g_vbmi, __ATOMIC_ACQUIRE);
        if (!v) {
            v = __builtin_cpu_supports("avx512vbmi") ? 1 : -1;
            if (v > 0)
                init_tables();
            __atomic_store_n(&g_vbmi, v, __ATOMIC_RELEASE);
        }
        if (v > 0)
            gemv_vbmi(a, nb0, nb1);
        else
            gemv(a, nb0, nb1);
        return;
    }
    for (int32_t nb = nb0; nb < nb1; nb += 2) {
        const int two = nb + 1 < nb1;
        for (int32_t m0 = 0; m0 < a->M; m0 += MB_MAX) {
            const int mb = a->M - m0 < MB_MAX ? a->M - m0 : MB_MAX;
            if (two) {
                PASS_CASES(1)
            } else {
                PASS_CASES(0)
            }
        }
    }
}
