/* tq_avx2.c — the AVX2 kernel set: ternary × int8 matmul over the T16 layout (cpu.h) with vpmaddubsw + vpmaddwd,
 * activation quantization; the other float ops are the generic C ones.
 *
 * A 64-byte tile is two 32-byte halves (rows 0..7 and 8..15 of the block). (half >> 2i) & 3 holds per 32-bit
 * lane the codes of one row at four columns; vpmaddubsw (unsigned codes × signed q) gives int16 pair sums of at
 * most 2·2·128 = 512 in magnitude, so it never saturates, and vpmaddwd with ones widens them to int32 at once.
 * Compiled with -mavx2 -mfma; only called when trit_cpu_detect says so. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu/fast/cpu.h"

#define MB_MAX 4

static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* 8 outputs of row m from n0: ((float)(acc - Σq) / s) * γ, the backend.h order */
static inline void epilogue8(const trit_cpu_tq_args *a, int32_t m, int32_t n0, __m256i acc) {
    if (n0 >= a->N)
        return;
    const __m256i c = _mm256_sub_epi32(acc, _mm256_set1_epi32(a->qsum[m]));
    __m256 v = _mm256_div_ps(_mm256_cvtepi32_ps(c), _mm256_set1_ps(a->s[m]));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(a->rowscale + n0)); // rowscale is padded to whole blocks
    float *y = a->y + (size_t)m * a->N + n0;
    if (a->N - n0 >= 8) {
        if (a->accumulate)
            v = _mm256_add_ps(_mm256_loadu_ps(y), v);
        _mm256_storeu_ps(y, v);
        return;
    }
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int32_t r = 0; r < a->N - n0; r++)
        y[r] = a->accumulate ? y[r] + t[r] : t[r];
}

static inline __attribute__((always_inline)) void tile_step(__m256i acc[MB_MAX][2], const uint8_t *tile,
                                                            const int8_t *const *qp, size_t off, const int mb) {
    const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    const __m256i t0 = _mm256_load_si256((const __m256i *)tile);
    const __m256i t1 = _mm256_load_si256((const __m256i *)(tile + 32));
    for (int i = 0; i < 4; i++) {
        const __m256i u0 = _mm256_and_si256(_mm256_srli_epi16(t0, 2 * i), m3);
        const __m256i u1 = _mm256_and_si256(_mm256_srli_epi16(t1, 2 * i), m3);
        for (int r = 0; r < mb; r++) {
            const __m256i b = bcast4(qp[r] + off + 4 * i);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, b), ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, b), ones));
        }
    }
}

static inline __attribute__((always_inline)) void gemm_pass(const trit_cpu_tq_args *a, int32_t nb, int32_t m0,
                                                            const int mb) {
    __m256i acc[MB_MAX][2];
    for (int r = 0; r < MB_MAX; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int8_t *qp[MB_MAX];
    for (int r = 0; r < mb; r++)
        qp[r] = a->q + (size_t)(m0 + r) * a->K;
    const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_T16_BYTES;
    const int32_t KF = a->K / TRIT_T16_COLS;
    for (int32_t kt = 0; kt < KF; kt++)
        tile_step(acc, blk + (size_t)kt * TRIT_T16_BYTES, qp, (size_t)kt * TRIT_T16_COLS, mb);
    if (KF < a->KT) { // last partial tile through zero-padded copies of the q tails
        int8_t qt[MB_MAX][TRIT_T16_COLS];
        const int8_t *tp[MB_MAX];
        memset(qt, 0, sizeof qt);
        for (int r = 0; r < mb; r++) {
            memcpy(qt[r], qp[r] + (size_t)KF * TRIT_T16_COLS, (size_t)(a->K - KF * TRIT_T16_COLS));
            tp[r] = qt[r];
        }
        tile_step(acc, blk + (size_t)KF * TRIT_T16_BYTES, tp, 0, mb);
    }
    for (int r = 0; r < mb; r++) {
        epilogue8(a, m0 + r, nb * TRIT_T16_ROWS, acc[r][0]);
        epilogue8(a, m0 + r, nb * TRIT_T16_ROWS + 8, acc[r][1]);
    }
}

static void tq_gemm(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    for (int32_t nb = nb0; nb < nb1; nb++) {
        for (int32_t m0 = 0; m0 < a->M; m0 += MB_MAX) {
            switch (a->M - m0 < MB_MAX ? a->M - m0 : MB_MAX) {
            case 4: gemm_pass(a, nb, m0, 4); break;
            case 3: gemm_pass(a, nb, m0, 3); break;
            case 2: gemm_pass(a, nb, m0, 2); break;
            default: gemm_pass(a, nb, m0, 1); break;
            }
        }
    }
}

static int32_t sum_i8(const int8_t *q, int32_t K) {
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    int32_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(q + k));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v), ones16));
    }
    int32_t t[8], sum = 0;
    _mm256_storeu_si256((__m256i *)t, acc);
    for (int i = 0; i < 8; i++)
        sum += t[i];
    for (; k < K; k++)
        sum += q[k];
    return sum;
}

// ------------------------------------------------------------------------------------------------ quantize

static void quantize_row(const float *x, int32_t K, int8_t *q, float *s) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    int32_t k = 0;
    for (; k + 8 <= K; k += 8)
        mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + k), absmask));
    float t[8], amax = 0.0f;
    _mm256_storeu_ps(t, mx);
    for (int i = 0; i < 8; i++)
        amax = fmaxf(amax, t[i]);
    for (; k < K; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    const float sc = 127.0f / fmaxf(amax, 1e-5f);
    const __m256 vs = _mm256_set1_ps(sc);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (k = 0; k + 32 <= K; k += 32) {
        const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vs));
        const __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vs));
        const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 16), vs));
        const __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 24), vs));
        // saturating narrows (= the clamp to [-128,127]); the packs interleave lanes, the permute undoes it
        const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)(q + k), _mm256_permutevar8x32_epi32(b, perm));
    }
    for (; k < K; k++) {
        float r = rintf(x[k] * sc);
        r = r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
        q[k] = (int8_t)r;
    }
    *s = sc;
}

static const trit_cpu_kernels k_avx2 = {
    .name = "avx2",
    .tq_gemm = tq_gemm,
    .quantize_row = quantize_row,
    .rmsnorm_quantize_row = trit_cpu_rmsnorm_quantize_row_generic,
    .sum_i8 = sum_i8,
    .dot_f32 = trit_cpu_dot_f32_generic,
    .axpy_f32 = trit_cpu_axpy_f32_generic,
    .exp_sub_sum = trit_cpu_exp_sub_sum_generic,
    .attn_scores = trit_cpu_attn_scores_generic,
    .attn_accum = trit_cpu_attn_accum_generic,
    .lm_head_rows = trit_cpu_lm_head_rows_generic,
    .relu2_mul = trit_cpu_relu2_mul_generic,
};

const trit_cpu_kernels *trit_cpu_kernels_avx2(void) { return &k_avx2; }
