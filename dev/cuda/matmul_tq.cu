/* matmul_tq.cu — workbench for the W2A8 ternary matmul (llm.c dev/cuda style; not product code).
 *
 * y[m][n] = (float)(Σ_k q[m][k] · w[n][k]) / s[m] * γ   with w ∈ {-1,0,+1}, q int8, int32 accumulation.
 *
 * Versions:
 *  kernel1  naive: one thread per output, int8 weights (1 byte/weight, 4× the bytes of 2-bit); the GPU oracle
 *           for shapes too large for the CPU check.
 *  kernel2  GEMV, M ≤ 16 (src/cuda/tq_kernels.cuh tq_gemv_kernel2<4 warps>): 2-bit tile16x128 layout, one
 *           16-byte weight load per lane per 16×128 supertile, decoded in registers into mma.m16n8k32 s8
 *           A fragments, activations as B (8 tokens per mma), warps split K and reduce in shared memory.
 *  kernel3  the same with 8 warps per block (more loads in flight for short K).
 *  kernel4  GEMM, any M (tq_gemm_kernel<tq_gemm4_cfg>): block 128 rows × 128 tokens, 8 warps of 64 × 32,
 *           3-stage cp.async pipeline, 2-bit weights in shared memory decoded in registers right before
 *           mma.sync (no int8 weight copy).
 *  kernel5  kernel4 with unsigned codes: u8 × s8 mma on w+1 ∈ {0,1,2} (2 integer ops per 4 weights instead of 4,
 *           the decode was the busiest pipe) and Σ_k q subtracted in the epilogue (dp4a on the B fragments).
 *  kernel6  kernel5 with __launch_bounds__(256, 2): two blocks per SM for latency hiding (≤ 128 registers).
 *  kernel7  kernel5 with 128 rows × 256 tokens (warps of 64 × 64: half the decode per mma).
 *  (run 1 on H100, previous kernel5..7 = 4-warp 64×64, 128×256 and 256×128 signed tiles: all slower than
 *  kernel4 by 10-40%; replaced.)
 *  kernel8  kernel3 launched with programmatic dependent launch (sm_90): each launch streams its first weights
 *           while the previous kernel finishes (griddepcontrol), as a decode step's GEMV after rmsnorm_quantize.
 *  kernel9  kernel2 (4 warps) with programmatic dependent launch.
 *  kernel10 GEMM on Hopper tensor cores (src/cuda/tq_wgmma.cuh, tq_wg10_cfg): wgmma with the 2-bit weights decoded
 *           into the register A operand (the tile16x128 lane fragment is wgmma's), activations by TMA into 128B-
 *           swizzled shared memory (B), a producer warpgroup and two consumer warpgroups;
 *           128 rows × 256 tokens; kernel11: 128 × 192; kernel12: 128 × 128; kernel13: 256 × 128 (two m64 tiles per
 *           consumer). Epilogue: accumulators through a padded shared-memory tile, 16-byte stores.
 *  kernel30 kernel12 persistent (one CTA per SM loops over tiles): a tile's sums go to a staging tile of their
 *           own, so the producer streams the next tile's k blocks while y is written. kernel31: 128 × 192.
 *           (Before: TMA-store epilogues, no faster than one CTA per tile; y written in slices between the next
 *           tile's wgmma groups: the k blocks took twice as long.)
 *  (Removed after measuring, dev/cuda/NOTES.md: kernel32, persistent 128 × 256 with a staging tile per consumer
 *  warpgroup taken in turn, 217 µs at 2048×13824×2560; persistent variants whose stores, or also the epilogue
 *  arithmetic, moved to the producer warpgroup's spare warps, and 256 × 128 persistent tiles: 160–430 µs.)
 *  kernel14 kernel8 (8 warps, PDL) with 8 supertiles per warp and batch (more weight loads in flight).
 *  kernel15 kernel9 (4 warps, PDL) with 8 supertiles per warp and batch.
 *  kernel18..20 = kernel8, 9, 14 with the activations staged in shared memory by the block after the wait (one
 *           round trip for all of q instead of one per supertile); the back end does it where it pays.
 *  kernel21..23 GEMV whose work after the wait is short (tq_gemv_kernel3): every weight load before the wait,
 *           ceil(Kt / UNR) warps of UNR supertiles, q staged in shared memory permuted for 16-byte fragment reads,
 *           unsigned codes decoded by one AND per 4 weights, dp4a at M = 1 and mma above: UNR 4, 5, 8.
 *           kernel21 is the back end's (TRIT_CUDA_TQ_GEMV3); kernel24: kernel21 with the mma at M = 1 too.
 *  kernel16 GEMV on sm_90 (src/cuda/tq_gemv_bulk.cuh): each CTA's row blocks are one contiguous byte range,
 *           streamed by cp.async.bulk into a ring of 4 shared-memory chunks (the first ones before griddepcontrol
 *           .wait), activations copied (permuted) after it, unsigned-code mma, 8 consumer warps + 1 producer
 *           warp; ≤ 1 CTA per SM.
 *  kernel17 the same with up to 2 CTAs per SM.
 *  kernel40..43 = kernel8, 9, 14, 15 with the successor started at once (TQ_PDL_EARLY): the next launch's CTAs
 *           become resident beside this one's and stream their weights while it runs.
 *  kernel44, 45 = kernel16, 17 with TQ_PDL_EARLY; kernel46: 16 consumer warps; kernel47: 6 ring slots;
 *           kernel48: both (all ≤ 1 CTA per SM, early).
 *  kernel32 kernel31 with y written by three epilogue warps (the producer warpgroup's idle ones) from the staging
 *           tile while the consumers run the next tile's MMAs.
 *  kernel27..29 = kernel10..12 with split-K: a cluster of two CTAs per tile, each over half of the k blocks, rank
 *           1's int32 sums added into rank 0's epilogue through distributed shared memory (K > 128 only).
 *  kernel60 ping-pong (persistent): each consumer warpgroup takes whole 128 × 128 tiles (two m64 tiles), the two
 *           in turn from one ring, y written straight from the accumulators while the other warpgroup's MMAs run.
 *  kernel50..53 = kernel10, 11, 12, 31 with bf16 output (the f32 result rounded to nearest even): the bytes
 *           cuBLAS bf16 writes.
 *  cublas   cuBLAS bf16 GEMM (cublasGemmEx, f32 accumulate, bf16 out) on the same shape: the baseline.
 *
 * main: for every shape, every version and every M, validate (CPU int64 at M = 1, kernel1 to M = 16, kernel2 beyond),
 * then time with cold L2 (GEMV rows twice: launches from the stream, and the same launches replayed from a CUDA graph) (rotating copies of the weights, ≥ 3 × L2 in total), back-to-back launches between
 * CUDA events, median of repeats; print µs, GB/s and the fraction of the device copy bandwidth measured in the
 * same run, and cuBLAS's time on the same shape.
 * Usage: matmul_tq [kernel|lo-hi [NxK M]] (0 = all versions)   Build: dev/cuda/CMakeLists.txt (needs cuBLAS). */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda/tq_kernels.cuh"
#include "cuda/tq_gemv_bulk.cuh"
#include "cuda/tq_wgmma.cuh"
#include "core/fp16.h"
#include "dev_util.h"

#define CB(call)                                                                                     \
    do {                                                                                             \
        cublasStatus_t s_ = (call);                                                                  \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                           \
            fprintf(stderr, "%s:%d: %s: cuBLAS status %d\n", __FILE__, __LINE__, #call, (int)s_);    \
            exit(1);                                                                                 \
        }                                                                                            \
    } while (0)

// ------------------------------------------------------------------------------------------------ kernel1

__global__ void matmul_kernel1(const int8_t *w, const int8_t *q, const float *s, int M, int N, int K, float gamma,
                               float *y) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x, m = blockIdx.y;
    if (n >= N)
        return;
    int32_t acc = 0;
    for (int k = 0; k < K; k++)
        acc += (int32_t)q[(size_t)m * K + k] * w[(size_t)n * K + k];
    y[(size_t)m * N + n] = __fmul_rn(__fdiv_rn((float)acc, s[m]), gamma);
}

// ------------------------------------------------------------------------------------------------ dispatch

struct problem {
    int N, K, M;
    const int8_t *w8;  // kernel1 weights [N][K]
    const uint4 *w2;   // packed tile16x128
    const int8_t *q;
    const float *s;
    float *y;
    float gamma;
    uint16_t *y16; // bf16 output (kernel50..53)
};

static int g_n_sm = 132;

static void run_kernel(int kernel, const problem &p, cudaStream_t st) {
    tq_segs sg;
    sg.n_seg = 1;
    sg.seg_end[0] = sg.seg_end[1] = sg.seg_end[2] = sg.seg_end[3] = p.N;
    sg.seg_scale[0] = sg.seg_scale[1] = sg.seg_scale[2] = sg.seg_scale[3] = p.gamma;
    const int Kt = (p.K + 127) / 128;
    const bool vec = p.K % 16 == 0;
    // a wgmma variant (its config as the argument) writing f32 or bf16 y; n_sm matters to the persistent ones only
    auto wg = [&](auto cfg) {
        CK(tq_wgmma_launch<decltype(cfg)>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y, 0, g_n_sm));
    };
    auto wg16 = [&](auto cfg) {
        CK((tq_wgmma_launch<decltype(cfg), uint16_t>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y16, 0, g_n_sm)));
    };
    switch (kernel) {
    case 1:
        matmul_kernel1<<<dim3((p.N + 127) / 128, p.M), 128, 0, st>>>(p.w8, p.q, p.s, p.M, p.N, p.K, p.gamma, p.y);
        break;
    case 2:
    case 3:
    case 8:
    case 9:
    case 14:
    case 15:
    case 40:
    case 41:
    case 42:
    case 43:
    case 18:
    case 19:
    case 20:
        for (int m0 = 0; m0 < p.M; m0 += 16) {
            const int mc = std::min(16, p.M - m0);
            const int8_t *q = p.q + (size_t)m0 * p.K;
            float *y = p.y + (size_t)m0 * p.N;
            const int pdl = kernel >= 40 ? TQ_PDL_EARLY : kernel >= 8 ? TQ_PDL_LATE : TQ_PDL_OFF;
            const bool stage = kernel >= 18 && kernel <= 20; // 18..20 = 8, 9, 14 with q staged
            const int base = kernel >= 40 ? kernel - 40 : 0;  // 40..43 = 8, 9, 14, 15 early
            const int k = stage ? (kernel == 18 ? 8 : kernel == 19 ? 9 : 14)
                          : base == 0 ? (kernel >= 40 ? 8 : kernel)
                          : base == 1 ? 9
                          : base == 2 ? 14
                                      : 15;
            if (k == 2 || k == 9)
                tq_gemv_run<4>(st, pdl, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, stage);
            else if (k == 3 || k == 8)
                tq_gemv_run<8>(st, pdl, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, stage);
            else if (k == 14)
                tq_gemv_run<8, 8>(st, pdl, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, stage);
            else
                tq_gemv_run<4, 8>(st, pdl, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, stage);
        }
        break;
    case 24: // kernel21 with the MMA path at M = 1 too (the others take dp4a there)
        for (int m0 = 0; m0 < p.M; m0 += 16) {
            const int mc = std::min(16, p.M - m0);
            const int8_t *q = p.q + (size_t)m0 * p.K;
            float *y = p.y + (size_t)m0 * p.N;
            if (!tq_gemv3_fits(mc, Kt, 4))
                CK(tq_gemv_run<8>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, false));
            else
                CK(tq_gemv3_run<4>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, false));
        }
        break;
    case 21:
    case 22:
    case 23:
        for (int m0 = 0; m0 < p.M; m0 += 16) { // kernel3: 21 UNR 4, 22 UNR 5, 23 UNR 8
            const int mc = std::min(16, p.M - m0);
            const int8_t *q = p.q + (size_t)m0 * p.K;
            float *y = p.y + (size_t)m0 * p.N;
            const int unr = kernel == 21 ? 4 : kernel == 22 ? 5 : 8;
            if (!tq_gemv3_fits(mc, Kt, unr)) { // q does not fit shared memory: kernel2's case
                CK(tq_gemv_run<8>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec, false));
                continue;
            }
            CK(unr == 4   ? tq_gemv3_run<4>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)
               : unr == 5 ? tq_gemv3_run<5>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)
                          : tq_gemv3_run<8>(st, TQ_PDL_LATE, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec));
        }
        break;
    case 16:
    case 17:
    case 44:
    case 45:
    case 46:
    case 47:
    case 48:
        for (int m0 = 0; m0 < p.M; m0 += 16) {
            const int mc = std::min(16, p.M - m0);
            const int pdl = kernel >= 44 ? TQ_PDL_EARLY : TQ_PDL_LATE;
            const int cps = kernel == 17 || kernel == 45 ? 2 : 1;
            const int8_t *q = p.q + (size_t)m0 * p.K;
            float *y = p.y + (size_t)m0 * p.N;
            if (kernel == 46)
                CK((tq_gemv_bulk_run<16, 4>(st, pdl, g_n_sm, cps, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)));
            else if (kernel == 47)
                CK((tq_gemv_bulk_run<8, 6>(st, pdl, g_n_sm, cps, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)));
            else if (kernel == 48)
                CK((tq_gemv_bulk_run<16, 6>(st, pdl, g_n_sm, cps, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)));
            else
                CK((tq_gemv_bulk_run<8, 4>(st, pdl, g_n_sm, cps, p.w2, Kt, q, p.s + m0, mc, p.N, p.K, sg, y, 0, vec)));
        }
        break;
    case 50: // bf16 y
        wg16(tq_wg10_cfg{});
        break;
    case 51:
        wg16(tq_wg11_cfg{});
        break;
    case 52:
        wg16(tq_wg12_cfg{});
        break;
    case 53:
        wg16(tq_wg31_cfg{});
        break;
    case 10:
        wg(tq_wg10_cfg{});
        break;
    case 11:
        wg(tq_wg11_cfg{});
        break;
    case 12:
        wg(tq_wg12_cfg{});
        break;
    case 13:
        wg(tq_wg13_cfg{});
        break;
    case 27:
        wg(tq_wg27_cfg{});
        break;
    case 28:
        wg(tq_wg28_cfg{});
        break;
    case 29:
        wg(tq_wg29_cfg{});
        break;
    case 30:
        wg(tq_wg30_cfg{});
        break;
    case 31:
        wg(tq_wg31_cfg{});
        break;
    case 32:
        wg(tq_wg32_cfg{});
        break;
    case 60:
        wg(tq_wg60_cfg{});
        break;
    case 4:
        tq_gemm_launch<tq_gemm4_cfg>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y, 0);
        break;
    case 5:
        tq_gemm_launch<tq_gemm5_cfg>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y, 0);
        break;
    case 6:
        tq_gemm_launch<tq_gemm6_cfg>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y, 0);
        break;
    case 7:
        tq_gemm_launch<tq_gemm7_cfg>(st, p.w2, Kt, p.q, p.s, p.M, p.N, p.K, sg, p.y, 0);
        break;
    }
}

// ------------------------------------------------------------------------------------------------ timing

static cudaEvent_t ev0, ev1;

template <class F> static double time_us(F fn, cudaStream_t st, int iters = 40, int reps = 7) {
    for (int i = 0; i < 3; i++)
        fn(i);
    CK(cudaStreamSynchronize(st));
    std::vector<double> v;
    int call = 0;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(ev0, st));
        for (int i = 0; i < iters; i++)
            fn(call++);
        CK(cudaEventRecord(ev1, st));
        CK(cudaEventSynchronize(ev1));
        CK(cudaGetLastError());
        float ms;
        CK(cudaEventElapsedTime(&ms, ev0, ev1));
        v.push_back(1000.0 * ms / iters);
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/* the same back-to-back launches captured once into a CUDA graph and replayed: the launch gaps of a decode step
 * that runs from a graph (median per launch over reps replays) */
template <class F> static double time_graph_us(F fn, cudaStream_t st, int iters = 40, int reps = 7) {
    return graph_us(fn, st, ev0, ev1, iters, reps);
}

static uint64_t rs = 88172645463325252ull;
static uint32_t rnd() {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 32);
}

// ------------------------------------------------------------------------------------------------ main

struct shape {
    int N, K;
};

int main(int argc, char **argv) {
    // one kernel, or a range "lo-hi"
    int only = 0, only_hi = 0;
    if (argc > 1 && sscanf(argv[1], "%d-%d", &only, &only_hi) < 2)
        only_hi = only;
    // optional: one shape "NxK" and one M (for profiling a single launch configuration)
    int one_n = 0, one_k = 0, one_m = 0;
    if (argc > 3 && (sscanf(argv[2], "%dx%d", &one_n, &one_k) != 2 || (one_m = atoi(argv[3])) <= 0)) {
        fprintf(stderr, "usage: matmul_tq [kernel|lo-hi [NxK M]]\n");
        return 2;
    }
    const shape shapes[] = {{3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912},
                            {3200, 3200}, {4800, 3200}, {3200, 10240}, {20480, 3200}, {1000, 1000}, {77, 333}};
    const int gemv_ms[] = {1, 4, 16};
    const int gemm_ms[] = {64, 512, 2048};
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    CK(cudaEventCreate(&ev0));
    CK(cudaEventCreate(&ev1));
    CK(tq_gemm_init<tq_gemm4_cfg>());
    CK(tq_gemm_init<tq_gemm5_cfg>());
    CK(tq_gemm_init<tq_gemm6_cfg>());
    CK(tq_gemm_init<tq_gemm7_cfg>());
    CK(tq_gemv3_init<4>());
    CK(tq_gemv3_init<5>());
    CK(tq_gemv3_init<8>());
    const bool wgmma = tq_wgmma_supported(0) && tq_encode_fn();
    if (wgmma) {
        CK(tq_wgmma_init<tq_wg10_cfg>());
        CK(tq_wgmma_init<tq_wg11_cfg>());
        CK(tq_wgmma_init<tq_wg12_cfg>());
        CK(tq_wgmma_init<tq_wg13_cfg>());
        CK(tq_wgmma_init<tq_wg30_cfg>());
        CK(tq_wgmma_init<tq_wg31_cfg>());
        CK(tq_wgmma_init<tq_wg60_cfg>());
        CK(tq_wgmma_init<tq_wg32_cfg>());
        CK(tq_wgmma_init<tq_wg27_cfg>());
        CK(tq_wgmma_init<tq_wg28_cfg>());
        CK(tq_wgmma_init<tq_wg29_cfg>());
        CK((tq_wgmma_init<tq_wg10_cfg, uint16_t>()));
        CK((tq_wgmma_init<tq_wg11_cfg, uint16_t>()));
        CK((tq_wgmma_init<tq_wg12_cfg, uint16_t>()));
        CK((tq_wgmma_init<tq_wg31_cfg, uint16_t>()));
        CK((tq_gemv_bulk_init<8, 4>()));
        CK((tq_gemv_bulk_init<16, 4>()));
        CK((tq_gemv_bulk_init<8, 6>()));
        CK((tq_gemv_bulk_init<16, 6>()));
    } else {
        printf("no wgmma here (compute capability 9.0 needed): kernels 10-13 skipped\n");
    }
    cublasHandle_t blas;
    CB(cublasCreate(&blas));
    CB(cublasSetStream(blas, st));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    const size_t l2 = prop.l2CacheSize;
    g_n_sm = prop.multiProcessorCount;

    // device copy bandwidth, bytes read + written
    const size_t cb = (size_t)512 << 20;
    void *ca, *cb2;
    CK(cudaMalloc(&ca, cb));
    CK(cudaMalloc(&cb2, cb));
    CK(cudaMemset(ca, 1, cb));
    const double copy_gbs = 2.0 * cb / (time_us([&](int) { cudaMemcpyAsync(cb2, ca, cb, cudaMemcpyDeviceToDevice, st); }, st, 10) * 1e3);
    CK(cudaFree(ca));
    CK(cudaFree(cb2));
    printf("device %s: %d SMs, L2 %zu MB, device copy %.0f GB/s (read + write)\n\n", prop.name,
           prop.multiProcessorCount, l2 >> 20, copy_gbs);

    int failures = 0;
    printf("| N | K | M | kernel | µs | GB/s (2-bit W) | %% copy | bound µs / rate | target | cuBLAS bf16 µs | speedup |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const shape &sh : shapes) {
        if (one_n && (sh.N != one_n || sh.K != one_k))
            continue;
        const int N = sh.N, K = sh.K, Mmax = 2048;
        std::vector<int8_t> codes((size_t)N * K), hq((size_t)Mmax * K);
        for (auto &c : codes)
            c = (int8_t)((int)(rnd() % 3) - 1);
        for (auto &x : hq)
            x = (int8_t)(rnd() & 0xff);
        std::vector<float> hs(Mmax);
        for (auto &x : hs)
            x = 1.0f + (float)(rnd() % 20000) / 100.0f;
        const size_t wbytes = tq_packed_bytes(N, K);
        std::vector<uint8_t> packed(wbytes);
        tq_pack_host(codes.data(), N, K, packed.data());
        const int R = (int)std::min<size_t>(256, std::max<size_t>(2, 3 * l2 / wbytes + 1));
        uint8_t *w2;
        int8_t *w8, *q;
        float *s, *y, *yref;
        CK(cudaMalloc(&w2, wbytes * R));
        for (int r = 0; r < R; r++)
            CK(cudaMemcpy(w2 + (size_t)r * wbytes, packed.data(), wbytes, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&w8, (size_t)N * K));
        CK(cudaMemcpy(w8, codes.data(), (size_t)N * K, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&q, (size_t)Mmax * K));
        CK(cudaMemcpy(q, hq.data(), (size_t)Mmax * K, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&s, sizeof(float) * Mmax));
        CK(cudaMemcpy(s, hs.data(), sizeof(float) * Mmax, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&y, sizeof(float) * Mmax * N));
        CK(cudaMalloc(&yref, sizeof(float) * Mmax * N));
        uint16_t *y16;
        CK(cudaMalloc(&y16, sizeof(uint16_t) * Mmax * N));
        // cuBLAS bf16 operands: W [N][K] (enough copies to miss L2 too), X [M][K], Y [M][N]
        const size_t wb16 = (size_t)N * K * 2;
        const int R16 = (int)std::max<size_t>(2, 3 * l2 / wb16 + 1);
        __nv_bfloat16 *W16, *X16, *Y16;
        CK(cudaMalloc(&W16, wb16 * R16));
        CK(cudaMalloc(&X16, (size_t)Mmax * K * 2));
        CK(cudaMalloc(&Y16, (size_t)Mmax * N * 2));
        { // random bf16 data (not zeros: zeros run faster)
            std::vector<__nv_bfloat16> h((size_t)N * K);
            for (auto &x : h)
                x = __float2bfloat16((float)((int)(rnd() % 3) - 1));
            for (int r = 0; r < R16; r++)
                CK(cudaMemcpy(W16 + (size_t)r * N * K, h.data(), wb16, cudaMemcpyHostToDevice));
            std::vector<__nv_bfloat16> hx((size_t)Mmax * K);
            for (auto &x : hx)
                x = __float2bfloat16((float)((int)(rnd() % 255) - 127) / 64.0f);
            CK(cudaMemcpy(X16, hx.data(), hx.size() * 2, cudaMemcpyHostToDevice));
        }
        const float gamma = 1.37f;
        std::vector<int> mlist(std::begin(gemv_ms), std::end(gemv_ms));
        if (N >= 2560) // the GEMM regime on the model-sized shapes
            mlist.insert(mlist.end(), std::begin(gemm_ms), std::end(gemm_ms));
        else
            mlist.push_back(130);
        if (one_m)
            mlist.assign(1, one_m);
        for (int M : mlist) {
            problem p = {N, K, M, w8, (const uint4 *)w2, q, s, y, gamma, y16};
            // the oracle: CPU int64 at M = 1; kernel1 (checked there) up to M = 16; kernel2 (checked at M ≤ 16)
            // beyond, where the naive kernel would take seconds
            std::vector<float> want((size_t)M * N), got((size_t)M * N);
            if (M == 1) {
                for (int n = 0; n < N; n++) {
                    int64_t acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (int64_t)hq[k] * codes[(size_t)n * K + k];
                    volatile float f = (float)acc / hs[0];
                    want[n] = f * gamma;
                }
            } else {
                problem pr = p;
                pr.y = yref;
                run_kernel(M <= 16 ? 1 : 2, pr, st);
                CK(cudaStreamSynchronize(st));
                CK(cudaGetLastError());
                CK(cudaMemcpy(want.data(), yref, sizeof(float) * M * N, cudaMemcpyDeviceToHost));
            }
            const int kernels[] = {1,  2,  3,  8,  9,  14, 15, 18, 19, 20, 21, 22, 23, 24, 40, 41, 42, 43, 16, 17, 44, 45, 46, 47,
                                   48, 4,  5,  6,  7,  10, 11, 12, 13, 27, 28, 29, 30, 31, 32, 60, 50, 51, 52, 53};
            std::vector<uint16_t> want16((size_t)M * N), got16((size_t)M * N);
            for (size_t i = 0; i < want16.size(); i++)
                want16[i] = trit_f32_to_bf16(want[i]);
            double best = 1e30, best16 = 1e30;
            for (int kn : kernels) {
                if (only && (kn < only || kn > only_hi))
                    continue;
                const bool bulk = kn == 16 || kn == 17 || (kn >= 44 && kn <= 48);
                const bool gemv = kn == 2 || kn == 3 || kn == 8 || kn == 9 || kn == 14 || kn == 15 ||
                                  (kn >= 18 && kn <= 24) || (kn >= 40 && kn <= 43) || bulk;
                const bool bf = kn >= 50 && kn <= 53;
                const bool wg = (kn >= 10 && kn <= 13) || (kn >= 27 && kn <= 32) || kn == 60 || bf;
                if (wg && (!wgmma || M <= 16 || K % 16 || (kn >= 27 && kn <= 29 && K <= 128)))
                    continue;
                if (bulk && (!wgmma || M > 16 || !tq_gemv_bulk_fits(std::min(M, 16), K, K % 16 == 0)))
                    continue;
                if (kn >= 4 && kn <= 7 && only == 0 && M >= 64 && kn != 6)
                    continue; // the mma.sync history: only the back end's fallback (kernel6) unless asked for
                if ((kn == 1 && M > 16) || (kn >= 4 && kn <= 7 && (M <= 16 || K % 16)) || (gemv && M > 64 && K % 16 == 0) ||
                    (kn == 4 && K % 16))
                    continue; // naive at large M: seconds; GEMM tiles at M ≤ 16 / chunked GEMV at large M: no contest
                CK(cudaMemset(y, 0xff, sizeof(float) * M * N)); // NaN poison: every output must be written
                CK(cudaMemset(y16, 0xff, sizeof(uint16_t) * M * N));
                run_kernel(kn, p, st);
                CK(cudaStreamSynchronize(st));
                CK(cudaGetLastError());
                if (bf) {
                    CK(cudaMemcpy(got16.data(), y16, sizeof(uint16_t) * M * N, cudaMemcpyDeviceToHost));
                    for (size_t i = 0; i < got16.size(); i++)
                        got[i] = trit_bf16_to_f32(got16[i]);
                }
                else
                    CK(cudaMemcpy(got.data(), y, sizeof(float) * M * N, cudaMemcpyDeviceToHost));
                if (bf ? memcmp(got16.data(), want16.data(), sizeof(uint16_t) * M * N) != 0
                       : memcmp(got.data(), want.data(), sizeof(float) * M * N) != 0) {
                    size_t i = 0;
                    while (bf ? got16[i] == want16[i] : !memcmp(&got[i], &want[i], 4))
                        i++;
                    printf("| %d | %d | %d | kernel%d | MISMATCH at m=%zu n=%zu: %.9g vs %.9g | | | | | |\n", N, K, M, kn,
                           i / N, i % N, (double)got[i], (double)want[i]);
                    failures++;
                    continue;
                }
                const double us = time_us(
                    [&](int i) {
                        problem pi = p;
                        pi.w2 = (const uint4 *)(w2 + (size_t)(i % R) * wbytes);
                        run_kernel(kn, pi, st);
                    },
                    st);
                double ug = 0;
                if (gemv)
                    ug = time_graph_us(
                        [&](int i) {
                            problem pi = p;
                            pi.w2 = (const uint4 *)(w2 + (size_t)(i % R) * wbytes);
                            run_kernel(kn, pi, st);
                        },
                        st);
                const double gbs = (double)wbytes / (us * 1e3);
                const double bound = std::max(3.0, (double)wbytes / (0.7 * copy_gbs * 1e3));
                if (bf)
                    best16 = std::min(best16, us);
                else
                    best = std::min(best, us);
                if (M <= 16) {
                    printf("| %d | %d | %d | kernel%d | %.2f | %.0f | %.1f%% | %.2f | %s | | |\n", N, K, M, kn, us, gbs,
                           100.0 * gbs / copy_gbs, bound, us <= bound ? "met" : "missed");
                    printf("| %d | %d | %d | kernel%d graph | %.2f | %.0f | %.1f%% | %.2f | %s | | |\n", N, K, M, kn, ug,
                           wbytes / (ug * 1e3), 100.0 * wbytes / (ug * 1e3) / copy_gbs, bound,
                           ug <= bound ? "met" : "missed");
                }
                else
                    printf("| %d | %d | %d | kernel%d | %.2f | %.0f | %.1f%% | %.0f TOPS | | | |\n", N, K, M, kn, us, gbs,
                           100.0 * gbs / copy_gbs, 2.0 * M * N * K / (us * 1e6));
            }
            // cuBLAS bf16: Y[M][N] = X[M][K] · W[N][K]^T, column-major view: Yᵀ(N×M) = W(N×K) · Xᵀ(K×M)
            const float one = 1.0f, zero = 0.0f;
            const double ub = time_us(
                [&](int i) {
                    cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, W16 + (size_t)(i % R16) * N * K,
                                 CUDA_R_16BF, K, X16, CUDA_R_16BF, K, &zero, Y16, CUDA_R_16BF, N, CUBLAS_COMPUTE_32F,
                                 CUBLAS_GEMM_DEFAULT);
                },
                st);
            CK(cudaGetLastError());
            if (best < 1e29)
                printf("| %d | %d | %d | cublas bf16 | %.2f | | | %.0f TFLOPS | | %.2f | %.2fx (best W2A8 %.2f µs) |\n",
                       N, K, M, ub, 2.0 * M * N * K / (ub * 1e6), ub, ub / best, best);
            if (best16 < 1e29)
                printf("| %d | %d | %d | cublas bf16 | %.2f | | | | | %.2f | %.2fx (best W2A8 with bf16 output %.2f "
                       "µs) |\n",
                       N, K, M, ub, ub, ub / best16, best16);
        }
        CK(cudaFree(w2));
        CK(cudaFree(w8));
        CK(cudaFree(q));
        CK(cudaFree(s));
        CK(cudaFree(y));
        CK(cudaFree(yref));
        CK(cudaFree(y16));
        CK(cudaFree(W16));
        CK(cudaFree(X16));
        CK(cudaFree(Y16));
    }
    CB(cublasDestroy(blas));
    printf("\n%s: %d mismatches\n", failures ? "FAILED" : "all launch configurations match the reference", failures);
    return failures ? 1 : 0;
}
