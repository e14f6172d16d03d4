/* lut_avx2.c — ternary × int8 matmul by table lookup (T-MAC / bitnet.cpp TL1 style, spec §5.4) on AVX2, over the
 * TL layout (cpu.h): each 4-bit weight index (two columns) selects a precomputed partial sum w0·q0 + w1·q1 with
 * vpshufb, 32 rows × pairs per instruction, where the multiply-add kernel (tq_avx2.c) needs vpmaddubsw + vpmaddwd
 * + an add per 4 columns. Sums stay exact: q = 16·qh + ql splits every table into two int8 ones (cpu.h), the
 * kernel adds lookups in int8 over two tiles (|low| ≤ 120, |high| ≤ 64), combines 16·high + low per row with
 * vpmaddubsw (≤ 1144 per tile pair) into int16 accumulators flushed to int32 every 8 tile pairs (≤ 2·9152 after
 * the lane add), and the epilogue is the backend.h one ((float)acc / s * γ; no Σq term: the tables hold w·q).
 * Compiled with -mavx2 -mfma; only called when trit_cpu_detect says so. */
#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"

#define FLUSH_PAIRS 8 /* tile pairs per int16 accumulation (see above) */
/* bytes ahead of the weight stream. The table loads (4 per weight load) leave the hardware prefetchers behind:
 * from DRAM the kernel ran at 35 Gweights/s per Zen 5 core without this, 82 at 4 KB ahead, 97 at 8 KB */
#define PREFETCH 8192

/* signs of column 0 and 1 of index i = 3·c0 + c1 (c = w + 1), 0 for the unused entries 9..15 */
#define S0_ROW -1, -1, -1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0
#define S1_ROW -1, 0, 1, -1, 0, 1, -1, 0, 1, 0, 0, 0, 0, 0, 0, 0

/* tables of tiles [kt0, kt1) of one activation row (cpu.h, TL) */
void trit_cpu_tl_build_avx2(const int8_t *q, int32_t K, int32_t kt0, int32_t kt1, int8_t *lut) {
    const __m256i s0 = _mm256_setr_epi8(S0_ROW, S0_ROW), s1 = _mm256_setr_epi8(S1_ROW, S1_ROW);
    // lane-wise byte picks: lane 0 column c, lane 1 column c + 4
    const __m256i p0 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
                                        4, 4, 4, 4, 4);
    const __m256i one = _mm256_set1_epi8(1), two = _mm256_set1_epi8(2), m15 = _mm256_set1_epi8(15),
                  m8 = _mm256_set1_epi8(8);
    for (int32_t kt = kt0; kt < kt1; kt++) {
        int64_t v8 = 0;
        const int32_t k0 = kt * TRIT_TL_COLS;
        memcpy(&v8, q + k0, (size_t)(K - k0 < TRIT_TL_COLS ? K - k0 : TRIT_TL_COLS)); // zero-padded tail
        const __m256i v = _mm256_set1_epi64x(v8);
        const __m256i ql = _mm256_and_si256(v, m15);
        // q >> 4 as a signed nibble: ((q >> 4) & 15) ^ 8) - 8
        const __m256i qh = _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m15), m8), m8);
        int8_t *o = lut + (size_t)kt * TRIT_TL_LUT_BYTES;
        for (int half = 0; half < 2; half++) { // columns (0,1 | 4,5), then (2,3 | 6,7)
            const __m256i c0 = _mm256_add_epi8(p0, half ? two : _mm256_setzero_si256());
            const __m256i c1 = _mm256_add_epi8(c0, one);
            const __m256i tl = _mm256_add_epi8(_mm256_sign_epi8(_mm256_shuffle_epi8(ql, c0), s0),
                                               _mm256_sign_epi8(_mm256_shuffle_epi8(ql, c1), s1));
            const __m256i th = _mm256_add_epi8(_mm256_sign_epi8(_mm256_shuffle_epi8(qh, c0), s0),
                                               _mm256_sign_epi8(_mm256_shuffle_epi8(qh, c1), s1));
            _mm256_store_si256((__m256i *)(o + 64 * half), tl);
            _mm256_store_si256((__m256i *)(o + 64 * half + 32), th);
        }
    }
}

/* one tile: int8 sums of the low and high lookups of its 16 rows × 2 lanes */
static inline void tile_lookup(const uint8_t *w, const int8_t *t, __m256i *lo, __m256i *hi) {
    const __m256i m15 = _mm256_set1_epi8(15);
    const __m256i x = _mm256_load_si256((const __m256i *)w);
    const __m256i ia = _mm256_and_si256(x, m15), ib = _mm256_and_si256(_mm256_srli_epi16(x, 4), m15);
    *lo = _mm256_add_epi8(_mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)t), ia),
                          _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)(t + 64)), ib));
    *hi = _mm256_add_epi8(_mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)(t + 32)), ia),
                          _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)(t + 96)), ib));
}

/* int16 rows (two lanes of the same rows) into the int32 accumulators of rows 0..7 and 8..15 */
static inline void flush(__m256i *a16lo, __m256i *a16hi, __m256i *a32lo, __m256i *a32hi) {
    const __m128i l = _mm_add_epi16(_mm256_castsi256_si128(*a16lo), _mm256_extracti128_si256(*a16lo, 1));
    const __m128i h = _mm_add_epi16(_mm256_castsi256_si128(*a16hi), _mm256_extracti128_si256(*a16hi, 1));
    *a32lo = _mm256_add_epi32(*a32lo, _mm256_cvtepi16_epi32(l));
    *a32hi = _mm256_add_epi32(*a32hi, _mm256_cvtepi16_epi32(h));
    *a16lo = *a16hi = _mm256_setzero_si256();
}

static inline void store8(const trit_cpu_tq_args *a, int32_t m, int32_t n0, __m256i acc) {
    if (n0 >= a->N)
        return;
    __m256 v = _mm256_div_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(a->s[m]));
    v = _mm256_mul_ps(v, _mm256_loadu_ps(a->rowscale + n0)); // rowscale is padded to whole blocks
    float *y = a->y + (size_t)m * a->N + n0, t[8];
    if (a->N - n0 >= 8) {
        if (a->accumulate)
            v = _mm256_add_ps(_mm256_loadu_ps(y), v);
        _mm256_storeu_ps(y, v);
        return;
    }
    _mm256_storeu_ps(t, v);
    for (int32_t r = 0; r < a->N - n0; r++)
        y[r] = a->accumulate ? y[r] + t[r] : t[r];
}

void trit_cpu_tl_gemm_avx2(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const __m256i w16 = _mm256_set1_epi16(16 << 8 | 1); // vpmaddubsw weights: low byte ×1, high byte ×16
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_TL_BYTES;
        for (int32_t m = 0; m < a->M; m++) {
            const int8_t *lut = a->lut + (size_t)m * a->lut_stride;
            __m256i a32lo = _mm256_setzero_si256(), a32hi = a32lo, a16lo = a32lo, a16hi = a32lo;
            int32_t kt = 0, pairs = 0;
            for (; kt < a->KT; kt += 2) {
                __m256i lo, hi;
                _mm_prefetch((const char *)(blk + (size_t)kt * TRIT_TL_BYTES) + PREFETCH, _MM_HINT_T0);
                tile_lookup(blk + (size_t)kt * TRIT_TL_BYTES, lut + (size_t)kt * TRIT_TL_LUT_BYTES, &lo, &hi);
                if (kt + 1 < a->KT) {
                    __m256i lo1, hi1;
                    tile_lookup(blk + (size_t)(kt + 1) * TRIT_TL_BYTES, lut + (size_t)(kt + 1) * TRIT_TL_LUT_BYTES,
                                &lo1, &hi1);
                    lo = _mm256_add_epi8(lo, lo1);
                    hi = _mm256_add_epi8(hi, hi1);
                }
                // bytes (low, high) of each row side by side, then low + 16·high in int16
                a16lo = _mm256_add_epi16(a16lo, _mm256_maddubs_epi16(w16, _mm256_unpacklo_epi8(lo, hi)));
                a16hi = _mm256_add_epi16(a16hi, _mm256_maddubs_epi16(w16, _mm256_unpackhi_epi8(lo, hi)));
                if (++pairs == FLUSH_PAIRS) {
                    flush(&a16lo, &a16hi, &a32lo, &a32hi);
                    pairs = 0;
                }
            }
            flush(&a16lo, &a16hi, &a32lo, &a32hi);
            store8(a, m, nb * TRIT_T16_ROWS, a32lo);
            store8(a, m, nb * TRIT_T16_ROWS + 8, a32hi);
        }
    }
}
