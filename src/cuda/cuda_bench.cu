/* cuda_bench.cu — `trit bench --device cuda` kernel mode. Times the kernels the back end uses (matmul_tq through
 * its dispatcher, rmsnorm_quantize, the fused glu+rmsnorm+quantize) on a shape list:
 *  - weights out of L2: each launch reads the next of R copies of the packed matrix, R·bytes ≥ 3 × L2;
 *  - back-to-back launches between two CUDA events, median over repeats of the per-launch mean;
 *  - the device copy bandwidth (cudaMemcpy device to device, bytes read + written) is measured in the same run,
 *    and each GEMV figure is printed with its bound max(3 µs, bytes_2bit / (0.7 × copy bandwidth)).
 * Default shapes: the 2B-4T linears and the eight shapes of Microsoft's W2A8 table. Not the cuBLAS comparison:
 * that is the workbench's (dev/cuda/matmul_tq.cu). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda/cuda_bench.h"
#include "cuda/cuda_impl.cuh"

namespace {

struct shape {
    int N, K;
};

const shape default_shapes[] = {{3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912}, // 2B-4T
                                {3200, 3200}, {4800, 3200}, {3200, 10240}, {20480, 3200}}; // + Microsoft's table

struct bench_ctx {
    trit_backend *be;
    cudaStream_t st;
    cudaEvent_t e0, e1;
    int iters, reps;
};

#define BCHECK(call)                                                                                  \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) {                                                                      \
            fprintf(stderr, "trit bench cuda: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            return -1.0;                                                                              \
        }                                                                                             \
    } while (0)

/* the median of the per-call times v, µs, once the back end reports no error from the calls; < 0 otherwise */
double checked_median(bench_ctx &c, std::vector<double> &v) {
    trit_error err;
    if (c.be->ops->sync(c.be, &err) != TRIT_OK) {
        fprintf(stderr, "trit bench cuda: %s (%s)\n", err.msg, err.where);
        return -1.0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/* median over reps of the mean time per call of fn(i) over iters calls, µs; < 0 on failure */
template <class F> double time_us(bench_ctx &c, F fn) {
    for (int i = 0; i < 3; i++)
        fn(i);
    BCHECK(cudaStreamSynchronize(c.st));
    std::vector<double> v;
    int call = 0;
    for (int r = 0; r < c.reps; r++) {
        BCHECK(cudaEventRecord(c.e0, c.st));
        for (int i = 0; i < c.iters; i++)
            fn(call++);
        BCHECK(cudaEventRecord(c.e1, c.st));
        BCHECK(cudaEventSynchronize(c.e1));
        float ms = 0;
        BCHECK(cudaEventElapsedTime(&ms, c.e0, c.e1));
        v.push_back(1000.0 * ms / c.iters);
    }
    return checked_median(c, v);
}

/* the same iters calls captured into a CUDA graph and replayed (how a decode step is launched once the forward
 * runs from a graph): median over reps replays of the time per call, µs; < 0 on failure */
template <class F> double time_graph_us(bench_ctx &c, F fn) {
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    BCHECK(cudaStreamBeginCapture(c.st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < c.iters; i++)
        fn(i);
    BCHECK(cudaStreamEndCapture(c.st, &graph));
    cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    std::vector<double> v;
    for (int r = 0; e == cudaSuccess && r <= c.reps; r++) { // replay 0 warms up
        e = cudaEventRecord(c.e0, c.st);
        if (e == cudaSuccess)
            e = cudaGraphLaunch(exec, c.st);
        if (e == cudaSuccess)
            e = cudaEventRecord(c.e1, c.st);
        if (e == cudaSuccess)
            e = cudaEventSynchronize(c.e1);
        float ms = 0;
        if (e == cudaSuccess)
            e = cudaEventElapsedTime(&ms, c.e0, c.e1);
        if (r > 0)
            v.push_back(1000.0 * ms / c.iters);
    }
    if (exec)
        cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    BCHECK(e);
    return checked_median(c, v);
}

/* device copy bandwidth in GB/s, counting bytes read + written */
double copy_bandwidth(bench_ctx &c) {
    const size_t bytes = (size_t)512 << 20;
    void *a = NULL, *b = NULL;
    if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
        cudaFree(a);
        fprintf(stderr, "trit bench cuda: cannot allocate 2 × 512 MiB for the copy bandwidth\n");
        return -1.0;
    }
    cudaMemsetAsync(a, 1, bytes, c.st);
    bench_ctx cc = c;
    cc.iters = 10;
    double us = time_us(cc, [&](int) { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, c.st); });
    cudaFree(a);
    cudaFree(b);
    return us > 0 ? 2.0 * bytes / (us * 1e3) : -1.0;
}

void usage(void) {
    fprintf(stderr, "usage: trit bench --device cuda [--shapes NxK,NxK,...] [-m M,M,...] [--iters N] [--reps N]\n"
                    "  default shapes: the 2B-4T linears and Microsoft's W2A8 table; default M: 1,16,512,2048\n");
}

bool parse_list(const char *s, std::vector<int> &out) {
    out.clear();
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > (1 << 20))
            return false;
        out.push_back((int)v);
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return false;
    }
    return !out.empty();
}

bool parse_shapes(const char *s, std::vector<shape> &out) {
    out.clear();
    while (*s) {
        int n, k, used = 0;
        if (sscanf(s, "%dx%d%n", &n, &k, &used) != 2 || n <= 0 || k <= 0)
            return false;
        out.push_back({n, k});
        s += used;
        if (*s == ',')
            s++;
        else if (*s)
            return false;
    }
    return !out.empty();
}

/* one matmul_tq row of the table; returns false on failure */
bool bench_matmul(bench_ctx &c, shape sh, int M, double copy_gbs, size_t l2) {
    trit_backend *be = c.be;
    std::vector<int8_t> codes((size_t)sh.N * sh.K);
    uint32_t r = 12345u + (uint32_t)sh.N * 7u + (uint32_t)sh.K;
    for (auto &x : codes) {
        r = r * 1664525u + 1013904223u;
        x = (int8_t)((int)(r >> 30) % 3 - 1);
    }
    trit_tmat w;
    memset(&w, 0, sizeof w);
    w.N = sh.N, w.K = sh.K, w.n_seg = 1, w.seg_end[0] = sh.N, w.seg_scale[0] = 1.5f;
    trit_error err;
    if (be->ops->tmat_pack(be, &w, codes.data(), &err) != TRIT_OK) {
        fprintf(stderr, "trit bench cuda: %s\n", err.msg);
        return false;
    }
    // copies of the packed weights so that consecutive launches miss L2
    const int R = (int)std::min<size_t>(256, std::max<size_t>(2, 3 * l2 / w.bytes + 1));
    std::vector<trit_tmat> ws(R, w);
    bool ok = true;
    for (int i = 1; i < R && ok; i++) {
        ws[i].data = be->ops->alloc(be, w.bytes);
        ok = ws[i].data && cudaMemcpy(ws[i].data, w.data, w.bytes, cudaMemcpyDeviceToDevice) == cudaSuccess;
    }
    std::vector<int8_t> hq((size_t)M * sh.K);
    for (auto &x : hq) {
        r = r * 1664525u + 1013904223u;
        x = (int8_t)(r >> 24);
    }
    std::vector<float> hs(M, 50.0f);
    int8_t *q = (int8_t *)be->ops->alloc(be, hq.size());
    float *s = (float *)be->ops->alloc(be, sizeof(float) * M);
    float *y = (float *)be->ops->alloc(be, sizeof(float) * M * sh.N);
    ok = ok && q && s && y && be->ops->upload(be, q, hq.data(), hq.size(), &err) == TRIT_OK &&
         be->ops->upload(be, s, hs.data(), sizeof(float) * M, &err) == TRIT_OK;
    double us = -1, us_nopdl = -1, us_early = -1, us_graph = -1, us_mma = -1, us_bulk = -1, us_reg = -1, us_bf = -1;
    double us_reg_graph = -1; // kernel2 (8 warps) from a graph: the GEMV before kernel3, same run
    auto run = [&](int i) { be->ops->matmul_tq(be, &ws[i % R], q, s, M, y, 0); };
    auto run_kernel = [&](int kernel) {
        return time_us(c, [&](int i) { trit_cuda_matmul_tq_kernel(be, &ws[i % R], q, s, M, y, 0, kernel); });
    };
    if (ok)
        us = time_us(c, run);
    if (ok && M <= 16)
        us_graph = time_graph_us(c, run);
    if (ok && M > 16) // bf16 output: the bytes cuBLAS bf16 writes
        us_bf = time_us(c, [&](int i) {
            trit_cuda_matmul_tq_out(be, &ws[i % R], q, s, M, y, TRIT_DT_BF16, 0, TRIT_CUDA_TQ_AUTO);
        });
    if (ok && M > 16 && trit_cuda_set_wgmma(be, 1)) { // the mma.sync GEMM, the fallback below compute capability 9.0
        trit_cuda_set_wgmma(be, 0);
        us_mma = time_us(c, run);
        trit_cuda_set_wgmma(be, 1);
    }
    if (ok && M <= 16 && trit_cuda_set_pdl(be, 2)) { // the successor started at once, and no PDL
        us_early = time_us(c, run);
        trit_cuda_set_pdl(be, 0);
        us_nopdl = time_us(c, run);
        trit_cuda_set_pdl(be, 1);
    }
    if (ok && M <= 16 && trit_cuda_set_wgmma(be, 1)) { // both GEMV kinds (bulk copy: compute capability 9.0)
        us_bulk = run_kernel(TRIT_CUDA_TQ_GEMV_BULK);
        us_reg = run_kernel(TRIT_CUDA_TQ_GEMV8);
    }
    if (ok && M <= 16)
        us_reg_graph = time_graph_us(c, [&](int i) {
            trit_cuda_matmul_tq_kernel(be, &ws[i % R], q, s, M, y, 0, TRIT_CUDA_TQ_GEMV8);
        });
    ok = ok && us > 0;
    if (ok) {
        const double bytes = (double)w.bytes + (double)M * sh.K + 4.0 * M * sh.N + 4.0 * M;
        const double gbs = bytes / (us * 1e3);
        const double tops = 2.0 * M * sh.N * sh.K / (us * 1e6);
        if (M <= 16) {
            const double bound = std::max(3.0, (double)w.bytes / (0.7 * copy_gbs * 1e3));
            printf("| matmul_tq gemv | %5d | %5d | %4d | %8.2f | %7.0f | %5.1f%% | %7.2f | %s |\n", sh.N, sh.K, M, us,
                   gbs, 100.0 * gbs / copy_gbs, bound, us <= bound ? "met" : "MISSED");
            if (us_graph > 0)
                printf("| gemv, CUDA graph | %5d | %5d | %4d | %8.2f | %7.0f | %5.1f%% | %7.2f | %s |\n", sh.N, sh.K, M,
                       us_graph, bytes / (us_graph * 1e3), 100.0 * bytes / (us_graph * 1e3) / copy_gbs, bound,
                       us_graph <= bound ? "met" : "MISSED");
            const struct {
                const char *name;
                double t;
            } alt[] = {{"gemv, PDL successor at once", us_early},
                       {"gemv, no PDL", us_nopdl},
                       {"gemv, bulk copy kernel", us_bulk},
                       {"gemv, register kernel (8 warps)", us_reg},
                       {"gemv, register kernel (8 warps), CUDA graph", us_reg_graph}};
            for (const auto &a : alt)
                if (a.t > 0)
                    printf("| %s | %5d | %5d | %4d | %8.2f | %7.0f | %5.1f%% | %7.2f | %s |\n", a.name, sh.N, sh.K, M,
                           a.t, bytes / (a.t * 1e3), 100.0 * bytes / (a.t * 1e3) / copy_gbs, bound,
                           a.t <= bound ? "met" : "MISSED");
        } else {
            printf("| matmul_tq gemm | %5d | %5d | %4d | %8.2f | %7.0f | %5.1f%% | %6.0f TOPS | %.1f%% of 1979 |\n", sh.N,
                   sh.K, M, us, gbs, 100.0 * gbs / copy_gbs, tops, 100.0 * tops / 1979.0);
            if (us_bf > 0)
                printf("| gemm, bf16 out | %5d | %5d | %4d | %8.2f | | | %6.0f TOPS | %.1f%% of 1979 |\n", sh.N, sh.K,
                       M, us_bf, 2.0 * M * sh.N * sh.K / (us_bf * 1e6), 100.0 * 2.0 * M * sh.N * sh.K / (us_bf * 1e6) / 1979.0);
            if (us_mma > 0)
                printf("| gemm, mma.sync | %5d | %5d | %4d | %8.2f | | | %6.0f TOPS | wgmma %.2fx |\n", sh.N, sh.K, M,
                       us_mma, 2.0 * M * sh.N * sh.K / (us_mma * 1e6), us_mma / us);
        }
    }
    for (int i = 1; i < R; i++)
        be->ops->free(be, ws[i].data);
    be->ops->tmat_free(be, &w);
    be->ops->free(be, q), be->ops->free(be, s), be->ops->free(be, y);
    return ok;
}

/* fused activation kernels at batch 1; their inputs are small and L2-resident, as in the forward */
bool bench_norm_quant(bench_ctx &c) {
    trit_backend *be = c.be;
    const int widths[] = {2560, 6912};
    for (int K : widths) {
        std::vector<float> hx(2 * (size_t)K);
        for (size_t i = 0; i < hx.size(); i++)
            hx[i] = (float)((int)(i * 2654435761u % 2001) - 1000) / 300.0f;
        float *x = (float *)be->ops->alloc(be, sizeof(float) * 2 * K);
        float *wn = (float *)be->ops->alloc(be, sizeof(float) * K);
        int8_t *q = (int8_t *)be->ops->alloc(be, K);
        float *s = (float *)be->ops->alloc(be, sizeof(float));
        trit_error err;
        if (!x || !wn || !q || !s || be->ops->upload(be, x, hx.data(), sizeof(float) * 2 * K, &err) != TRIT_OK ||
            be->ops->upload(be, wn, hx.data(), sizeof(float) * K, &err) != TRIT_OK)
            return false;
        double us = time_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
        double ug = time_graph_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
        if (us < 0 || ug < 0)
            return false;
        printf("| rmsnorm_quantize | | %5d | 1 | %8.2f | | | 3.00 | %s |\n", K, us, us <= 3.0 ? "met" : "MISSED");
        printf("| rmsnorm_quantize, CUDA graph | | %5d | 1 | %8.2f | | | 3.00 | %s |\n", K, ug,
               ug <= 3.0 ? "met" : "MISSED");
        if (trit_cuda_set_pdl(be, 2)) { // the successor started at once instead of after the wait
            const double a = time_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
            const double b = time_graph_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
            if (a < 0 || b < 0)
                return false;
            printf("| rmsnorm_quantize PDL successor at once, stream / graph | | %5d | 1 | %8.2f / %.2f | | | 3.00 | |\n",
                   K, a, b);
        }
        trit_cuda_set_pdl(be, 1);
        for (int threads : {256, 512}) { // other block sizes for the long rows, same kernel
            trit_cuda_set_quant_block(be, threads);
            const double a = time_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
            const double b = time_graph_us(c, [&](int) { be->ops->rmsnorm_quantize(be, x, wn, 1, K, 1e-5f, q, s); });
            trit_cuda_set_quant_block(be, 0);
            if (a < 0 || b < 0)
                return false;
            printf("| rmsnorm_quantize %d threads, stream / graph | | %5d | 1 | %8.2f / %.2f | | | 3.00 | |\n", threads,
                   K, a, b);
        }
        us = time_us(c, [&](int) { trit_cuda_glu_rmsnorm_quantize(be, x, 1, K, TRIT_ACT_RELU2, wn, 1e-5f, q, s); });
        if (us < 0)
            return false;
        printf("| glu_rmsnorm_quantize | | %5d | 1 | %8.2f | | | | |\n", K, us);
        ug = time_graph_us(c, [&](int) { trit_cuda_glu_rmsnorm_quantize(be, x, 1, K, TRIT_ACT_RELU2, wn, 1e-5f, q, s); });
        if (ug < 0)
            return false;
        printf("| glu_rmsnorm_quantize, CUDA graph | | %5d | 1 | %8.2f | | | | |\n", K, ug);
        be->ops->free(be, x), be->ops->free(be, wn), be->ops->free(be, q), be->ops->free(be, s);
    }
    return true;
}

/* LM head over the bf16 tied embedding of 2B-4T (128256 × 2560, 657 MB: never in L2), batch 1 */
bool bench_head(bench_ctx &c, double copy_gbs) {
    trit_backend *be = c.be;
    const int V = 128256, D = 2560;
    const size_t bytes = (size_t)V * D * 2;
    std::vector<uint16_t> h((size_t)V * D);
    uint32_t r = 7;
    for (auto &x : h) {
        r = r * 1664525u + 1013904223u;
        x = (uint16_t)(0x3c00u + (r >> 25)); // bf16 values around 0.01 .. 0.03, sign from the next line
        x |= (uint16_t)((r >> 24) & 1) << 15;
    }
    std::vector<float> hx(D);
    for (int d = 0; d < D; d++)
        hx[d] = (float)((d * 37) % 101 - 50) / 50.0f;
    void *table = be->ops->alloc(be, bytes);
    float *x = (float *)be->ops->alloc(be, sizeof(float) * D), *logits = (float *)be->ops->alloc(be, sizeof(float) * V);
    int32_t *tok = (int32_t *)be->ops->alloc(be, sizeof(int32_t));
    trit_error err;
    bool ok = table && x && logits && tok && be->ops->upload(be, table, h.data(), bytes, &err) == TRIT_OK &&
              be->ops->upload(be, x, hx.data(), sizeof(float) * D, &err) == TRIT_OK;
    if (ok) {
        double us = time_us(c, [&](int) { be->ops->lm_head(be, table, TRIT_DT_BF16, V, D, x, 1, logits); });
        double us2 = time_us(c, [&](int) { trit_cuda_lm_head_argmax(be, table, TRIT_DT_BF16, V, D, x, 1, tok); });
        ok = us > 0 && us2 > 0;
        if (ok) {
            printf("| lm_head bf16 | %d | %d | 1 | %8.2f | %7.0f | %5.1f%% | %7.2f | |\n", V, D, us, bytes / (us * 1e3),
                   100.0 * bytes / (us * 1e3) / copy_gbs, bytes / (copy_gbs * 1e3));
            printf("| lm_head_argmax bf16 | %d | %d | 1 | %8.2f | %7.0f | %5.1f%% | %7.2f | |\n", V, D, us2,
                   bytes / (us2 * 1e3), 100.0 * bytes / (us2 * 1e3) / copy_gbs, bytes / (copy_gbs * 1e3));
        }
    }
    be->ops->free(be, table), be->ops->free(be, x), be->ops->free(be, logits), be->ops->free(be, tok);
    return ok;
}

} // namespace

extern "C" int trit_cuda_bench_main(int argc, char **argv) {
    std::vector<shape> shapes(std::begin(default_shapes), std::end(default_shapes));
    std::vector<int> ms = {1, 16, 512, 2048};
    bench_ctx c;
    memset(&c, 0, sizeof c);
    c.iters = 50;
    c.reps = 7;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--device") && v && !strcmp(v, "cuda")) {
            i++;
        } else if (!strcmp(a, "--shapes") && v) {
            if (!parse_shapes(v, shapes))
                return usage(), 2;
            i++;
        } else if (!strcmp(a, "-m") && v) {
            if (!parse_list(v, ms))
                return usage(), 2;
            i++;
        } else if (!strcmp(a, "--iters") && v) {
            c.iters = atoi(v) > 0 ? atoi(v) : 50;
            i++;
        } else if (!strcmp(a, "--reps") && v) {
            c.reps = atoi(v) > 0 ? atoi(v) : 7;
            i++;
        } else if (i > 0) { /* argv[0] is the mode name ("kernels") or the program */
            fprintf(stderr, "trit bench cuda: unknown argument '%s'\n", a);
            return usage(), 2;
        }
    }
    trit_error err;
    if (trit_backend_cuda_create(1, &c.be, &err) != TRIT_OK) {
        fprintf(stderr, "trit bench cuda: %s\n", err.msg);
        return 1;
    }
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, cuda_of(c.be)->device);
    c.st = (cudaStream_t)trit_cuda_stream(c.be);
    cudaEventCreate(&c.e0);
    cudaEventCreate(&c.e1);
    const double copy_gbs = copy_bandwidth(c);
    int rc = copy_gbs > 0 ? 0 : 1;
    if (!rc) {
        printf("device: %s, %d SMs, L2 %d MB; device copy bandwidth %.0f GB/s (read + write)\n", prop.name,
               prop.multiProcessorCount, prop.l2CacheSize >> 20, copy_gbs);
        printf("weights out of L2 (rotating copies); µs = median per launch of back-to-back launches timed with CUDA\n"
               "events, from the stream or (rows 'CUDA graph') replayed from a captured graph; the GEMV is launched\n"
               "with programmatic dependent launch (sm_90) unless the row says no PDL; GEMM rows: the back end's\n"
               "kernel (wgmma where the GPU has it) and the mma.sync fallback\n\n");
        printf("| kernel | N | K | M | µs | GB/s | %% copy | bound µs | target |\n");
        printf("|---|---|---|---|---|---|---|---|---|\n");
        for (int M : ms)
            for (const shape &sh : shapes)
                if (!bench_matmul(c, sh, M, copy_gbs, (size_t)prop.l2CacheSize))
                    rc = 1;
        if (!bench_norm_quant(c) || !bench_head(c, copy_gbs))
            rc = 1;
    }
    cudaEventDestroy(c.e0);
    cudaEventDestroy(c.e1);
    c.be->ops->destroy(c.be);
    return rc;
}
