/* stream_floor.cu — workbench probe: how fast can a chain of dependent kernels stream a GEMV's weight bytes at
 * all? The GEMV target is max(3 µs, 2-bit bytes / (0.7 × device copy)); this program times kernels that do a
 * GEMV's memory work and nothing else, in the same harness as matmul_tq's graph rows (back-to-back launches
 * replayed from a CUDA graph, weights rotated through copies ≥ 3 × L2, programmatic dependent launch):
 *  - null:   no weights; griddepcontrol.wait, read q (K bytes) per block, write N floats: the chain's own floor.
 *  - regsU:  256-thread blocks, each thread U 16-byte streaming loads of the weights, all issued before the wait,
 *            then q, then N floats written. Grid = bytes / (4 KB · U).
 *  - bulkG:  G CTAs (1, 2 or 3 per SM), each copies its contiguous slice into shared memory with cp.async.bulk
 *            before the wait (slice ≤ 227 KB), then q, then the writes.
 * Each with the successor released after the wait (late) or at once (early). For comparison the GEMVs of
 * tq_kernels.cuh (kernel2; kernel3, late and early) and tq_gemv_bulk.cuh at M = 1 on the same shapes and buffers
 * (kernel numbers of matmul_tq; their results are checked there, not here).
 * Usage: stream_floor [NxK] (default: the eight GEMV shapes of matmul_tq). Needs compute capability 9.0. */
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "cuda/tq_gemv_bulk.cuh"
#include "dev_util.h"

#define FT 256 /* threads per block of the floor kernels */

__device__ __forceinline__ uint32_t fold(uint4 v) { return v.x ^ v.y ^ v.z ^ v.w; }

/* after the wait: every block reads q (as the staged GEMV does) and the grid writes N floats (y) */
__device__ __forceinline__ void floor_tail(uint32_t v, const uint4 *q, int kv, float *y, int N) {
    for (int i = threadIdx.x; i < kv; i += FT)
        v ^= fold(__ldg(q + i));
    const int g = blockIdx.x * FT + threadIdx.x;
    for (int n = g; n < N; n += gridDim.x * FT)
        y[n] = __uint_as_float(v);
}

__global__ void __launch_bounds__(FT) floor_null(const uint4 *q, int kv, float *y, int N, int early) {
    if (early)
        tq_pdl_trigger();
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();
    floor_tail(0, q, kv, y, N);
}

template <int U>
__global__ void __launch_bounds__(FT) floor_regs(const uint4 *w, long nv, const uint4 *q, int kv, float *y, int N,
                                                  int early) {
    if (early)
        tq_pdl_trigger();
    const long base = (long)blockIdx.x * FT * U + threadIdx.x;
    uint4 r[U];
#pragma unroll
    for (int u = 0; u < U; u++)
        r[u] = base + u * FT < nv ? __ldcs(w + base + u * FT) : make_uint4(0, 0, 0, 0);
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();
    uint32_t v = 0;
#pragma unroll
    for (int u = 0; u < U; u++)
        v ^= fold(r[u]);
    floor_tail(v, q, kv, y, N);
}

__global__ void __launch_bounds__(FT) floor_bulk(const uint8_t *w, long bytes, long slice, const uint4 *q, int kv,
                                                  float *y, int N, int early) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    extern __shared__ __align__(128) uint8_t sm[];
    uint64_t *bar = (uint64_t *)sm;
    uint8_t *buf = sm + 128;
    if (early)
        tq_pdl_trigger();
    const long off = (long)blockIdx.x * slice;
    const long n = slice < bytes - off ? slice : bytes - off;
    if (threadIdx.x == 0) {
        tq_mbar_init(bar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        if (n > 0) {
            tq_mbar_expect_tx(bar, (uint32_t)n);
            for (long c = 0; c < n; c += 65536)
                tq_bulk_copy(buf + c, w + off + c, (uint32_t)(n - c < 65536 ? n - c : 65536), bar);
        } else {
            tq_mbar_arrive(bar);
        }
    }
    __syncthreads();
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();
    tq_mbar_wait(bar, 0);
    uint32_t v = 0;
    if (threadIdx.x * 16 < n)
        v = fold(((const uint4 *)buf)[threadIdx.x]);
    floor_tail(v, q, kv, y, N);
#else
    __trap();
#endif
}

static cudaError_t launch(const void *fn, int grid, size_t smem, cudaStream_t st, void **args) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3(FT);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    cfg.attrs = attr;
    cfg.numAttrs = tq_pdl_attr(attr, TQ_PDL_LATE);
    return cudaLaunchKernelExC(&cfg, fn, args);
}

template <class F> static double time_graph_us(F fn, cudaStream_t st, cudaEvent_t e0, cudaEvent_t e1) {
    return graph_us(fn, st, e0, e1, 40, 9);
}

int main(int argc, char **argv) {
    struct shape {
        int N, K;
    } shapes[] = {{3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912},
                  {3200, 3200}, {4800, 3200}, {3200, 10240}, {20480, 3200}};
    int one_n = 0, one_k = 0;
    if (argc > 1 && sscanf(argv[1], "%dx%d", &one_n, &one_k) != 2) {
        fprintf(stderr, "usage: stream_floor [NxK]\n");
        return 2;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    if (prop.major < 9) {
        printf("compute capability 9.0 needed\n");
        return 0;
    }
    const int n_sm = prop.multiProcessorCount;
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int smem_max = 227 * 1024;
    CK(cudaFuncSetAttribute(floor_bulk, cudaFuncAttributeMaxDynamicSharedMemorySize, smem_max));
    CK((tq_gemv_bulk_init<16, 6>()));
    CK((tq_gemv_bulk_init<8, 4>()));
    CK(tq_gemv3_init<4>());
    CK(tq_gemv3_init<5>());
    CK(tq_gemv3_init<8>());

    // device copy, read + write counted (matmul_tq's number)
    double copy_gbs;
    {
        const size_t cb = (size_t)512 << 20;
        void *a, *b;
        CK(cudaMalloc(&a, cb));
        CK(cudaMalloc(&b, cb));
        CK(cudaMemset(a, 1, cb));
        std::vector<double> v;
        for (int r = 0; r < 5; r++) {
            CK(cudaEventRecord(e0, st));
            for (int i = 0; i < 10; i++)
                CK(cudaMemcpyAsync(b, a, cb, cudaMemcpyDeviceToDevice, st));
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            v.push_back(ms / 10);
        }
        copy_gbs = 2.0 * cb / (median(v) * 1e6);
        CK(cudaFree(a));
        CK(cudaFree(b));
    }
    printf("device %s: %d SMs, L2 %d MB, device copy %.0f GB/s (read + write)\n\n", prop.name, n_sm,
           prop.l2CacheSize >> 20, copy_gbs);
    printf("| N×K | MB (2-bit) | bound µs | design | µs per launch | GB/s | %% copy | vs bound |\n|---|---|---|---|---|---|---|---|\n");

    for (const shape &sh : shapes) {
        if (one_n && (sh.N != one_n || sh.K != one_k))
            continue;
        const int N = sh.N, K = sh.K, Kt = (K + 127) / 128;
        const size_t wbytes = tq_packed_bytes(N, K);
        const int R = (int)std::min<size_t>(256, 3 * (size_t)prop.l2CacheSize / wbytes + 2);
        uint8_t *w;
        int8_t *q;
        float *y, *s;
        CK(cudaMalloc(&w, wbytes * R));
        CK(cudaMemset(w, 0x55, wbytes * R)); // codes 1: zero weights, valid for the GEMVs
        CK(cudaMalloc(&q, K + 16));
        CK(cudaMemset(q, 3, K + 16));
        CK(cudaMalloc(&s, 64));
        CK(cudaMemset(s, 0, 64));
        CK(cudaMalloc(&y, sizeof(float) * N * 16));
        const double bound = std::max(3.0, wbytes / (0.7 * copy_gbs * 1e3));
        auto row = [&](const char *name, double us) {
            printf("| %d×%d | %.2f | %.2f | %s | %.2f | %.0f | %.1f%% | %.2f× |\n", N, K, wbytes / 1e6, bound, name,
                   us, wbytes / (us * 1e3), 100.0 * wbytes / (us * 1e3) / copy_gbs, us / bound);
            fflush(stdout);
        };
        const uint4 *q4 = (const uint4 *)q;
        int kv = K / 16;
        long nv = (long)(wbytes / 16);
        for (int early = 0; early < 2; early++) {
            char name[64];
            snprintf(name, sizeof name, "null %s", early ? "early" : "late");
            row(name, time_graph_us(
                          [&](int) {
                              void *args[] = {&q4, &kv, &y, (void *)&N, &early};
                              CK(launch((const void *)floor_null, n_sm, 0, st, args));
                          },
                          st, e0, e1));
            auto regs = [&](auto U, const void *fn) {
                const int grid = (int)((nv + FT * U - 1) / (FT * U));
                snprintf(name, sizeof name, "regs%d %s (%d blocks)", (int)U, early ? "early" : "late", grid);
                row(name, time_graph_us(
                              [&](int i) {
                                  const uint4 *wi = (const uint4 *)(w + (size_t)(i % R) * wbytes);
                                  void *args[] = {&wi, &nv, &q4, &kv, &y, (void *)&N, &early};
                                  CK(launch(fn, grid, 0, st, args));
                              },
                              st, e0, e1));
            };
            // the same with the SMs' room limited by unused shared memory: at most B blocks of one launch per SM
            // (co-residency with the next launch is what lets it stream early)
            for (int B = 4; B <= 12 && !early; B += 2) {
                const int grid = (int)((nv + FT * 4 - 1) / (FT * 4));
                const size_t pad = (size_t)(228 * 1024) / B - 1024;
                CK(cudaFuncSetAttribute(floor_regs<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)pad));
                snprintf(name, sizeof name, "regs4 late, ≤ %d blocks per SM (%d blocks)", B, grid);
                row(name, time_graph_us(
                              [&](int i) {
                                  const uint4 *wi = (const uint4 *)(w + (size_t)(i % R) * wbytes);
                                  void *args[] = {&wi, &nv, &q4, &kv, &y, (void *)&N, &early};
                                  CK(launch((const void *)floor_regs<4>, grid, pad, st, args));
                              },
                              st, e0, e1));
            }
            regs(std::integral_constant<int, 2>{}, (const void *)floor_regs<2>);
            regs(std::integral_constant<int, 4>{}, (const void *)floor_regs<4>);
            regs(std::integral_constant<int, 8>{}, (const void *)floor_regs<8>);
            for (int cps = 1; cps <= 3; cps++) {
                const int G = cps * n_sm;
                long slice = (long)((wbytes + G - 1) / G + 15) / 16 * 16;
                long bytes = (long)wbytes;
                if (slice + 128 > smem_max)
                    continue;
                snprintf(name, sizeof name, "bulk %d/SM %s (%ld KB per CTA)", cps, early ? "early" : "late",
                         slice >> 10);
                row(name, time_graph_us(
                              [&](int i) {
                                  const uint8_t *wi = w + (size_t)(i % R) * wbytes;
                                  void *args[] = {&wi, &bytes, &slice, &q4, &kv, &y, (void *)&N, &early};
                                  CK(launch((const void *)floor_bulk, G, slice + 128, st, args));
                              },
                              st, e0, e1));
            }
        }
        // the GEMVs (matmul_tq's kernel numbers), M = 1
        tq_segs sg = {1, {N, N, N, N}, {1.f, 1.f, 1.f, 1.f}};
        auto gemv = [&](const char *name, auto fn) {
            row(name, time_graph_us(
                          [&](int i) { CK(fn((const uint4 *)(w + (size_t)(i % R) * wbytes))); }, st, e0, e1));
        };
        gemv("GEMV kernel9 (4 warps)", [&](const uint4 *W) {
            return tq_gemv_run<4>(st, TQ_PDL_LATE, W, Kt, q, s, 1, N, K, sg, y, 0, true, false);
        });
        gemv("GEMV kernel18 (8 warps, staged)", [&](const uint4 *W) {
            return tq_gemv_run<8>(st, TQ_PDL_LATE, W, Kt, q, s, 1, N, K, sg, y, 0, true, true);
        });
        gemv("GEMV kernel19 (4 warps, staged)", [&](const uint4 *W) {
            return tq_gemv_run<4>(st, TQ_PDL_LATE, W, Kt, q, s, 1, N, K, sg, y, 0, true, true);
        });
        // kernel3 (dp4a at M = 1), late and early
        for (int pdl = TQ_PDL_LATE; pdl <= TQ_PDL_EARLY; pdl++) {
            const char *mode = pdl == TQ_PDL_EARLY ? "early" : "late";
            char name[80];
            snprintf(name, sizeof name, "GEMV kernel3 UNR 4 %s", mode);
            gemv(name, [&](const uint4 *W) { return tq_gemv3_run<4>(st, pdl, W, Kt, q, s, 1, N, K, sg, y, 0, true); });
            snprintf(name, sizeof name, "GEMV kernel3 UNR 5 %s", mode);
            gemv(name, [&](const uint4 *W) { return tq_gemv3_run<5>(st, pdl, W, Kt, q, s, 1, N, K, sg, y, 0, true); });
            snprintf(name, sizeof name, "GEMV kernel3 UNR 8 %s", mode);
            gemv(name, [&](const uint4 *W) { return tq_gemv3_run<8>(st, pdl, W, Kt, q, s, 1, N, K, sg, y, 0, true); });
        }
        gemv("GEMV kernel3 UNR 4 late, mma at M = 1", [&](const uint4 *W) {
            return tq_gemv3_run<4>(st, TQ_PDL_LATE, W, Kt, q, s, 1, N, K, sg, y, 0, true, false);
        });
        gemv("GEMV kernel48 (bulk 16 warps, 6 slots, early)", [&](const uint4 *W) {
            return tq_gemv_bulk_run<16, 6>(st, TQ_PDL_EARLY, n_sm, 1, W, Kt, q, s, 1, N, K, sg, y, 0, true);
        });
        gemv("GEMV kernel17 (bulk 8 warps, 2/SM)", [&](const uint4 *W) {
            return tq_gemv_bulk_run<8, 4>(st, TQ_PDL_LATE, n_sm, 2, W, Kt, q, s, 1, N, K, sg, y, 0, true);
        });
        CK(cudaFree(w));
        CK(cudaFree(q));
        CK(cudaFree(s));
        CK(cudaFree(y));
    }
    return 0;
}
