/* head_i8_tiles.h — the loop order the x86 int8 LM heads share (head_i8.c, AVX-512; head_i8_avx2.c, AVX2): rows
 * [v0, v1) of the table against M rows of x. M = 1: one row dot each. Else x in tiles of HEAD_I8_TILE_BYTES (in L2
 * with the table rows), each table row against four x rows at a time (dot4), then the rest one by one (dot).
 * Included by each ISA's file, so it compiles with that file's flags; dot and dot4 are that file's kernels. */
#ifndef TRIT_CPU_X86_HEAD_I8_TILES_H
#define TRIT_CPU_X86_HEAD_I8_TILES_H

#include <stddef.h>
#include <stdint.h>

#define HEAD_I8_TILE_BYTES (192 * 1024) /* x rows per tile: this many bytes of f32 x (in L2 with the table rows) */

typedef float (*head_i8_dot_fn)(const int8_t *row, const float *x, int32_t D);
typedef void (*head_i8_dot4_fn)(const int8_t *row, const float *x0, int32_t D, float out[4]);

static inline __attribute__((always_inline)) void head_i8_tiles(const int8_t *q, const float *scale, int32_t D,
                                                                 int32_t V, int32_t v0, int32_t v1, const float *x,
                                                                 int32_t M, float *logits, head_i8_dot_fn dot,
                                                                 head_i8_dot4_fn dot4) {
    if (M == 1) {
        for (int32_t v = v0; v < v1; v++)
            logits[v] = scale[v] * dot(q + (size_t)v * D, x, D);
        return;
    }
    int32_t tile = (int32_t)(HEAD_I8_TILE_BYTES / ((size_t)D * sizeof(float)));
    tile = tile < 4 ? 4 : tile & ~3;
    for (int32_t m0 = 0; m0 < M; m0 += tile) {
        const int32_t m1 = M - m0 < tile ? M : m0 + tile;
        for (int32_t v = v0; v < v1; v++) {
            const int8_t *row = q + (size_t)v * D;
            int32_t m = m0;
            for (; m + 4 <= m1; m += 4) {
                float s[4];
                dot4(row, x + (size_t)m * D, D, s);
                for (int i = 0; i < 4; i++)
                    logits[(size_t)(m + i) * V + v] = scale[v] * s[i];
            }
            for (; m < m1; m++)
                logits[(size_t)m * V + v] = scale[v] * dot(row, x + (size_t)m * D, D);
        }
    }
}

#endif
