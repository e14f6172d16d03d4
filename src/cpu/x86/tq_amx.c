/* tq_amx.c — ternary × int8 GEMM on AMX-INT8 tiles (prefill), the "amx" kernel set: the avx512 set with this GEMM.
 *
 * UNTESTED: written for Intel CPUs with AMX (Sapphire Rapids and later); the machine it was written on has none.
 * It is therefore not picked by default (dispatch.c): TRIT_CPU_ISA=amx selects it, and test_cpu_kernels tests it
 * against the reference wherever it is usable. Make it the default once that test passes on an AMX machine.
 *
 * TDPBSUD: C[m][n] += Σ A[m][4kk+j] (signed) · B[kk][4n+j] (unsigned), 16×16 int32 from 16×64 bytes each.
 *  - A = activations q, 16 rows × 64 columns, loaded straight from the q rows (stride K): no copy.
 *  - B = codes (0..2) in the "VNNI" layout: row kk holds, for each of 16 output rows n, the 4 codes at columns
 *    4kk..4kk+3. That is exactly plane i of T16 tile kt, (t >> 2i) & 3, for kk = 4(kt - kt0) + i: a 64-column
 *    panel of B is 4 T16 tiles unpacked plane by plane, 1 KB.
 *  - acc = C − Σq, then the avx512 epilogue ((float)acc / s · γ).
 * One pass takes 2 row blocks (32 outputs) × 32 activation rows: 4 C tiles, 2 A, 2 B. The 2 blocks' B panels
 * for the whole K are unpacked once per block pair into a per-thread buffer and reused for every 32 rows of M.
 * Rows of M beyond a multiple of 32, K not a multiple of 64, or a too small buffer go to the avx512 kernel.
 * Compiled with -mamx-tile -mamx-int8 and the avx512 flags; runs only after trit_cpu_detect got the OS's
 * permission for tile data (arch_prctl ARCH_REQ_XCOMP_PERM). */
#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"
#include "cpu/x86/tq_epilogue_avx512.h"

void trit_cpu_tq_gemm_avx512(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);

/* the tile intrinsics are asm statements without memory clobbers: keep plain stores before them */
#define COMPILER_BARRIER() __asm__ __volatile__("" ::: "memory")

typedef struct {
    uint8_t palette_id, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* tmm0..3: C (m-half, n-block), tmm4,5: A (m-halves), tmm6,7: B (n-blocks); all 16 rows × 64 bytes */
static void configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    COMPILER_BARRIER();
    _tile_loadconfig(&cfg);
}

/* B panels of row block nb for columns [0, K): panel kc (1 KB) = planes 0..3 of tiles 4kc..4kc+3 */
static void unpack_panels(const trit_cpu_tq_args *a, int32_t nb, uint8_t *dst) {
    const __m512i m3 = _mm512_set1_epi8(3);
    const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_T16_BYTES;
    for (int32_t kt = 0; kt < a->KT; kt++) {
        const __m512i t = _mm512_load_si512((const void *)(blk + (size_t)kt * TRIT_T16_BYTES));
        uint8_t *o = dst + (size_t)kt * 4 * 64; // rows 4(kt - kt0) + i of panel kt/4 are consecutive 64-byte rows
        _mm512_storeu_si512((void *)o, _mm512_and_si512(t, m3));
        _mm512_storeu_si512((void *)(o + 64), _mm512_and_si512(_mm512_srli_epi16(t, 2), m3));
        _mm512_storeu_si512((void *)(o + 128), _mm512_and_si512(_mm512_srli_epi16(t, 4), m3));
        _mm512_storeu_si512((void *)(o + 192), _mm512_and_si512(_mm512_srli_epi16(t, 6), m3));
    }
}

/* 16 rows of a C tile written to c[16][16], then out through the epilogue (n0 past N: nothing to write) */
static void emit(const trit_cpu_tq_args *a, const int32_t c[16][16], int32_t m0, int32_t n0) {
    if (n0 >= a->N)
        return;
    for (int r = 0; r < 16; r++)
        epilogue(a, m0 + r, n0, _mm512_loadu_si512((const void *)c[r]));
}

void trit_cpu_tq_gemm_amx(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const int32_t M32 = a->M / 32 * 32;
    const size_t panel = (size_t)a->KT / 4 * 1024; // bytes of one block's B panels
    if (M32 == 0 || a->K % 64 != 0 || !a->scratch || a->scratch_bytes < 2 * panel) {
        trit_cpu_tq_gemm_avx512(a, nb0, nb1);
        return;
    }
    uint8_t *p0 = a->scratch, *p1 = p0 + panel;
    const size_t ld = (size_t)a->K;
    const int32_t KC = a->K / 64;
    int32_t c[4][16][16];
    configure_tiles();
    for (int32_t nb = nb0; nb < nb1; nb += 2) {
        const int two = nb + 1 < nb1;
        unpack_panels(a, nb, p0);
        unpack_panels(a, two ? nb + 1 : nb, p1); // a lone block is paired with itself; the copy is not written
        COMPILER_BARRIER();
        for (int32_t m0 = 0; m0 < M32; m0 += 32) {
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            const int8_t *q0 = a->q + (size_t)m0 * ld, *q1 = q0 + 16 * ld;
            for (int32_t kc = 0; kc < KC; kc++) {
                _tile_loadd(4, q0 + (size_t)kc * 64, ld);
                _tile_loadd(5, q1 + (size_t)kc * 64, ld);
                _tile_loadd(6, p0 + (size_t)kc * 1024, 64);
                _tile_loadd(7, p1 + (size_t)kc * 1024, 64);
                _tile_dpbsud(0, 4, 6);
                _tile_dpbsud(1, 4, 7);
                _tile_dpbsud(2, 5, 6);
                _tile_dpbsud(3, 5, 7);
            }
            _tile_stored(0, c[0], 64);
            _tile_stored(1, c[1], 64);
            _tile_stored(2, c[2], 64);
            _tile_stored(3, c[3], 64);
            const int32_t n0 = nb * TRIT_T16_ROWS;
            emit(a, (const int32_t(*)[16])c[0], m0, n0);
            emit(a, (const int32_t(*)[16])c[2], m0 + 16, n0);
            if (two) {
                emit(a, (const int32_t(*)[16])c[1], m0, n0 + TRIT_T16_ROWS);
                emit(a, (const int32_t(*)[16])c[3], m0 + 16, n0 + TRIT_T16_ROWS);
            }
        }
        COMPILER_BARRIER(); // the next pair's unpack overwrites panels the tile loads above read
    }
    _tile_release();
    if (M32 < a->M) { // the last M % 32 rows
        trit_cpu_tq_args rest = *a;
        rest.q = a->q + (size_t)M32 * ld;
        rest.qsum = a->qsum + M32;
        rest.s = a->s + M32;
        rest.M = a->M - M32;
        rest.y = a->y + (size_t)M32 * a->N;
        trit_cpu_tq_gemm_avx512(&rest, nb0, nb1);
    }
}

/* bytes of per-thread scratch the amx GEMM wants for a matrix of K columns: two blocks' B panels */
size_t trit_cpu_amx_scratch_bytes(int32_t K) { return 2 * (size_t)((K + 63) / 64) * 1024; }
