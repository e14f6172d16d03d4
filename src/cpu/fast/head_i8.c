/* head_i8.c — the int8 LM head (TRIT_DT_I8ROW) of the fast CPU back end: the generic C kernel, and the choice of
 * kernel for a kernel set (the x86 ones are in ../x86/head_i8*.c; Arm runs the generic one, which the compiler
 * vectorises). The table is int8 [V][D] with one f32 scale per row; x stays f32 (backend.h). */
#include <string.h>

#include "cpu/fast/cpu.h"

#define HEAD_I8_CHUNK 1024 /* columns widened at a time: 4 KB of f32 that stay in L1 */

/* Rows widened to f32 a chunk at a time (exact), then the generic f32 dot product, which vectorises: the same
 * shape as the generic bf16 head. Each widened chunk serves every row of x. */
void trit_cpu_head_i8_generic(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                              const float *x, int32_t M, float *logits) {
    float row[HEAD_I8_CHUNK];
    for (int32_t v = v0; v < v1; v++) {
        for (int32_t m = 0; m < M; m++)
            logits[(size_t)m * V + v] = 0.0f;
        for (int32_t d0 = 0; d0 < D; d0 += HEAD_I8_CHUNK) {
            const int32_t len = D - d0 < HEAD_I8_CHUNK ? D - d0 : HEAD_I8_CHUNK;
            const int8_t *t = q + (size_t)v * D + d0;
            for (int32_t d = 0; d < len; d++)
                row[d] = (float)t[d];
            for (int32_t m = 0; m < M; m++)
                logits[(size_t)m * V + v] += trit_cpu_dot_f32_generic(row, x + (size_t)m * D + d0, len);
        }
        for (int32_t m = 0; m < M; m++)
            logits[(size_t)m * V + v] *= scale[v];
    }
}

trit_cpu_head_i8_fn trit_cpu_head_i8_pick(const trit_cpu_kernels *k) {
#if defined(__x86_64__) || defined(_M_X64)
    // the set was picked from CPUID + XGETBV, so its ISA is usable here; amx implies avx512
    if (!strcmp(k->name, "avx512") || !strcmp(k->name, "amx"))
        return trit_cpu_head_i8_avx512;
    if (!strcmp(k->name, "avx2"))
        return trit_cpu_head_i8_avx2;
#endif
    (void)k;
    return trit_cpu_head_i8_generic;
}
