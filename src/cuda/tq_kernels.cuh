/* tq_kernels.cuh — W2A8 ternary matmul kernels (device code), shared by the back end (cuda_matmul.cu) and the
 * workbench (dev/cuda/matmul_tq.cu). Not a public header: include it from .cu files only.
 *
 * Weight layout "tile16x128" (built by tq_pack_host): W [N][K] is padded to Np = ceil16(N) rows and
 * Kp = ceil128(K) columns with w = 0, and cut into supertiles of 16 rows × 128 k, 512 bytes each, stored
 * row-block major: supertile (nb, kb) at byte (nb * Kp/128 + kb) * 512, so a row block streams along K.
 * Inside a supertile lane l = 4g + t of a warp owns the 16 bytes at l*16: word j (j = 0..3) is the A fragment of
 * the k32 step j, 2 bits per weight, code = w + 1 ∈ {0,1,2}. Register r of the fragment (rows g + 8*(r&1), k in
 * the step 16*(r>>1) + 4t + i) is (word >> 2r) & 0x03030303, one byte per element; the physical k is
 *     k = kb*128 + 32j + 16*(r>>1) + 4t + i,
 * i.e. step j covers the 32 contiguous k of [kb*128 + 32j, +32) in their natural order. That is the A fragment
 * of mma.m16n8k32 (s8) and, per warp of a warpgroup, the register A fragment of wgmma m64nNk32, whose B operand
 * is then a plain K-major tile of activations (tq_wgmma.cuh). The mma.sync kernels here take lane t's B words of
 * step j from activation bytes [32j + 4t, +4) and [32j + 16 + 4t, +4).
 * Kernels (numbers trace the workbench history, dev/cuda/matmul_tq.cu):
 *  tq_gemv_kernel2<WARPS, NT, VEC, UNROLL>: M ≤ 8·NT tokens. One block per 16-row block, its warps split K; each lane
 *    streams one 16-byte weight load per supertile and runs 4·NT mma; warps reduce through shared memory.
 *    Double-buffered weight batches; the first batch is loaded before griddepcontrol.wait, so with programmatic
 *    dependent launch (sm_90) it overlaps the previous kernel (workbench kernel8/9: −0.7 to −2 µs per launch).
 *  tq_gemv_kernel3<UNR, NT, VEC, OutT, DP4A>: M ≤ 16 tokens, the back end's choice for one token. Every weight load
 *    of a row block before the wait, q staged once per block, one AND per 4 weights, dp4a for one token (mma with
 *    one accumulator set per weight scale above); its comment says why each part is there.
 *  tq_gemm_kernel<cfg>: M > 16. Block tile BN rows × BM tokens × 128 k, STAGES-deep cp.async pipeline; weights
 *    stay 2-bit in shared memory and are decoded in registers right before the mma (no int8 weight copy).
 *    Variants kernel4..7 differ in tile, decode and occupancy (tq_gemm4_cfg ...); the back end uses kernel6:
 *    unsigned codes into u8×s8 mma with Σq subtracted in the epilogue, two blocks per SM.
 * Epilogue of all: y = (float)acc / s[m] * γ(n) with explicit round-to-nearest intrinsics (no FMA contraction,
 * the order of backend.h), optional y += that (fused residual add).
 */
#ifndef TRIT_CUDA_TQ_KERNELS_CUH
#define TRIT_CUDA_TQ_KERNELS_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#define TQ_ST_ROWS 16
#define TQ_ST_K 128
#define TQ_ST_BYTES 512

/* per-row-segment scales, passed by value */
struct tq_segs {
    int n_seg;
    int seg_end[4];
    float seg_scale[4];
};

// ------------------------------------------------------------------------------------------------ host packing

/* Bytes of the tile16x128 layout for W [N][K]. */
static inline size_t tq_packed_bytes(int N, int K) {
    return (size_t)((N + 15) / 16) * (size_t)((K + 127) / 128) * TQ_ST_BYTES;
}

/* codes: host int8 [N][K] ∈ {-1,0,+1} (already checked); out: host buffer of tq_packed_bytes(N, K). */
static inline void tq_pack_host(const int8_t *codes, int N, int K, uint8_t *out) {
    const int Nb = (N + 15) / 16, Kt = (K + 127) / 128;
    for (int nb = 0; nb < Nb; nb++)
        for (int kb = 0; kb < Kt; kb++) {
            uint32_t *st = (uint32_t *)(out + ((size_t)nb * Kt + kb) * TQ_ST_BYTES);
            for (int l = 0; l < 32; l++) {
                const int g = l >> 2, t = l & 3;
                for (int j = 0; j < 4; j++) {
                    uint32_t word = 0;
                    for (int r = 0; r < 4; r++)
                        for (int i = 0; i < 4; i++) {
                            const int n = nb * 16 + g + 8 * (r & 1);
                            const int k = kb * 128 + 32 * j + 16 * (r >> 1) + 4 * t + i;
                            const uint32_t code = (n < N && k < K) ? (uint32_t)(codes[(size_t)n * K + k] + 1) : 1u;
                            word |= code << (8 * i + 2 * r);
                        }
                    st[l * 4 + j] = word;
                }
            }
        }
}

// ------------------------------------------------------------------------------------------------ device helpers

/* fragment register r of a packed word, as 4 signed int8 weights: code c ∈ {0,1,2} -> c + 0x7F is 0x7F..0x81
 * (no carry between bytes), xor 0x80 gives 0xFF, 0x00, 0x01 = -1, 0, +1. */
__device__ __forceinline__ uint32_t tq_decode(uint32_t w, int r) {
    return (((w >> (2 * r)) & 0x03030303u) + 0x7F7F7F7Fu) ^ 0x80808080u;
}

__device__ __forceinline__ void tq_mma(int32_t (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                       uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* all 4 k-subtiles of one supertile: w = the lane's 4 words, b = its 8 activation words (32 bytes) */
__device__ __forceinline__ void tq_mma_supertile(int32_t (&c)[4], uint4 w, const uint32_t (&b)[8]) {
    const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int j = 0; j < 4; j++)
        tq_mma(c, tq_decode(ws[j], 0), tq_decode(ws[j], 1), tq_decode(ws[j], 2), tq_decode(ws[j], 3), b[2 * j],
               b[2 * j + 1]);
}

/* γ of row n; unrolled with constant indices so the parameter struct is not copied to local memory */
__device__ __forceinline__ float tq_seg_scale(const tq_segs &sg, int n) {
    float sc = sg.seg_scale[0];
#pragma unroll
    for (int i = 0; i < 3; i++)
        if (i < sg.n_seg - 1 && n >= sg.seg_end[i])
            sc = sg.seg_scale[i + 1];
    return sc;
}

/* bf16 output (uint16_t storage): f32 -> bf16 rounded to nearest even, NaN kept quiet; the same bits as the host's
 * trit_f32_to_bf16 (core/fp16.h), which the reference uses */
__device__ __forceinline__ uint16_t tq_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float tq_from_bf16(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
/* one output element as f32, and stored from f32 (bf16: rounded as above) */
__device__ __forceinline__ float tq_get(const float *p) { return *p; }
__device__ __forceinline__ float tq_get(const uint16_t *p) { return tq_from_bf16(*p); }
__device__ __forceinline__ void tq_put(float *p, float v) { *p = v; }
__device__ __forceinline__ void tq_put(uint16_t *p, float v) { *p = tq_bf16(v); }

/* the epilogue of backend.h: (float)acc / s * γ, each step rounded to nearest, in this order; bf16 output rounds
 * the f32 result (after the residual add, which reads the bf16 value widened) */
template <class OutT>
__device__ __forceinline__ void tq_store(OutT *y, size_t idx, int32_t acc, float s, float gamma, int accumulate) {
    const float v = __fmul_rn(__fdiv_rn((float)acc, s), gamma);
    tq_put(y + idx, accumulate ? __fadd_rn(tq_get(y + idx), v) : v);
}

/* the B words of token row m for the 4 steps of one supertile: b[c] = bytes [k0 + 16c, +4) with k0 = kb*128 + 4t
 * (b[2j], b[2j+1] are the B fragment of step j); zeros past K or for m >= M. VEC: K % 16 == 0 and q 16-byte
 * aligned, so each 4 bytes are all in or all out and 4-byte aligned. */
template <bool VEC>
__device__ __forceinline__ void tq_load_act(uint32_t (&b)[8], const int8_t *__restrict__ q, int m, int M, int K,
                                            int k0) {
    if (VEC) {
#pragma unroll
        for (int c = 0; c < 8; c++)
            b[c] = (m < M && k0 + 16 * c < K) ? __ldg((const uint32_t *)(q + (size_t)m * K + k0 + 16 * c)) : 0u;
    } else {
#pragma unroll
        for (int c = 0; c < 8; c++) {
            uint32_t v = 0;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int k = k0 + 16 * c + e;
                if (m < M && k < K)
                    v |= (uint32_t)(uint8_t)q[(size_t)m * K + k] << (8 * e);
            }
            b[c] = v;
        }
    }
}

// ------------------------------------------------------------------------------------------------ GEMV (M ≤ 16)

/* Programmatic dependent launch (sm_90): a kernel launched with the programmatic-serialization attribute may
 * start while its predecessor still runs; tq_pdl_wait() blocks until the predecessor has completed and its
 * writes are visible, so everything read or written that depends on it comes after. tq_pdl_trigger() lets the
 * successor start. Both are no-ops without the attribute and on older GPUs. */
__device__ __forceinline__ void tq_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void tq_pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

/* How a kernel takes part in programmatic dependent launch (the back end's pdl setting):
 *  TQ_PDL_OFF   launched in plain stream order;
 *  TQ_PDL_LATE  launched with the attribute, lets its successor start once its own wait has returned;
 *  TQ_PDL_EARLY launched with the attribute, lets its successor start at once: the successor's CTAs become
 *               resident beside this kernel's and stream their weights while this kernel still runs. Safe because
 *               every kernel launched with the attribute does nothing that depends on its predecessor before
 *               tq_pdl_wait, which returns only when the predecessor (and, transitively, its own predecessors)
 *               completed. */
enum { TQ_PDL_OFF = 0, TQ_PDL_LATE = 1, TQ_PDL_EARLY = 2 };

/* the launch attribute for a PDL mode; returns the number of attributes set (0 or 1) */
static inline int tq_pdl_attr(cudaLaunchAttribute *attr, int pdl) {
    if (pdl == TQ_PDL_OFF)
        return 0;
    attr->id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr->val.programmaticStreamSerializationAllowed = 1;
    return 1;
}

/* Activations staged in shared memory by the GEMV: row pitch for K (16-byte multiple, + 16 so that the rows g of
 * a fragment load hit different banks), and whether M rows of it fit the budget (else q is read from global
 * memory, one L2 round trip per supertile: each iteration's loads sit behind the previous one's MMAs). */
#define TQ_GEMV_QS_MAX 16384
static inline __host__ __device__ int tq_gemv_qpitch(int K) { return (K + 15) / 16 * 16 + 16; }
static inline __host__ __device__ int tq_gemv_qs_bytes(int M, int K) {
    const long b = (long)M * tq_gemv_qpitch(K);
    return b <= TQ_GEMV_QS_MAX ? (int)b : 0;
}
/* H100, M = 1 from a graph (dev/cuda/NOTES.md, session 5): staging wins on grids of up to 2 blocks per SM with
 * K ≤ 8192 (2560² 3.10 → 2.64 µs, 3840×2560 3.33 → 2.77, 3200² 3.61 → 2.96, 2560×6912 4.83 → 4.55) and loses on
 * taller grids and longer rows (13824×2560 5.83 → 6.14, 20480×3200 10.1 → 11.4, 4800×3200, 3200×10240) */
static inline bool tq_gemv_stage_pays(int N, int K, int n_sm) { return (N + 15) / 16 <= 2 * n_sm && K <= 8192; }

/* grid: Np/16 blocks; block: 32*WARPS threads. NT = token tiles of 8 (M ≤ 8*NT). UNROLL supertiles per batch,
 * double-buffered: the next batch's weights are in flight while the current one is multiplied. The first batch
 * is loaded before tq_pdl_wait (weights do not depend on the previous kernel), so under PDL it overlaps the
 * previous kernel's tail. early: the successor may start at once (TQ_PDL_EARLY), else after the wait.
 * STAGE: q staged in dynamic shared memory [M][qp] (qp = tq_gemv_qpitch(K), M · qp ≤ TQ_GEMV_QS_MAX): the block
 * copies it there once after the wait, all loads in flight together, and the supertile loop reads its fragments
 * from there. (A run-time switch instead cost the unstaged path 0.3-1 µs on the tall shapes.) */
template <int WARPS, int NT, bool VEC, int UNROLL, class OutT = float, bool STAGE = false>
__global__ void __launch_bounds__(32 * WARPS)
    tq_gemv_kernel2(const uint4 *__restrict__ W, int Kt, const int8_t *__restrict__ q, const float *__restrict__ s,
                    int M, int N, int K, tq_segs sg, OutT *__restrict__ y, int accumulate, int early, int qp) {
    if (early)
        tq_pdl_trigger();
    constexpr int STEP = WARPS * UNROLL;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int nb = blockIdx.x;
    const uint4 *Wb = W + (size_t)nb * Kt * 32 + lane;
    int32_t acc[NT][4];
#pragma unroll
    for (int a = 0; a < NT; a++)
        acc[a][0] = acc[a][1] = acc[a][2] = acc[a][3] = 0;

    uint4 w[UNROLL];
    auto load_batch = [&](int kb0) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int kb = kb0 + u * WARPS;
            w[u] = kb < Kt ? __ldcs(Wb + (size_t)kb * 32) : make_uint4(0, 0, 0, 0);
        }
    };
    load_batch(warp);
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();
    extern __shared__ __align__(16) uint8_t qs[]; // STAGE: q [M][qp], zero past K
    if (STAGE) {
        if (VEC) { // K % 16 == 0 and q 16-byte aligned
            const int rv = K / 16, pv = qp / 16;
            for (int i = threadIdx.x; i < M * pv; i += 32 * WARPS) {
                const int m = i / pv, v = i - m * pv;
                ((uint4 *)qs)[i] = v < rv ? __ldg((const uint4 *)(q + (size_t)m * K) + v) : make_uint4(0, 0, 0, 0);
            }
        } else {
            for (int i = threadIdx.x; i < M * qp; i += 32 * WARPS) {
                const int m = i / qp, k = i - m * qp;
                qs[i] = k < K ? (uint8_t)q[(size_t)m * K + k] : 0;
            }
        }
        __syncthreads();
    }
    for (int kb0 = warp; kb0 < Kt; kb0 += STEP) {
        uint4 cur[UNROLL];
#pragma unroll
        for (int u = 0; u < UNROLL; u++)
            cur[u] = w[u];
        if (kb0 + STEP < Kt)
            load_batch(kb0 + STEP);
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            const int kb = kb0 + u * WARPS;
            if (kb >= Kt)
                break;
#pragma unroll
            for (int a = 0; a < NT; a++) {
                uint32_t b[8];
                const int m = a * 8 + g, k0 = kb * 128 + 4 * t;
                if (STAGE) {
#pragma unroll
                    for (int c = 0; c < 8; c++)
                        b[c] = m < M && k0 + 16 * c < K ? *(const uint32_t *)(qs + m * qp + k0 + 16 * c) : 0u;
                } else {
                    tq_load_act<VEC>(b, q, m, M, K, k0);
                }
                tq_mma_supertile(acc[a], cur[u], b);
            }
        }
    }

    __shared__ int32_t red[WARPS][NT][4][32];
#pragma unroll
    for (int a = 0; a < NT; a++)
#pragma unroll
        for (int c = 0; c < 4; c++)
            red[warp][a][c][lane] = acc[a][c];
    __syncthreads();
    for (int e = threadIdx.x; e < NT * 4 * 32; e += 32 * WARPS) {
        const int a = e / 128, c = (e / 32) & 3, l = e & 31;
        int32_t sum = 0;
#pragma unroll
        for (int v = 0; v < WARPS; v++)
            sum += red[v][a][c][l];
        const int n = nb * 16 + (l >> 2) + 8 * (c >> 1);
        const int m = a * 8 + 2 * (l & 3) + (c & 1);
        if (n < N && m < M)
            tq_store(y, (size_t)m * N + n, sum, s[m], tq_seg_scale(sg, n), accumulate);
    }
}

/* host: launch a GEMV variant in PDL mode pdl (TQ_PDL_*; sm_90+, ignored below); stage: q through shared memory
 * where M rows fit (tq_gemv_qs_bytes) */
template <int WARPS, int NT, bool VEC, int UNROLL, class OutT = float>
static inline cudaError_t tq_gemv_launch(cudaStream_t st, int pdl, const uint4 *W, int Kt, const int8_t *q,
                                         const float *s, int M, int N, int K, tq_segs sg, OutT *y, int accumulate,
                                         bool stage) {
    const int qs_bytes = stage ? tq_gemv_qs_bytes(M, K) : 0;
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3((N + 15) / 16);
    cfg.blockDim = dim3(32 * WARPS);
    cfg.dynamicSmemBytes = qs_bytes;
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = tq_pdl_attr(attr, pdl);
    const int early = pdl == TQ_PDL_EARLY;
    if (qs_bytes)
        return cudaLaunchKernelEx(&cfg, tq_gemv_kernel2<WARPS, NT, VEC, UNROLL, OutT, true>, W, Kt, q, s, M, N, K, sg, y,
                                  accumulate, early, tq_gemv_qpitch(K));
    return cudaLaunchKernelEx(&cfg, tq_gemv_kernel2<WARPS, NT, VEC, UNROLL, OutT, false>, W, Kt, q, s, M, N, K, sg, y,
                              accumulate, early, 0);
}

/* all GEMV variants for M ≤ 16 tokens at once: picks NT and VEC. UNROLL: supertiles per warp and batch. */
template <int WARPS, int UNROLL = 4, class OutT = float>
static inline cudaError_t tq_gemv_run(cudaStream_t st, int pdl, const uint4 *W, int Kt, const int8_t *q,
                                      const float *s, int M, int N, int K, tq_segs sg, OutT *y, int accumulate,
                                      bool vec, bool stage) {
    if (M <= 8)
        return vec ? tq_gemv_launch<WARPS, 1, true, UNROLL, OutT>(st, pdl, W, Kt, q, s, M, N, K, sg, y, accumulate, stage)
                   : tq_gemv_launch<WARPS, 1, false, UNROLL, OutT>(st, pdl, W, Kt, q, s, M, N, K, sg, y, accumulate,
                                                                   stage);
    return vec ? tq_gemv_launch<WARPS, 2, true, UNROLL, OutT>(st, pdl, W, Kt, q, s, M, N, K, sg, y, accumulate, stage)
               : tq_gemv_launch<WARPS, 2, false, UNROLL, OutT>(st, pdl, W, Kt, q, s, M, N, K, sg, y, accumulate, stage);
}

/* u8 × s8 mma (unsigned weight codes) */
__device__ __forceinline__ void tq_mma_u8(int32_t (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* tq_gemv_kernel3<UNR, NT, VEC, OutT, DP4A>: the GEMV for M ≤ 16 whose work after the wait is short.
 *  - One block per 16-row block, ceil(Kt / UNR) warps (≤ 32); warp w owns supertiles [w·UNR, w·UNR + UNR) and
 *    issues all of their weight loads before tq_pdl_wait, so under PDL the whole launch streams while its
 *    predecessor runs (kernel2 issues a second batch after the wait: one more DRAM round trip).
 *  - After the wait q goes to shared memory, each supertile's 32 words permuted so that a lane's eight fragment
 *    words are contiguous: two 16-byte reads per supertile instead of eight 4-byte ones. At M = 1 each warp copies
 *    (and sums, for Σq) only its own k blocks and waits for itself alone; above, the block copies q together (two
 *    16-byte loads in flight per thread) and each warp sums a slice.
 *  - Decoding is one AND per 4 weights. Codes c = w + 1 ∈ {0,1,2} sit in bits 2r of each byte (tile16x128): the
 *    mask 3 << 2r leaves c·4^r, a valid u8 operand, for rows g (r = 0, 2) or g + 8 (r = 1, 3). Sums of one scale
 *    are kept apart and shifted out exactly at the end (|sum| ≤ 64 · 2 · 128 · K < 2^31 for K < 131072), and
 *    Σ c·q − Σ q = Σ w·q with Σ q summed from the staged copy.
 *    MMA (M ≤ 16): a mma's rows g and g + 8 land in different accumulator registers, so (r = 0, 1) share one
 *    accumulator set and (r = 2, 3) another: rows g hold 1·S and 16·S', rows g + 8 hold 4·S and 64·S'.
 *    DP4A (M = 1 only): each lane takes token 0 for its own rows, four dp4a sums (one per r) and no tensor
 *    core work: at M = 1 a mma wastes 7 of its 8 token columns, and this is faster on every shape measured.
 *  - One reduction over the warps in shared memory, then the epilogue of backend.h.
 * Why (dev/cuda/NOTES.md, session 6, H100): a chain of kernels that only stream the weights in this pattern runs
 * 13824×2560 in 3.6 µs where kernel2 took 6.0; the difference was the work after the wait (kernel2's 4-op decode
 * and 8-column MMAs, a block-wide barrier behind the copy of q), which no weight prefetch can hide. Needs
 * tq_gemv3_fits. */
#define TQ_GEMV3_QS_MAX (40 * 1024)
static inline __host__ __device__ int tq_gemv3_qpitch(int Kt) { return Kt * 128 + 16; } // + 16: rows g on other banks

/* 16 bytes of a q row from byte k, zeros from K on; VEC: K % 16 == 0 and the row 16-byte aligned */
template <bool VEC> __device__ __forceinline__ uint4 tq_q16(const int8_t *__restrict__ row, int k, int K) {
    if (k >= K)
        return make_uint4(0, 0, 0, 0);
    if (VEC)
        return __ldg((const uint4 *)(row + k));
    uint32_t v[4] = {0, 0, 0, 0};
    for (int e = 0; e < 16 && k + e < K; e++)
        v[e >> 2] |= (uint32_t)(uint8_t)row[k + e] << (8 * (e & 3));
    return make_uint4(v[0], v[1], v[2], v[3]);
}
/* 16-byte group v4 of a q row into its place in the staged row: word t + 4c of a supertile at t·8 + c */
__device__ __forceinline__ void tq_q16_put(uint32_t *row, int v4, uint4 x) {
    uint32_t *dst = row + (v4 >> 3) * 32 + (v4 & 7);
    dst[0] = x.x;
    dst[8] = x.y;
    dst[16] = x.z;
    dst[24] = x.w;
}

/* c + Σ_i a.u8[i] · b.s8[i] */
__device__ __forceinline__ int32_t tq_dp4a_us(uint32_t a, uint32_t b, int32_t c) {
    int32_t d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

template <int UNR, int NT, bool VEC, class OutT = float, bool DP4A = false>
__global__ void __launch_bounds__(1024)
    tq_gemv_kernel3(const uint4 *__restrict__ W, int Kt, const int8_t *__restrict__ q, const float *__restrict__ s,
                    int M, int N, int K, tq_segs sg, OutT *__restrict__ y, int accumulate, int early) {
    if (early)
        tq_pdl_trigger();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int kb0 = warp * UNR;
    const uint4 *Wb = W + ((size_t)blockIdx.x * Kt + kb0) * 32 + lane;
    uint4 w[UNR]; // past Kt: zero codes, which the masks turn into zero operands
#pragma unroll
    for (int u = 0; u < UNR; u++)
        w[u] = kb0 + u < Kt ? __ldcs(Wb + u * 32) : make_uint4(0, 0, 0, 0);
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();

    extern __shared__ __align__(16) uint8_t sm3[];
    int32_t *red = (int32_t *)sm3;     // [nw][NT][4][32]
    uint8_t *qs = sm3 + nw * NT * 512; // [M][qp], supertile words permuted: word t + 4c at t·8 + c
    __shared__ int32_t qpart[32][16];  // Σ q[m] over each warp's slice of the words
    const int qp = tq_gemv3_qpitch(Kt), groups = Kt * 8, total = DP4A ? 0 : M * groups; // 16-byte groups
    if (DP4A) { // M = 1: each warp stages its own k blocks and sums them, then waits for itself only
        constexpr int R = (UNR * 8 + 31) / 32;
        const int g0 = kb0 * 8, gn = min(UNR, Kt - kb0) * 8;
        uint4 x[R];
#pragma unroll
        for (int c = 0; c < R; c++) {
            const int v = lane + 32 * c;
            x[c] = v < gn ? tq_q16<VEC>(q, (g0 + v) * 16, K) : make_uint4(0, 0, 0, 0);
        }
        int32_t part = 0;
#pragma unroll
        for (int c = 0; c < R; c++) {
            const int v = lane + 32 * c, v4 = g0 + v;
            if (v >= gn)
                break;
            part = __dp4a((int)x[c].x, 0x01010101, part); // signed bytes
            part = __dp4a((int)x[c].y, 0x01010101, part);
            part = __dp4a((int)x[c].z, 0x01010101, part);
            part = __dp4a((int)x[c].w, 0x01010101, part);
            tq_q16_put((uint32_t *)qs, v4, x[c]);
        }
        part = __reduce_add_sync(0xffffffffu, part);
        if (lane == 0)
            qpart[warp][0] = part;
        __syncwarp();
    }
    for (int i0 = threadIdx.x; i0 < total; i0 += 2 * blockDim.x) { // (2: M = 1 in one round on every shape)
        uint4 x[2];
#pragma unroll
        for (int c = 0; c < 2; c++) {
            const int i = i0 + c * blockDim.x, m = i / groups;
            x[c] = i < total ? tq_q16<VEC>(q + (size_t)m * K, (i - m * groups) * 16, K) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int c = 0; c < 2; c++) {
            const int i = i0 + c * blockDim.x, m = i / groups;
            if (i >= total)
                break;
            tq_q16_put((uint32_t *)(qs + (size_t)m * qp), i - m * groups, x[c]);
        }
    }
    if (!DP4A) // the block staged q together
        __syncthreads();

    const uint32_t m0 = 0x03030303u, m1 = 0x0C0C0C0Cu, m2 = 0x30303030u, m3 = 0xC0C0C0C0u;
    int32_t acc[NT][4], acc2[NT][4]; // acc2: the (r = 2, 3) set of the MMA path
#pragma unroll
    for (int a = 0; a < NT; a++)
#pragma unroll
        for (int c = 0; c < 4; c++)
            acc[a][c] = acc2[a][c] = 0;
    if (DP4A) {
        int32_t d1 = 0, d4 = 0, d16 = 0, d64 = 0; // token 0: rows g (scales 1, 16), rows g + 8 (4, 64)
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            if (kb0 + u >= Kt) // warp-uniform
                break;
            const uint4 *src = (const uint4 *)qs + (kb0 + u) * 8 + t * 2;
            const uint4 b0 = src[0], b1 = src[1]; // b[c] = q[k0 + 16c], k0 = kb·128 + 4t; word j: b[2j], b[2j + 1]
            const uint32_t xs[4] = {w[u].x, w[u].y, w[u].z, w[u].w};
            const uint32_t lo[4] = {b0.x, b0.z, b1.x, b1.z}, hi[4] = {b0.y, b0.w, b1.y, b1.w};
#pragma unroll
            for (int j = 0; j < 4; j++) {
                d1 = tq_dp4a_us(xs[j] & m0, lo[j], d1);
                d4 = tq_dp4a_us(xs[j] & m1, lo[j], d4);
                d16 = tq_dp4a_us(xs[j] & m2, hi[j], d16);
                d64 = tq_dp4a_us(xs[j] & m3, hi[j], d64);
            }
        }
        // the 4 lanes t of a row hold parts of its sum; lane t = 0 takes token 0's place in the MMA layout
        // (c = 0: row g, c = 2: row g + 8; the store below shifts c ≥ 2 by 2, so those enter times 4)
        int32_t rg = d1 + (d16 >> 4), rg8 = (d4 >> 2) + (d64 >> 6);
        rg += __shfl_xor_sync(0xffffffffu, rg, 1);
        rg += __shfl_xor_sync(0xffffffffu, rg, 2);
        rg8 += __shfl_xor_sync(0xffffffffu, rg8, 1);
        rg8 += __shfl_xor_sync(0xffffffffu, rg8, 2);
        acc[0][0] = t == 0 ? rg : 0;
        acc[0][2] = t == 0 ? rg8 * 4 : 0;
    } else {
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            if (kb0 + u >= Kt) // warp-uniform
                break;
#pragma unroll
            for (int a = 0; a < NT; a++) {
                const int m = a * 8 + g;
                uint4 b0 = make_uint4(0, 0, 0, 0), b1 = b0;
                if (m < M) {
                    const uint4 *src = (const uint4 *)(qs + (size_t)m * qp) + (kb0 + u) * 8 + t * 2;
                    b0 = src[0];
                    b1 = src[1];
                }
                const uint4 x = w[u];
                tq_mma_u8(acc[a], x.x & m0, x.x & m1, x.y & m0, x.y & m1, b0.x, b0.z);
                tq_mma_u8(acc2[a], x.x & m2, x.x & m3, x.y & m2, x.y & m3, b0.y, b0.w);
                tq_mma_u8(acc[a], x.z & m0, x.z & m1, x.w & m0, x.w & m1, b1.x, b1.z);
                tq_mma_u8(acc2[a], x.z & m2, x.z & m3, x.w & m2, x.w & m3, b1.y, b1.w);
            }
        }
    }
    // Σ q[m] over this warp's slice of the staged words (the permutation keeps the sum)
    for (int m = 0; m < (DP4A ? 0 : M); m++) {
        const uint32_t *qr = (const uint32_t *)(qs + (size_t)m * qp);
        int32_t part = 0;
        for (int i = threadIdx.x; i < Kt * 32; i += blockDim.x)
            part = __dp4a((int)qr[i], 0x01010101, part); // signed bytes
        part = __reduce_add_sync(0xffffffffu, part);
        if (lane == 0)
            qpart[warp][m] = part;
    }
#pragma unroll
    for (int a = 0; a < NT; a++) {
        int32_t *r = red + (warp * NT + a) * 128 + lane;
        r[0] = acc[a][0] + (acc2[a][0] >> 4);
        r[32] = acc[a][1] + (acc2[a][1] >> 4);
        r[64] = (acc[a][2] >> 2) + (acc2[a][2] >> 6);
        r[96] = (acc[a][3] >> 2) + (acc2[a][3] >> 6);
    }
    __syncthreads();
    for (int e = threadIdx.x; e < NT * 4 * 32; e += blockDim.x) {
        const int a = e / 128, c = (e / 32) & 3, l = e & 31;
        const int n = blockIdx.x * 16 + (l >> 2) + 8 * (c >> 1);
        const int m = a * 8 + 2 * (l & 3) + (c & 1);
        if (n < N && m < M) {
            int32_t sum = 0;
            for (int v = 0; v < nw; v++)
                sum += red[v * NT * 128 + e] - qpart[v][m];
            tq_store(y, (size_t)m * N + n, sum, s[m], tq_seg_scale(sg, n), accumulate);
        }
    }
}

/* warps of tq_gemv_kernel3 for Kt k blocks (0: more than a block may have) and its dynamic shared memory */
static inline int tq_gemv3_warps(int Kt, int unr) { return (Kt + unr - 1) / unr <= 32 ? (Kt + unr - 1) / unr : 0; }
static inline int tq_gemv3_smem(int warps, int M, int Kt) {
    return warps * (M <= 8 ? 1 : 2) * 512 + M * tq_gemv3_qpitch(Kt);
}
/* whether kernel3 with UNR takes an M-token call (else kernel2) */
static inline bool tq_gemv3_fits(int M, int Kt, int unr) {
    return M <= 16 && tq_gemv3_warps(Kt, unr) && M * tq_gemv3_qpitch(Kt) <= TQ_GEMV3_QS_MAX;
}

/* once: allow the largest shared-memory layout (over 48 KB) */
template <int UNR, class OutT = float> static inline cudaError_t tq_gemv3_init() {
    const int bytes = 32 * 2 * 512 + TQ_GEMV3_QS_MAX;
    cudaError_t e = cudaSuccess;
    auto set = [&](auto kern) {
        if (e == cudaSuccess)
            e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    };
    set(tq_gemv_kernel3<UNR, 1, true, OutT>);
    set(tq_gemv_kernel3<UNR, 1, false, OutT>);
    set(tq_gemv_kernel3<UNR, 2, true, OutT>);
    set(tq_gemv_kernel3<UNR, 2, false, OutT>);
    set(tq_gemv_kernel3<UNR, 1, true, OutT, true>);
    set(tq_gemv_kernel3<UNR, 1, false, OutT, true>);
    return e;
}

/* host: M ≤ 16 tokens, PDL mode pdl; dp4a: the dp4a path where M = 1; cudaErrorInvalidValue where !tq_gemv3_fits */
template <int UNR, class OutT = float>
static inline cudaError_t tq_gemv3_run(cudaStream_t st, int pdl, const uint4 *W, int Kt, const int8_t *q,
                                       const float *s, int M, int N, int K, tq_segs sg, OutT *y, int accumulate,
                                       bool vec, bool dp4a = true) {
    if (!tq_gemv3_fits(M, Kt, UNR))
        return cudaErrorInvalidValue;
    const int warps = tq_gemv3_warps(Kt, UNR);
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3((N + 15) / 16);
    cfg.blockDim = dim3(32 * warps);
    cfg.dynamicSmemBytes = tq_gemv3_smem(warps, M, Kt);
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = tq_pdl_attr(attr, pdl);
    const int early = pdl == TQ_PDL_EARLY;
    auto go = [&](auto kern) { return cudaLaunchKernelEx(&cfg, kern, W, Kt, q, s, M, N, K, sg, y, accumulate, early); };
    if (M == 1 && dp4a)
        return vec ? go(tq_gemv_kernel3<UNR, 1, true, OutT, true>) : go(tq_gemv_kernel3<UNR, 1, false, OutT, true>);
    if (M <= 8)
        return vec ? go(tq_gemv_kernel3<UNR, 1, true, OutT>) : go(tq_gemv_kernel3<UNR, 1, false, OutT>);
    return vec ? go(tq_gemv_kernel3<UNR, 2, true, OutT>) : go(tq_gemv_kernel3<UNR, 2, false, OutT>);
}

// ------------------------------------------------------------------------------------------------ GEMM (M > 16)

#define TQ_GEMM_APITCH 144 /* bytes per token row in shared memory: 128 + 16 so 16-byte reads of rows g hit distinct banks */

__device__ __forceinline__ void tq_cp_async16(void *smem, const void *gmem, bool pred) {
    const unsigned sa = (unsigned)__cvta_generic_to_shared(smem);
    const int n = pred ? 16 : 0; // 0: nothing is read, the 16 bytes are zero-filled
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sa), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void tq_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void tq_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/* Block shape of the GEMM: WN × WM warps; each warp computes 4 row blocks (64 rows) × TA token tiles (8·TA
 * tokens); STAGES-deep cp.async pipeline over k steps of 128. UNS: weights enter the mma as unsigned codes
 * w+1 ∈ {0,1,2} (u8 × s8 mma, 2 integer ops per 4 weights instead of 4) and Σ_k q[m][k] is subtracted in the
 * epilogue (acc = Σ (w+1)·q − Σ q, exact). MINB: blocks per SM asked of the compiler (register budget). */
template <int WN_, int WM_, int TA_, int STAGES_, bool UNS_, int MINB_> struct tq_gemm_cfg {
    static constexpr int WN = WN_, WM = WM_, TA = TA_, STAGES = STAGES_, MINB = MINB_;
    static constexpr bool UNS = UNS_;
    static constexpr int THREADS = 32 * WN * WM;
    static constexpr int BN = 64 * WN;     // weight rows per block
    static constexpr int BM = 8 * TA * WM; // tokens per block
    static constexpr int WBYTES = BN / 16 * TQ_ST_BYTES;
    static constexpr int ABYTES = BM * TQ_GEMM_APITCH;
    static constexpr int SMEM = STAGES * (WBYTES + ABYTES);
};
typedef tq_gemm_cfg<2, 4, 4, 3, false, 1> tq_gemm4_cfg; // kernel4: 128 × 128, 8 warps of 64 × 32, signed decode
typedef tq_gemm_cfg<2, 4, 4, 3, true, 1> tq_gemm5_cfg;  // kernel5: kernel4 with unsigned codes + Σq
typedef tq_gemm_cfg<2, 4, 4, 3, true, 2> tq_gemm6_cfg;  // kernel6: kernel5 at 2 blocks per SM (≤ 128 registers)
typedef tq_gemm_cfg<2, 4, 8, 3, true, 1> tq_gemm7_cfg;  // kernel7: 128 × 256, warps of 64 × 64, unsigned + Σq


/* grid: (ceil(N/BN), ceil(M/BM)); block C::THREADS; dynamic smem C::SMEM. Needs K % 16 == 0 and q 16-aligned. */
template <class C, class OutT = float>
__global__ void __launch_bounds__(C::THREADS, C::MINB)
    tq_gemm_kernel(const uint4 *__restrict__ W, int Kt, const int8_t *__restrict__ q, const float *__restrict__ s,
                   int M, int N, int K, tq_segs sg, OutT *__restrict__ y, int accumulate) {
    extern __shared__ __align__(16) uint8_t smem[];
    constexpr int TA = C::TA;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int wn = warp / C::WM, wm = warp % C::WM;
    const int Nb = (N + 15) / 16;
    const int nb0 = blockIdx.x * (C::BN / 16), m0 = blockIdx.y * C::BM;

    auto load_stage = [&](int stage, int kb) {
        uint8_t *sw = smem + stage * (C::WBYTES + C::ABYTES);
        uint8_t *sa = sw + C::WBYTES;
#pragma unroll
        for (int e = tid; e < C::BN * 2; e += C::THREADS) { // weights: BN/16 row blocks × 32 chunks of 16 bytes
            const int rb = e >> 5, c = e & 31;
            const bool ok = nb0 + rb < Nb;
            const uint4 *src = ok ? W + ((size_t)(nb0 + rb) * Kt + kb) * 32 + c : W;
            tq_cp_async16(sw + rb * TQ_ST_BYTES + c * 16, src, ok);
        }
#pragma unroll
        for (int e = tid; e < C::BM * 8; e += C::THREADS) { // activations: BM tokens × 8 chunks of 16 bytes
            const int row = e >> 3, c = e & 7;
            const int m = m0 + row, k = kb * 128 + c * 16;
            const bool ok = m < M && k < K;
            const int8_t *src = ok ? q + (size_t)m * K + k : q;
            tq_cp_async16(sa + row * TQ_GEMM_APITCH + c * 16, src, ok);
        }
    };

    int32_t acc[4][TA][4];
    int32_t qsum[TA]; // UNS: this lane's part of Σ_k q[token g of tile a][k] (its 32 bytes of each k step)
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int a = 0; a < TA; a++)
            acc[i][a][0] = acc[i][a][1] = acc[i][a][2] = acc[i][a][3] = 0;
#pragma unroll
    for (int a = 0; a < TA; a++)
        qsum[a] = 0;

#pragma unroll
    for (int st = 0; st < C::STAGES - 1; st++) {
        if (st < Kt)
            load_stage(st, st);
        tq_cp_commit();
    }
    for (int kb = 0; kb < Kt; kb++) {
        tq_cp_wait<C::STAGES - 2>();
        __syncthreads(); // stage kb visible to all; the stage read in iteration kb-1 is free again
        const int nxt = kb + C::STAGES - 1;
        if (nxt < Kt)
            load_stage(nxt % C::STAGES, nxt);
        tq_cp_commit();

        const uint8_t *sw = smem + (kb % C::STAGES) * (C::WBYTES + C::ABYTES);
        const uint8_t *sa = sw + C::WBYTES;
        uint4 w[4];
#pragma unroll
        for (int i = 0; i < 4; i++)
            w[i] = *(const uint4 *)(sw + (wn * 4 + i) * TQ_ST_BYTES + lane * 16);
#pragma unroll
        for (int h = 0; h < 2; h++) { // k steps 2h, 2h+1: activation words [32j + 4t] and [32j + 16 + 4t]
            uint32_t b[TA][4];
#pragma unroll
            for (int a = 0; a < TA; a++) {
                const uint8_t *row = sa + (wm * TA * 8 + a * 8 + g) * TQ_GEMM_APITCH + 64 * h + 4 * t;
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    b[a][e] = *(const uint32_t *)(row + 16 * e);
                    if (C::UNS)
                        qsum[a] = __dp4a((int)b[a][e], 0x01010101, qsum[a]);
                }
            }
#pragma unroll
            for (int jj = 0; jj < 2; jj++) {
                const int j = 2 * h + jj;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const uint32_t ww = j == 0 ? w[i].x : j == 1 ? w[i].y : j == 2 ? w[i].z : w[i].w;
                    if (C::UNS) {
                        const uint32_t a0 = ww & 0x03030303u, a1 = (ww >> 2) & 0x03030303u,
                                       a2 = (ww >> 4) & 0x03030303u, a3 = (ww >> 6) & 0x03030303u;
#pragma unroll
                        for (int a = 0; a < TA; a++)
                            tq_mma_u8(acc[i][a], a0, a1, a2, a3, b[a][2 * jj], b[a][2 * jj + 1]);
                    } else {
                        const uint32_t a0 = tq_decode(ww, 0), a1 = tq_decode(ww, 1), a2 = tq_decode(ww, 2),
                                       a3 = tq_decode(ww, 3);
#pragma unroll
                        for (int a = 0; a < TA; a++)
                            tq_mma(acc[i][a], a0, a1, a2, a3, b[a][2 * jj], b[a][2 * jj + 1]);
                    }
                }
            }
        }
    }
    tq_cp_wait<0>();

    // UNS: Σq of token g of tile a over the 4 lanes t, then fetched for the tokens 2t, 2t+1 this lane's C holds
    int32_t corr[TA][2];
#pragma unroll
    for (int a = 0; a < TA; a++) {
        int32_t v = qsum[a];
        if (C::UNS) {
            v += __shfl_xor_sync(0xffffffffu, v, 1);
            v += __shfl_xor_sync(0xffffffffu, v, 2);
        }
        corr[a][0] = C::UNS ? __shfl_sync(0xffffffffu, v, (2 * t) * 4) : 0;
        corr[a][1] = C::UNS ? __shfl_sync(0xffffffffu, v, (2 * t + 1) * 4) : 0;
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int nbase = (nb0 + wn * 4 + i) * 16 + g;
#pragma unroll
        for (int a = 0; a < TA; a++) {
            const int mbase = m0 + wm * TA * 8 + a * 8 + 2 * t;
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const int n = nbase + 8 * (c >> 1), m = mbase + (c & 1);
                if (n < N && m < M)
                    tq_store(y, (size_t)m * N + n, acc[i][a][c] - corr[a][c & 1], s[m], tq_seg_scale(sg, n),
                             accumulate);
            }
        }
    }
}

/* host: launch GEMM variant C on a stream */
template <class C, class OutT = float>
static inline void tq_gemm_launch(cudaStream_t st, const uint4 *W, int Kt, const int8_t *q, const float *s, int M,
                                  int N, int K, tq_segs sg, OutT *y, int accumulate) {
    const dim3 grid((N + C::BN - 1) / C::BN, (M + C::BM - 1) / C::BM);
    tq_gemm_kernel<C, OutT><<<grid, C::THREADS, C::SMEM, st>>>(W, Kt, q, s, M, N, K, sg, y, accumulate);
}
template <class C, class OutT = float> static inline cudaError_t tq_gemm_init() {
    return cudaFuncSetAttribute(tq_gemm_kernel<C, OutT>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM);
}

#endif
