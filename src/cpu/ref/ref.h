/* ref.h — the plain C reference back end ("ref"): the oracle every other back end is tested against.
 *
 * Clean, minimal, scalar C in llama2.c style: one loop nest per op, a shape comment on every buffer, no
 * intrinsics, no threads, never optimised. Speed is not a goal; being obviously right is. The numerics are the
 * contract of backend/backend.h (spec §3, §9), with the choices backend.h leaves open written down here:
 *  - quantize: amax in f32 (exact), s = 127.0f / fmaxf(amax, 1e-5f), q = clamp(rintf(x * s), -128, 127);
 *    rintf under the default rounding mode is round-half-to-even like torch.round / ggml nearest_int.
 *  - matmul_tq: acc in int32 (exact), y = (float)acc / s * gamma, evaluated left to right in f32.
 *  - rmsnorm: sum of squares accumulated in double (so the row sum is independent of summation order to well
 *    below f32 precision, and fast back ends reordering an f32/f64 sum land on the same float almost always),
 *    mean narrowed to float, scale = 1.0f / sqrtf(mean + eps), y = (x * scale) * w (ggml's order).
 *  - rope: NeoX half split; inv_freq[i] = 1.0f / powf(theta, (float)(2i) / (float)D) in f32, exactly how
 *    transformers builds it (1 / base ** (arange(0, D, 2).float() / D)); angle = (float)pos * inv_freq[i] in
 *    f32; cosf/sinf of that.
 *  - attention: scores dot(q, k) in f32 times 1.0f / sqrtf(D), softmax with max subtraction in f32, output
 *    Σ_t p_t v_t / Σ_t p_t.
 *  - lm_head / embed: bf16 widened exactly to f32; dot products accumulate in f32 in index order. The int8 head
 *    (TRIT_DT_I8ROW): (float)q * x summed in index order, then times the row's scale.
 * The module is compiled with -ffp-contract=off so no compiler fuses a*b+c into an FMA: the oracle's results do
 * not depend on the target ISA.
 *
 * Every op is also exposed as a plain function (no trit_backend needed) so the fast CPU back end can fall back
 * to it and tests can call it directly. Pointers are host memory.
 */
#ifndef TRIT_CPU_REF_H
#define TRIT_CPU_REF_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/fp16.h"

/* ---- ternary weights in the ref layout: codes 2 bits each (code = w + 1 ∈ {0,1,2}), row-major; row n
 * occupies trit_ref_tmat_row_bytes(K) bytes, element k in byte k/4 at bits 2*(k%4). Rows are padded to a
 * multiple of 4 elements with code 1 (w = 0). */
static inline size_t trit_ref_tmat_row_bytes(int32_t K) { return ((size_t)K + 3) / 4; }

/* Packs host codes int8 [N][K] ∈ {-1,0,+1} into w->data (aligned_alloc 64); checks the shape, the segments
 * (1..TRIT_TMAT_MAX_SEG, strictly increasing, last == N) and every code. Leaves w->data NULL on error. */
trit_status trit_ref_tmat_pack(trit_tmat *w, const int8_t *codes, trit_error *err);
void trit_ref_tmat_free(trit_tmat *w);
/* Weight w[n][k] ∈ {-1,0,+1} of a ref-packed matrix. */
int trit_ref_tmat_get(const trit_tmat *w, int32_t n, int32_t k);
/* γ of output row n (the scale of the segment that holds n). */
float trit_ref_tmat_row_scale(const trit_tmat *w, int32_t n);
/* Σ_k q[k] * w_k in int32 over one packed row (row: trit_ref_tmat_row_bytes(K) bytes; q: int8 [K]). */
int32_t trit_ref_dot_i8_codes(const uint8_t *row, const int8_t *q, int32_t K);

/* ---- compute ops (the same contracts as backend.h, which lists them in the same order) */
void trit_ref_embed(const void *table, trit_dtype dt, int32_t D, const int32_t *tokens, int32_t M, float *out);
void trit_ref_rmsnorm(const float *x, const float *w, int32_t M, int32_t K, float eps, float *y);
void trit_ref_quantize(const float *x, int32_t M, int32_t K, int8_t *q, float *s);
void trit_ref_rmsnorm_quantize(const float *x, const float *w, int32_t M, int32_t K, float eps, int8_t *q, float *s);
void trit_ref_matmul_tq(const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y, int accumulate);
/* matmul_tq with bf16 output (uint16_t bits): the f32 result above rounded to nearest even (trit_f32_to_bf16);
 * accumulate: y = bf16(f32(y) + v). The CUDA kernels' bf16 epilogue (trit_cuda_matmul_tq_out) matches it. */
void trit_ref_matmul_tq_bf16(const trit_tmat *w, const int8_t *q, const float *s, int32_t M, uint16_t *y,
                             int accumulate);
void trit_ref_rope(float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride, const int32_t *pos, float theta);
void trit_ref_kv_store(trit_kvcache *kv, int32_t layer, const float *k, const float *v, int32_t stride,
                       const int32_t *seq, const int32_t *pos, int32_t M);
void trit_ref_attention(const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride, int32_t n_heads,
                        const int32_t *seq, const int32_t *pos, int32_t M, float *out);
void trit_ref_glu(const float *gu, int32_t M, int32_t F, trit_act act, float *out);
void trit_ref_add(float *h, const float *x, size_t n);
void trit_ref_lm_head(const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x, int32_t M,
                      float *logits);
/* One row of an int8 LM head (TRIT_DT_I8ROW, backend.h): *scale = max|w| / 127, q[d] = rint(w[d] / scale)
 * (half to even), all 0 for an all-zero row. The loader builds the table with it; tests use it as the oracle. */
void trit_ref_i8row_quantize(const float *w, int32_t D, int8_t *q, float *scale);

/* ---- small helpers shared with tests and other back ends */
/* inv_freq[i] of the rotary embedding (see above); i < D/2. */
float trit_ref_rope_inv_freq(float theta, int32_t i, int32_t D);
/* bf16 -> f32 (exact) is trit_bf16_to_f32 in core/fp16.h. */

#endif
