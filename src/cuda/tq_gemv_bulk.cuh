/* tq_gemv_bulk.cuh — the W2A8 GEMV for M ≤ 16 tokens on sm_90: the weights stream through the bulk copy engine.
 * Device code and its host launcher; include from .cu files only, after tq_kernels.cuh (the weight layout).
 *
 * Why: the register-prefetch GEMV (tq_gemv_kernel2) keeps at most UNROLL 16-byte loads per lane in flight and one
 * CTA per 16-row block, so large matrices reach ~50 % of the copy bandwidth and short ones wait on a DRAM round
 * trip after the previous kernel. Here:
 *  - CTA b owns the row blocks [b·Nb/G, (b+1)·Nb/G), which in the tile16x128 layout are ONE contiguous byte
 *    range; a producer warp streams it into a ring of SLOTS shared-memory chunks with cp.async.bulk, each chunk
 *    completing on its mbarrier. The first SLOTS chunks are requested before griddepcontrol.wait: under
 *    programmatic dependent launch they arrive while the previous kernel still runs.
 *  - After griddepcontrol.wait, the M activation rows are bulk-copied into shared memory too (rows padded by 16
 *    bytes so that 8 token rows hit different banks), one round trip for the whole kernel.
 *  - WARPS consumer warps take the chunk's supertiles round robin (supertile s of the CTA is row block s / Kt,
 *    k block s % Kt), run the same mma.m16n8k32 as the register GEMV, and add their partial sums of a row block
 *    into shared memory (integer atomics: exact in any order) when they move to the next row block.
 *  - After the last chunk the consumers apply the epilogue of backend.h to the CTA's rows.
 * Needs compute capability 9.0+ (the dispatcher checks); other passes compile to a trap. */
#ifndef TRIT_CUDA_TQ_GEMV_BULK_CUH
#define TRIT_CUDA_TQ_GEMV_BULK_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/tq_async.cuh"
#include "cuda/tq_kernels.cuh"

#define TQB_SLOTS 4
#define TQB_CHUNK 16384 /* bytes per slot: 32 supertiles */
#define TQB_SPC (TQB_CHUNK / TQ_ST_BYTES)
#define TQB_RMAX 16        /* row blocks per CTA at most (the reduction buffer) */
#define TQB_QMAX 65536     /* activation bytes in shared memory at most: M · (K + 16) */
#define TQB_SMEM_MAX (227 * 1024)

/* shared memory: the weight slots, the reduction buffer, the barriers, then the activation rows */
template <int NT> struct tqb_smem {
    static constexpr int RED = TQB_RMAX * NT * 4 * 32 * 4; // int32 partial sums [r][NT][4][32]
    static constexpr int FIXED = TQB_SLOTS * TQB_CHUNK + RED + (2 * TQB_SLOTS + 2) * 8;
};

/* Whether the bulk GEMV takes this call: K % 16 == 0 and q 16-byte aligned (VEC), activations fit TQB_QMAX */
static inline bool tq_gemv_bulk_fits(int M, int K, bool vec) { return vec && M <= 16 && (long)M * (K + 16) <= TQB_QMAX; }

/* grid: G CTAs, each ≤ TQB_RMAX row blocks; block 32·(WARPS + 1); dynamic shared memory FIXED + M·(K + 16) */
template <int WARPS, int NT>
__global__ void __launch_bounds__(32 * (WARPS + 1))
    tq_gemv_bulk_kernel(const uint8_t *__restrict__ W, int Kt, const int8_t *__restrict__ q,
                        const float *__restrict__ s, int M, int N, int K, tq_segs sg, float *__restrict__ y,
                        int accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(16) uint8_t smem[];
    int32_t *red = (int32_t *)(smem + TQB_SLOTS * TQB_CHUNK);
    uint64_t *full = (uint64_t *)(smem + TQB_SLOTS * TQB_CHUNK + tqb_smem<NT>::RED), *empty = full + TQB_SLOTS;
    uint64_t *qbar = empty + TQB_SLOTS;
    int8_t *sq = (int8_t *)(smem + tqb_smem<NT>::FIXED);
    const int qpitch = K + 16;
    const int Nb = (N + 15) / 16, G = gridDim.x;
    const int rb_lo = (int)((long)blockIdx.x * Nb / G), rb_hi = (int)((long)(blockIdx.x + 1) * Nb / G);
    const int n_st = (rb_hi - rb_lo) * Kt; // supertiles of this CTA, contiguous from rb_lo * Kt
    const int n_chunks = (n_st + TQB_SPC - 1) / TQB_SPC;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    for (int i = threadIdx.x; i < (rb_hi - rb_lo) * NT * 4 * 32; i += blockDim.x)
        red[i] = 0;
    if (threadIdx.x == 0) {
        for (int i = 0; i < TQB_SLOTS; i++) {
            tq_mbar_init(&full[i], 1);
            tq_mbar_init(&empty[i], WARPS);
        }
        tq_mbar_init(qbar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (warp == WARPS) { // producer: weights do not depend on the previous kernel, no griddepcontrol.wait
        if (lane == 0) {
            const uint8_t *src = W + (size_t)rb_lo * Kt * TQ_ST_BYTES;
            for (int c = 0; c < n_chunks; c++) {
                const int slot = c % TQB_SLOTS;
                if (c >= TQB_SLOTS)
                    tq_mbar_wait(&empty[slot], ((c / TQB_SLOTS) & 1) ^ 1);
                const uint32_t bytes = (uint32_t)min(TQB_SPC, n_st - c * TQB_SPC) * TQ_ST_BYTES;
                tq_mbar_expect_tx(&full[slot], bytes);
                tq_bulk_copy(smem + slot * TQB_CHUNK, src + (size_t)c * TQB_CHUNK, bytes, &full[slot]);
            }
        }
        return;
    }

    tq_pdl_wait(); // the activations come from the previous kernel
    tq_pdl_trigger();
    if (threadIdx.x == 0) {
        tq_mbar_expect_tx(qbar, (uint32_t)(M * K));
        for (int m = 0; m < M; m++)
            tq_bulk_copy(sq + (size_t)m * qpitch, q + (size_t)m * K, (uint32_t)K, qbar);
    }
    const int g = lane >> 2, t = lane & 3;
    tq_mbar_wait(qbar, 0);
    int32_t acc[NT][4];
    int r_cur = -1;
    auto flush = [&]() {
        if (r_cur < 0)
            return;
        int32_t *rr = red + (size_t)r_cur * NT * 128;
#pragma unroll
        for (int a = 0; a < NT; a++)
#pragma unroll
            for (int c = 0; c < 4; c++)
                atomicAdd(&rr[(a * 4 + c) * 32 + lane], acc[a][c]);
    };
    for (int c = 0; c < n_chunks; c++) {
        const int slot = c % TQB_SLOTS;
        tq_mbar_wait(&full[slot], (c / TQB_SLOTS) & 1);
        const int s_end = min(TQB_SPC, n_st - c * TQB_SPC);
        for (int i = warp; i < s_end; i += WARPS) {
            const int st = c * TQB_SPC + i, r = st / Kt, kb = st - r * Kt;
            if (r != r_cur) {
                flush();
                r_cur = r;
#pragma unroll
                for (int a = 0; a < NT; a++)
                    acc[a][0] = acc[a][1] = acc[a][2] = acc[a][3] = 0;
            }
            const uint4 w = *(const uint4 *)(smem + slot * TQB_CHUNK + i * TQ_ST_BYTES + lane * 16);
#pragma unroll
            for (int a = 0; a < NT; a++) {
                const int m = a * 8 + g, k0 = kb * 128 + 4 * t;
                const int8_t *row = sq + (size_t)m * qpitch + k0;
                uint32_t b[8];
#pragma unroll
                for (int cc = 0; cc < 8; cc++) // K % 16 == 0: each 4 bytes all in or all out
                    b[cc] = m < M && k0 + 16 * cc < K ? *(const uint32_t *)(row + 16 * cc) : 0u;
                tq_mma_supertile(acc[a], w, b);
            }
        }
        __syncwarp();
        if (lane == 0)
            tq_mbar_arrive(&empty[slot]);
    }
    flush();
    asm volatile("bar.sync 1, %0;\n" ::"n"(32 * WARPS) : "memory"); // the consumer warps only

    for (int e = threadIdx.x; e < (rb_hi - rb_lo) * NT * 128; e += 32 * WARPS) {
        const int r = e / (NT * 128), a = (e / 128) % NT, cc = (e / 32) & 3, l = e & 31;
        const int n = (rb_lo + r) * 16 + (l >> 2) + 8 * (cc >> 1);
        const int m = a * 8 + 2 * (l & 3) + (cc & 1);
        if (n < N && m < M)
            tq_store(y, (size_t)m * N + n, red[e], s[m], tq_seg_scale(sg, n), accumulate);
    }
#else
    __trap(); // never launched below sm_90 (tq_gemv_bulk_supported)
#endif
}

/* host ------------------------------------------------------------------------------------------------------ */

static inline bool tq_gemv_bulk_supported(int device) {
    int major = 0;
    return cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
}

template <int WARPS> static inline cudaError_t tq_gemv_bulk_init() {
    cudaError_t e = cudaFuncSetAttribute(tq_gemv_bulk_kernel<WARPS, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         TQB_SMEM_MAX);
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(tq_gemv_bulk_kernel<WARPS, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 TQB_SMEM_MAX);
    return e;
}

/* CTAs for Nb row blocks: one per row block up to cps CTAs per SM, then fewer, fatter CTAs (≤ TQB_RMAX rows) */
static inline int tq_gemv_bulk_grid(int Nb, int n_sm, int cps) {
    int G = Nb < cps * n_sm ? Nb : cps * n_sm;
    if ((Nb + G - 1) / G > TQB_RMAX)
        G = (Nb + TQB_RMAX - 1) / TQB_RMAX;
    return G;
}

/* M ≤ 16 tokens; launched with programmatic dependent launch when pdl */
template <int WARPS>
static inline cudaError_t tq_gemv_bulk_run(cudaStream_t st, bool pdl, int n_sm, int cps, const uint4 *W, int Kt,
                                           const int8_t *q, const float *s, int M, int N, int K, tq_segs sg,
                                           float *y, int accumulate, bool vec) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3(tq_gemv_bulk_grid((N + 15) / 16, n_sm, cps));
    cfg.blockDim = dim3(32 * (WARPS + 1));
    cfg.stream = st;
    if (pdl) {
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
    }
    if (!tq_gemv_bulk_fits(M, K, vec))
        return cudaErrorInvalidValue;
    const uint8_t *w = (const uint8_t *)W;
    const int qbytes = M * (K + 16);
    if (M <= 8) {
        cfg.dynamicSmemBytes = tqb_smem<1>::FIXED + qbytes;
        return cudaLaunchKernelEx(&cfg, tq_gemv_bulk_kernel<WARPS, 1>, w, Kt, q, s, M, N, K, sg, y, accumulate);
    }
    cfg.dynamicSmemBytes = tqb_smem<2>::FIXED + qbytes;
    return cudaLaunchKernelEx(&cfg, tq_gemv_bulk_kernel<WARPS, 2>, w, Kt, q, s, M, N, K, sg, y, accumulate);
}

#endif
