/* tq_neon.c — the Arm kernel set: ternary × int8 matmul over the T16 layout (cpu.h) with the dot-product
 * extension, activation quantization in NEON; the other float ops are the generic C ones (which gcc vectorises
 * for AArch64 anyway).
 *
 * A 64-byte tile is four 16-byte chunks; chunk c holds rows 4c..4c+3 of the block. (chunk >> 2i) & 3 has, per
 * 32-bit lane, the codes (0..2, valid as signed bytes) of one row at columns 4i..4i+3, and vdotq_laneq_s32
 * multiplies them with lane i of the 16 activation bytes of the tile — the broadcast comes for free.
 * Compiled with -march=armv8.2-a+dotprod; only called when HWCAP says the CPU has it. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "cpu/fast/cpu.h"

#define MB_MAX 4

/* 4 outputs of row m from n0: ((float)(acc - Σq) / s) * γ, the backend.h order */
static inline void epilogue4(const trit_cpu_tq_args *a, int32_t m, int32_t n0, int32x4_t acc) {
    if (n0 >= a->N)
        return;
    const int32x4_t c = vsubq_s32(acc, vdupq_n_s32(a->qsum[m]));
    float32x4_t v = vdivq_f32(vcvtq_f32_s32(c), vdupq_n_f32(a->s[m]));
    v = vmulq_f32(v, vld1q_f32(a->rowscale + n0)); // rowscale is padded to whole blocks
    float *y = a->y + (size_t)m * a->N + n0;
    if (a->N - n0 >= 4) {
        if (a->accumulate)
            v = vaddq_f32(vld1q_f32(y), v);
        vst1q_f32(y, v);
        return;
    }
    float t[4];
    vst1q_f32(t, v);
    for (int32_t r = 0; r < a->N - n0; r++)
        y[r] = a->accumulate ? y[r] + t[r] : t[r];
}

/* (t >> 2i) with the shift as a literal (vshrq_n_u8 takes 1..8 only) */
#define SHR_0(v) (v)
#define SHR_1(v) vshrq_n_u8(v, 2)
#define SHR_2(v) vshrq_n_u8(v, 4)
#define SHR_3(v) vshrq_n_u8(v, 6)

#define DOT_I(i)                                                                                                   \
    do {                                                                                                           \
        for (int c = 0; c < 4; c++) {                                                                              \
            const int8x16_t u = vreinterpretq_s8_u8(vandq_u8(SHR_##i(t[c]), m3));                      \
            for (int r = 0; r < mb; r++)                                                                           \
                acc[r][c] = vdotq_laneq_s32(acc[r][c], u, qv[r], i);                                               \
        }                                                                                                          \
    } while (0)

static inline __attribute__((always_inline)) void tile_step(int32x4_t acc[MB_MAX][4], const uint8_t *tile,
                                                            const int8_t *const *qp, size_t off, const int mb) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    uint8x16_t t[4];
    int8x16_t qv[MB_MAX];
    for (int c = 0; c < 4; c++)
        t[c] = vld1q_u8(tile + 16 * c);
    for (int r = 0; r < mb; r++)
        qv[r] = vld1q_s8(qp[r] + off);
    DOT_I(0);
    DOT_I(1);
    DOT_I(2);
    DOT_I(3);
}

static inline __attribute__((always_inline)) void gemm_pass(const trit_cpu_tq_args *a, int32_t nb, int32_t m0,
                                                            const int mb) {
    int32x4_t acc[MB_MAX][4];
    for (int r = 0; r < MB_MAX; r++)
        for (int c = 0; c < 4; c++)
            acc[r][c] = vdupq_n_s32(0);
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
    for (int r = 0; r < mb; r++)
        for (int c = 0; c < 4; c++)
            epilogue4(a, m0 + r, nb * TRIT_T16_ROWS + 4 * c, acc[r][c]);
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
    int32x4_t acc = vdupq_n_s32(0);
    int32_t k = 0;
    for (; k + 16 <= K; k += 16)
        acc = vpadalq_s16(acc, vpaddlq_s8(vld1q_s8(q + k)));
    int32_t sum = vaddvq_s32(acc);
    for (; k < K; k++)
        sum += q[k];
    return sum;
}

// ------------------------------------------------------------------------------------------------ quantize

static void quantize_row(const float *x, int32_t K, int8_t *q, float *s) {
    float32x4_t mx = vdupq_n_f32(0.0f);
    int32_t k = 0;
    for (; k + 4 <= K; k += 4)
        mx = vmaxq_f32(mx, vabsq_f32(vld1q_f32(x + k)));
    float amax = vmaxvq_f32(mx);
    for (; k < K; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    const float sc = 127.0f / fmaxf(amax, 1e-5f);
    const float32x4_t vs = vdupq_n_f32(sc);
    for (k = 0; k + 16 <= K; k += 16) {
        // vcvtnq: round to nearest, ties to even (= rintf in the default mode); saturating narrows = the clamp
        int32x4_t i0 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k), vs));
        int32x4_t i1 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 4), vs));
        int32x4_t i2 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 8), vs));
        int32x4_t i3 = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + k + 12), vs));
        int16x8_t h0 = vcombine_s16(vqmovn_s32(i0), vqmovn_s32(i1));
        int16x8_t h1 = vcombine_s16(vqmovn_s32(i2), vqmovn_s32(i3));
        vst1q_s8(q + k, vcombine_s8(vqmovn_s16(h0), vqmovn_s16(h1)));
    }
    for (; k < K; k++) {
        float r = rintf(x[k] * sc);
        r = r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
        q[k] = (int8_t)r;
    }
    *s = sc;
}

static const trit_cpu_kernels k_neon = {
    .name = "neon",
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

const trit_cpu_kernels *trit_cpu_kernels_neon(void) { return &k_neon; }
