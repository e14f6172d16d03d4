/* tq_gemv_bulk.cuh — the W2A8 GEMV for M ≤ 16 tokens on sm_90: the weights stream through the bulk copy engine.
 * Device code and its host launcher; include from .cu files only, after tq_kernels.cuh (the weight layout).
 *
 * Why: the register-prefetch GEMV (tq_gemv_kernel2) keeps at most UNROLL 16-byte loads per lane in flight and one
 * CTA per 16-row block, so large matrices reach ~50 % of the copy bandwidth and short ones wait on a DRAM round
 * trip after the previous kernel. Here:
 *  - CTA b owns the row blocks [b·Nb/G, (b+1)·Nb/G), which in the tile16x128 layout are ONE contiguous byte
 *    range; a producer warp streams it into a ring of up to SLOTS shared-memory chunks with cp.async.bulk, each
 *    chunk completing on its mbarrier. The first chunks are requested before griddepcontrol.wait: under
 *    programmatic dependent launch they arrive while the previous kernel still runs (time stamps: 1.8–4.2 µs
 *    after the CTA starts, before the wait returns). Shared memory is sized to what the launch needs, so two
 *    consecutive GEMVs' CTAs fit on one SM.
 *  - After griddepcontrol.wait the consumers copy the M activation rows into shared memory, permuted so that a
 *    lane's 8 B-fragment words of a k block are 32 contiguous bytes (two 16-byte loads), and sum each row
 *    (Σq, see below).
 *  - Each of the WARPS consumer warps takes a contiguous run of the chunk's supertiles (supertile s of the CTA
 *    is row block s / Kt, k block s % Kt) and runs mma.m16n8k32 on UNSIGNED codes w + 1 ∈ {0,1,2} (u8 × s8:
 *    2 integer ops per 4 weights to decode instead of 4; acc = Σ (w+1)·q − Σq, exact), one accumulator chain
 *    per k32 step for ILP, and adds its partial sums of a row block into shared memory (integer atomics: exact
 *    in any order) when it moves to the next row block (runs, not round robin: a warp meets few row blocks).
 *  - After the last chunk the consumers apply the epilogue of backend.h to the CTA's rows.
 * Measured (dev/cuda/NOTES.md, session 3): faster than the register GEMV on short-row shapes launched back to back
 * from a graph (2560² 2.94 against 3.16 µs), slower on tall or long ones and in the 2B-4T decode step, so
 * matmul_tq's AUTO does not pick it. Needs compute capability 9.0+ (the dispatcher checks); other passes compile
 * to a trap. */
#ifndef TRIT_CUDA_TQ_GEMV_BULK_CUH
#define TRIT_CUDA_TQ_GEMV_BULK_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "cuda/tq_async.cuh"
#include "cuda/tq_kernels.cuh"

#define TQB_CHUNK 16384 /* bytes per slot: 32 supertiles (4 KB chunks measured slower: per-chunk overhead) */
#define TQB_SPC (TQB_CHUNK / TQ_ST_BYTES)
#define TQB_RMAX 16        /* row blocks per CTA at most (the reduction buffer) */
#define TQB_QMAX 65536     /* activation bytes in shared memory at most: M · (Kp + 16) */
#define TQB_SMEM_MAX (200 * 1024) /* ≥ the largest layout (4 slots, 16 row blocks × 2 token tiles, TQB_QMAX) */

/* Shared memory of one launch: slots × chunk, the reduction buffer [rmax][NT][4][32] int32, the barriers, Σq,
 * then the activation rows. */
struct tqb_layout {
    int slots, rmax, red_off, bar_off, qsum_off, act_off, bytes;
};
static __host__ __device__ inline tqb_layout tqb_layout_of(int slots, int rmax, int NT, int M, int Kt) {
    tqb_layout L;
    L.slots = slots;
    L.rmax = rmax;
    L.red_off = slots * TQB_CHUNK;
    L.bar_off = L.red_off + rmax * NT * 4 * 32 * 4;
    L.qsum_off = L.bar_off + (2 * slots) * 8;
    L.act_off = L.qsum_off + 16 * 4;
    L.bytes = L.act_off + M * (Kt * 128 + 16);
    return L;
}

/* Whether the bulk GEMV takes this call: K % 16 == 0 and q 16-byte aligned (VEC), activations fit TQB_QMAX */
static inline bool tq_gemv_bulk_fits(int M, int K, bool vec) {
    return vec && M <= 16 && (long)M * ((K + 127) / 128 * 128 + 16) <= TQB_QMAX;
}

/* Workbench tracing (dev/cuda/gemv_trace.cu defines TQB_TRACE): time stamps of each CTA of consecutive launches
 * into tqb_trace_buf[launch][cta][TQB_EV], the launch counted per CTA index in tqb_trace_count; compiled out of
 * the product. Events (clock64 unless said): 0 start, 1 wait returned, 2 activations in shared memory, 3 first
 * chunk ready, 4 last chunk ready, 5 MMAs and reduction done, 6 stores done, 7 SM id, 8 start, 9 end and
 * 10 wait returned (globaltimer, ns); 11 first chunk and 12 the last chunk of the first ring fill arrived, as seen
 * by the producer (which waits for them only when tracing); 13 the activations' global loads returned; 14 warp 0
 * done with chunk 0; 15 warp 0's last flush done (before the barrier). */
#define TQB_EV 16
#define TQB_TRACE_LAUNCHES 64
#define TQB_TRACE_CTAS 512
#ifdef TQB_TRACE
__device__ unsigned long long *tqb_trace_buf;
__device__ unsigned int tqb_trace_count[TQB_TRACE_CTAS];
__device__ __forceinline__ void tqb_trace(int launch, int ev, bool global_time = false) {
    unsigned long long t;
    if (global_time)
        asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
    else
        t = clock64();
    if (ev == 7)
        asm volatile("mov.u32 %0, %%smid;\n" : "=r"(*(unsigned *)&t));
    if (tqb_trace_buf && launch < TQB_TRACE_LAUNCHES && blockIdx.x < TQB_TRACE_CTAS)
        tqb_trace_buf[((size_t)launch * TQB_TRACE_CTAS + blockIdx.x) * TQB_EV + ev] = ev == 7 ? (t & 0xffffffffu) : t;
}
#define TQB_TRACE_LAUNCH()                                                                             \
    __shared__ int tqb_launch_;                                                                        \
    if (threadIdx.x == 0)                                                                              \
        tqb_launch_ = blockIdx.x < TQB_TRACE_CTAS ? (int)atomicAdd(&tqb_trace_count[blockIdx.x], 1u) : 0;
#define TQB_EVENT(ev, ...) tqb_trace(tqb_launch_, (ev), ##__VA_ARGS__)
#else
#define TQB_TRACE_LAUNCH()
#define TQB_EVENT(ev, ...) \
    do {                   \
    } while (0)
#endif

/* grid: G CTAs, each ≤ TQB_RMAX row blocks; block 32·(WARPS + 1); dynamic shared memory tqb_layout_of(...).bytes
 * with slots ≤ SLOTS (the host passes the layout's slots). early: see TQ_PDL_EARLY. */
template <int WARPS, int NT, int SLOTS>
__global__ void __launch_bounds__(32 * (WARPS + 1))
    tq_gemv_bulk_kernel(const uint8_t *__restrict__ W, int Kt, const int8_t *__restrict__ q,
                        const float *__restrict__ s, int M, int N, int K, tq_segs sg, float *__restrict__ y,
                        int accumulate, int slots, int early) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (early)
        tq_pdl_trigger();
    TQB_TRACE_LAUNCH();
    if (threadIdx.x == 0) {
        TQB_EVENT(0);
        TQB_EVENT(8, true);
        TQB_EVENT(7);
    }
    extern __shared__ __align__(16) uint8_t smem[];
    const int Nb = (N + 15) / 16, G = gridDim.x;
    const tqb_layout L = tqb_layout_of(slots, (Nb + G - 1) / G, NT, M, Kt);
    int32_t *red = (int32_t *)(smem + L.red_off);
    uint64_t *full = (uint64_t *)(smem + L.bar_off), *empty = full + slots;
    int32_t *qsum = (int32_t *)(smem + L.qsum_off);
    int8_t *sq = (int8_t *)(smem + L.act_off);
    const int qpitch = Kt * 128 + 16;
    const int rb_lo = (int)((long)blockIdx.x * Nb / G), rb_hi = (int)((long)(blockIdx.x + 1) * Nb / G);
    const int n_st = (rb_hi - rb_lo) * Kt; // supertiles of this CTA, contiguous from rb_lo * Kt
    const int n_chunks = (n_st + TQB_SPC - 1) / TQB_SPC;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;

    if (threadIdx.x == 0) {
        for (int i = 0; i < slots; i++) {
            tq_mbar_init(&full[i], 1);
            tq_mbar_init(&empty[i], WARPS);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    for (int i = threadIdx.x; i < (rb_hi - rb_lo) * NT * 4 * 32; i += blockDim.x)
        red[i] = 0;
    if (threadIdx.x < 16)
        qsum[threadIdx.x] = 0;
    __syncthreads();

    if (warp == WARPS) { // producer: weights do not depend on the previous kernel, no griddepcontrol.wait
        if (lane == 0) {
            const uint8_t *src = W + (size_t)rb_lo * Kt * TQ_ST_BYTES;
            for (int c = 0; c < n_chunks; c++) {
                const int slot = c % slots;
                if (c >= slots)
                    tq_mbar_wait(&empty[slot], ((c / slots) & 1) ^ 1);
                const uint32_t bytes = (uint32_t)min(TQB_SPC, n_st - c * TQB_SPC) * TQ_ST_BYTES;
                tq_mbar_expect_tx(&full[slot], bytes);
                tq_bulk_copy(smem + slot * TQB_CHUNK, src + (size_t)c * TQB_CHUNK, bytes, &full[slot]);
#ifdef TQB_TRACE
                if (c == min(slots, n_chunks) - 1) { // arrival times of the first fill, independent of consumers
                    tq_mbar_wait(&full[0], 0);
                    TQB_EVENT(11);
                    tq_mbar_wait(&full[c], 0);
                    TQB_EVENT(12);
                }
#endif
            }
        }
        return;
    }

    tq_pdl_wait(); // the activations come from the previous kernel
    if (!early)
        tq_pdl_trigger();
    if (threadIdx.x == 0) {
        TQB_EVENT(1);
        TQB_EVENT(10, true);
    }
    // activations: 16 bytes of row m at k0 = kb·128 + 16c hold lane t's word c of k block kb for t = 0..3;
    // stored at row m, byte kb·128 + 32t + 4c (a lane's 8 words contiguous), zeros past K; Σq by dp4a
    const int chunks16 = Kt * 8;
    for (int e0 = 0; e0 < M * chunks16; e0 += 32 * WARPS) { // uniform trip count: whole warps in the shuffles
        const int e = e0 + threadIdx.x, m = e < M * chunks16 ? e / chunks16 : M - 1, i = e - m * chunks16;
        const int kb = i >> 3, c = i & 7, k0 = kb * 128 + 16 * c;
        const bool in = e < M * chunks16;
        const uint4 v = in && k0 < K ? __ldg((const uint4 *)(q + (size_t)m * K + k0)) : make_uint4(0, 0, 0, 0);
        if (in) {
            uint32_t *dst = (uint32_t *)(sq + (size_t)m * qpitch + kb * 128 + 4 * c);
            dst[0] = v.x, dst[8] = v.y, dst[16] = v.z, dst[24] = v.w;
        }
#ifdef TQB_TRACE
        if (threadIdx.x == 0 && e0 == 0 && v.x != 0x7fffffffu) // after the load returned (a use of v)
            TQB_EVENT(13);
#endif
        int sum = __dp4a((int)v.x, 0x01010101, 0);
        sum = __dp4a((int)v.y, 0x01010101, sum);
        sum = __dp4a((int)v.z, 0x01010101, sum);
        sum = __dp4a((int)v.w, 0x01010101, sum);
        const unsigned same = __match_any_sync(0xffffffffu, m); // lanes of the same row: one shared atomic
        sum = __reduce_add_sync(same, sum);
        if (lane == __ffs(same) - 1)
            atomicAdd(&qsum[m], sum);
    }
    asm volatile("bar.sync 1, %0;\n" ::"n"(32 * WARPS) : "memory"); // the consumer warps only
    if (threadIdx.x == 0)
        TQB_EVENT(2);

    const int g = lane >> 2, t = lane & 3;
    int32_t acc[NT][4][4]; // [token tile][k32 step j: independent chains][fragment]
    int r_cur = -1;
    auto flush = [&]() {
        if (r_cur < 0)
            return;
        int32_t *rr = red + (size_t)r_cur * NT * 128;
#pragma unroll
        for (int a = 0; a < NT; a++)
#pragma unroll
            for (int c = 0; c < 4; c++)
                atomicAdd(&rr[(a * 4 + c) * 32 + lane], acc[a][0][c] + acc[a][1][c] + acc[a][2][c] + acc[a][3][c]);
    };
    constexpr int PER = (TQB_SPC + WARPS - 1) / WARPS; // a warp's contiguous run of supertiles in each chunk
    for (int c = 0; c < n_chunks; c++) {
        const int slot = c % slots;
        tq_mbar_wait(&full[slot], (c / slots) & 1);
        if (threadIdx.x == 0 && (c == 0 || c == n_chunks - 1)) {
            if (c == 0)
                TQB_EVENT(3);
            if (c == n_chunks - 1)
                TQB_EVENT(4);
        }
        const int i0 = warp * PER, i1 = min(i0 + PER, min(TQB_SPC, n_st - c * TQB_SPC));
        if (i0 < i1) {
            int r = (c * TQB_SPC + i0) / Kt, kb = c * TQB_SPC + i0 - r * Kt; // one division per chunk
            for (int i = i0; i < i1; i++) {
                if (r != r_cur) { // at most twice per chunk when Kt ≥ PER
                    flush();
                    r_cur = r;
#pragma unroll
                    for (int a = 0; a < NT; a++)
#pragma unroll
                        for (int j = 0; j < 4; j++)
                            acc[a][j][0] = acc[a][j][1] = acc[a][j][2] = acc[a][j][3] = 0;
                }
                const uint4 w = *(const uint4 *)(smem + slot * TQB_CHUNK + i * TQ_ST_BYTES + lane * 16);
                const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int a = 0; a < NT; a++) {
                    const int m = a * 8 + g;
                    uint4 b0 = make_uint4(0, 0, 0, 0), b1 = b0;
                    if (m < M) {
                        const uint4 *row = (const uint4 *)(sq + (size_t)m * qpitch + kb * 128 + 32 * t);
                        b0 = row[0], b1 = row[1];
                    }
                    const uint32_t b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const uint32_t x = ws[j];
                        tq_mma_u8(acc[a][j], x & 0x03030303u, (x >> 2) & 0x03030303u, (x >> 4) & 0x03030303u,
                                  (x >> 6) & 0x03030303u, b[2 * j], b[2 * j + 1]);
                    }
                }
                if (++kb == Kt)
                    kb = 0, r++;
            }
        }
        __syncwarp();
        if (lane == 0)
            tq_mbar_arrive(&empty[slot]);
        if (threadIdx.x == 0 && c == 0)
            TQB_EVENT(14);
    }
    flush();
    if (threadIdx.x == 0)
        TQB_EVENT(15);
    asm volatile("bar.sync 1, %0;\n" ::"n"(32 * WARPS) : "memory");
    if (threadIdx.x == 0)
        TQB_EVENT(5);

    for (int e = threadIdx.x; e < (rb_hi - rb_lo) * NT * 128; e += 32 * WARPS) {
        const int r = e / (NT * 128), a = (e / 128) % NT, cc = (e / 32) & 3, l = e & 31;
        const int n = (rb_lo + r) * 16 + (l >> 2) + 8 * (cc >> 1);
        const int m = a * 8 + 2 * (l & 3) + (cc & 1);
        if (n < N && m < M)
            tq_store(y, (size_t)m * N + n, red[e] - qsum[m], s[m], tq_seg_scale(sg, n), accumulate);
    }
    if (threadIdx.x == 0) {
        TQB_EVENT(6);
        TQB_EVENT(9, true);
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

template <int WARPS, int SLOTS> static inline cudaError_t tq_gemv_bulk_init() {
    cudaError_t e = cudaFuncSetAttribute(tq_gemv_bulk_kernel<WARPS, 1, SLOTS>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, TQB_SMEM_MAX);
    if (e == cudaSuccess)
        e = cudaFuncSetAttribute(tq_gemv_bulk_kernel<WARPS, 2, SLOTS>, cudaFuncAttributeMaxDynamicSharedMemorySize,
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

/* M ≤ 16 tokens; pdl: TQ_PDL_* */
template <int WARPS, int SLOTS>
static inline cudaError_t tq_gemv_bulk_run(cudaStream_t st, int pdl, int n_sm, int cps, const uint4 *W, int Kt,
                                           const int8_t *q, const float *s, int M, int N, int K, tq_segs sg,
                                           float *y, int accumulate, bool vec) {
    if (!tq_gemv_bulk_fits(M, K, vec))
        return cudaErrorInvalidValue;
    const int Nb = (N + 15) / 16, G = tq_gemv_bulk_grid(Nb, n_sm, cps), rmax = (Nb + G - 1) / G;
    const int chunks = (rmax * Kt + TQB_SPC - 1) / TQB_SPC; // of the largest CTA
    const int slots = chunks < SLOTS ? chunks : SLOTS, NT = M <= 8 ? 1 : 2;
    const tqb_layout L = tqb_layout_of(slots, rmax, NT, M, Kt);
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3(G);
    cfg.blockDim = dim3(32 * (WARPS + 1));
    cfg.dynamicSmemBytes = L.bytes;
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = tq_pdl_attr(attr, pdl);
    const uint8_t *w = (const uint8_t *)W;
    const int early = pdl == TQ_PDL_EARLY;
    if (NT == 1)
        return cudaLaunchKernelEx(&cfg, tq_gemv_bulk_kernel<WARPS, 1, SLOTS>, w, Kt, q, s, M, N, K, sg, y, accumulate,
                                  slots, early);
    return cudaLaunchKernelEx(&cfg, tq_gemv_bulk_kernel<WARPS, 2, SLOTS>, w, Kt, q, s, M, N, K, sg, y, accumulate,
                              slots, early);
}

#endif
