/* tq_epilogue_avx512.h — the output step of the AVX-512 ternary matmuls (tq_avx512.c, tq1_avx512.c, tq_amx.c): 16
 * int32 sums of one activation row to y, in the order backend.h fixes. Include from files built with -mavx512f. */
#ifndef TRIT_CPU_X86_TQ_EPILOGUE_AVX512_H
#define TRIT_CPU_X86_TQ_EPILOGUE_AVX512_H

#include <immintrin.h>

#include "cpu/fast/cpu.h"

/* y[m][n0..n0+16) from the int32 sums of 16 rows: ((float)(acc - Σq) / s) * γ, the backend.h order */
static inline void epilogue(const trit_cpu_tq_args *a, int32_t m, int32_t n0, __m512i acc) {
    const __m512i c = _mm512_sub_epi32(acc, _mm512_set1_epi32(a->qsum[m]));
    __m512 v = _mm512_div_ps(_mm512_cvtepi32_ps(c), _mm512_set1_ps(a->s[m]));
    v = _mm512_mul_ps(v, _mm512_loadu_ps(a->rowscale + n0)); // rowscale is padded to whole blocks
    const int32_t rem = a->N - n0;
    const __mmask16 mask = rem >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << rem) - 1);
    float *y = a->y + (size_t)m * a->N + n0;
    if (a->accumulate)
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), v);
    _mm512_mask_storeu_ps(y, mask, v);
}

#endif
