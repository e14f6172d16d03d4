/* weights.h — reading BitNet tensors out of a safetensors set, in either published form:
 *  - packed: uint8 [N/4, K] (4 row-blocks, 2 bits each, code = w+1; spec §3.5) + `<prefix>.weight_scale`
 *    (1 element, bf16/f16/f32). The codes are ground truth; the scale is γ for autobitlinear (multiply) or 1/γ
 *    for bitlinear (divide; spec §3.4) — the returned gamma is always the multiplier.
 *  - float masters (bf16/f16/f32 [N, K]): ternarized here exactly as transformers' WeightQuant does it
 *    (s = 1/max(mean|W|, 1e-5) in f32; code = clamp(rint(W*s), -1, 1); gamma = 1/s).
 * Shapes are checked against what the caller expects; errors name the tensor and file. */
#ifndef TRIT_FORMATS_WEIGHTS_H
#define TRIT_FORMATS_WEIGHTS_H

#include <stdint.h>

#include "formats/safetensors.h"
#include "trit.h"

/* Reads linear `<prefix>.weight` (e.g. "model.layers.3.self_attn.q_proj") expected as [N][K] into codes
 * (int8 [N][K], caller-allocated) and its gamma. */
trit_status trit_weights_linear(const trit_st_set *s, const trit_config *cfg, const char *prefix, int32_t N,
                                int32_t K, int8_t *codes, float *gamma, trit_error *err);

/* Reads a 1-D float tensor of n elements (norm weights) as f32. */
trit_status trit_weights_vector(const trit_st_set *s, const char *name, int32_t n, float *out, trit_error *err);

/* Finds a 2-D float tensor [rows][cols] (embedding / lm_head) and checks its shape. */
trit_status trit_weights_matrix(const trit_st_set *s, const char *name, int64_t rows, int64_t cols,
                                const trit_st_tensor **out, trit_error *err);

#endif
