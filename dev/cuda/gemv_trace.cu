/* gemv_trace.cu — workbench probe: where the time of back-to-back bulk GEMV launches goes. Runs NL launches of
 * tq_gemv_bulk_kernel (compiled here with TQB_TRACE: per-CTA time stamps) on one shape with rotating cold weights,
 * once untraced for the time per launch and once traced, and prints medians over the CTAs of launches 5..NL-2:
 * the wait for the previous launch, the activation copy, when the first and last weight chunk arrived, the MMA
 * span and the stores; and per launch (globaltimer) its span, the period between launch starts, and how long after
 * the previous launch's last CTA ended this launch's CTAs passed griddepcontrol.wait.
 * Usage: gemv_trace [NxK M cps warps pdl NL] (default 13824x2560 1 1 8 1 40; pdl 0 off, 1 after the wait,
 * 2 early).
 * Needs compute capability 9.0. */
#define TQB_TRACE 1
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "cuda/tq_gemv_bulk.cuh"
#include "dev_util.h"


#define TRACE_SLOTS 4

template <int WARPS>
static void trace(int N, int K, int M, int cps, int pdl, int NL, const uint8_t *W, size_t wbytes, int R,
                  const int8_t *q, const float *s, float *y, unsigned long long *buf, double ghz, int n_sm) {
    tq_segs sg = {1, {N, N, N, N}, {1.5f, 1.5f, 1.5f, 1.5f}};
    const int Kt = (K + 127) / 128;
    CK((tq_gemv_bulk_init<WARPS, TRACE_SLOTS>()));
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    auto launch = [&](int i) {
        CK((tq_gemv_bulk_run<WARPS, TRACE_SLOTS>(st, pdl, n_sm, cps, (const uint4 *)(W + (size_t)(i % R) * wbytes), Kt, q, s, M,
                                       N, K, sg, y, 0, true)));
    };
    unsigned long long *null = NULL;
    CK(cudaMemcpyToSymbol(tqb_trace_buf, &null, sizeof null));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    auto timed_ms = [&]() { // NL back-to-back launches between two events
        CK(cudaEventRecord(e0, st));
        for (int i = 0; i < NL; i++)
            launch(i);
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        return ms;
    };
    for (int i = 0; i < 2000; i++) // warm-up: the SM clock ramps up under load (idle clock: 345 MHz)
        launch(i);
    const float ms = timed_ms();
    std::vector<unsigned> zeros(TQB_TRACE_CTAS, 0);
    CK(cudaMemcpyToSymbol(tqb_trace_count, zeros.data(), zeros.size() * 4));
    const size_t nbuf = (size_t)TQB_TRACE_LAUNCHES * TQB_TRACE_CTAS * TQB_EV;
    CK(cudaMemset(buf, 0, nbuf * 8));
    CK(cudaMemcpyToSymbol(tqb_trace_buf, &buf, sizeof buf));
    const float ms_traced = timed_ms();
    CK(cudaMemcpyToSymbol(tqb_trace_buf, &null, sizeof null));
    std::vector<unsigned long long> h(nbuf);
    CK(cudaMemcpy(h.data(), buf, nbuf * 8, cudaMemcpyDeviceToHost));
    const int Nb = (N + 15) / 16, G = std::min(tq_gemv_bulk_grid(Nb, n_sm, cps), TQB_TRACE_CTAS);
    auto ev = [&](int L, int b, int e) { return h[((size_t)L * TQB_TRACE_CTAS + b) * TQB_EV + e]; };
    const double cyc_us = 1.0 / (ghz * 1e3);
    std::vector<double> arr_first, arr_fill, act_load, chunk0, flush_end;
    std::vector<double> wait, act, first, last, mma, mma_after_last, store, span, period, release_first, release_last,
        cta;
    for (int L = 5; L < NL - 1; L++) {
        unsigned long long g_start = ~0ull, g_end = 0, g_wait_min = ~0ull, g_wait_max = 0, n_start = ~0ull;
        unsigned long long p_end = 0;
        for (int b = 0; b < G; b++) {
            wait.push_back((ev(L, b, 1) - ev(L, b, 0)) * cyc_us);
            arr_first.push_back((ev(L, b, 11) - ev(L, b, 0)) * cyc_us);
            arr_fill.push_back((ev(L, b, 12) - ev(L, b, 0)) * cyc_us);
            act_load.push_back((ev(L, b, 13) - ev(L, b, 1)) * cyc_us);
            chunk0.push_back((ev(L, b, 14) - ev(L, b, 3)) * cyc_us);
            flush_end.push_back(((double)ev(L, b, 5) - (double)ev(L, b, 15)) * cyc_us);
            act.push_back((ev(L, b, 2) - ev(L, b, 1)) * cyc_us);
            first.push_back((ev(L, b, 3) - ev(L, b, 0)) * cyc_us);
            last.push_back((ev(L, b, 4) - ev(L, b, 0)) * cyc_us);
            mma.push_back((ev(L, b, 5) - ev(L, b, 2)) * cyc_us);
            mma_after_last.push_back(((double)ev(L, b, 5) - (double)std::max(ev(L, b, 4), ev(L, b, 2))) * cyc_us);
            store.push_back((ev(L, b, 6) - ev(L, b, 5)) * cyc_us);
            cta.push_back((ev(L, b, 6) - ev(L, b, 0)) * cyc_us);
            g_start = std::min(g_start, ev(L, b, 8));
            g_end = std::max(g_end, ev(L, b, 9));
            g_wait_min = std::min(g_wait_min, ev(L, b, 10));
            g_wait_max = std::max(g_wait_max, ev(L, b, 10));
            n_start = std::min(n_start, ev(L + 1, b, 8));
            p_end = std::max(p_end, ev(L - 1, b, 9));
        }
        span.push_back((g_end - g_start) * 1e-3);
        period.push_back(((double)n_start - (double)g_start) * 1e-3);
        release_first.push_back(((double)g_wait_min - (double)p_end) * 1e-3);
        release_last.push_back(((double)g_wait_max - (double)p_end) * 1e-3);
    }
    printf("%dx%d M=%d cps=%d warps=%d pdl=%d: %.2f µs per launch (traced %.2f), %d CTAs\n", N, K, M, cps, WARPS,
           pdl, 1000.0 * ms / NL, 1000.0 * ms_traced / NL, G);
    printf("  per CTA (clock, median): wait %.2f, activations %.2f, first chunk %.2f and last chunk %.2f after start, "
           "MMAs %.2f after the activations (%.2f after the last chunk), stores %.2f, CTA %.2f µs\n",
           median(wait), median(act), median(first), median(last), median(mma), median(mma_after_last), median(store),
           median(cta));
    printf("  arrivals seen by the producer: first chunk %.2f, last chunk of the first ring fill %.2f µs after start; "
           "activation loads returned %.2f µs after the wait; warp 0: chunk 0 took %.2f µs, the final barrier %.2f\n",
           median(arr_first), median(arr_fill), median(act_load), median(chunk0), median(flush_end));
    printf("  per launch (globaltimer, median): span first start to last end %.2f, period between starts %.2f, "
           "first / last CTA past the wait %.2f / %.2f after the previous launch's last end µs\n",
           median(span), median(period), median(release_first), median(release_last));
    CK(cudaStreamDestroy(st));
}

int main(int argc, char **argv) {
    int N = 13824, K = 2560, M = 1, cps = 1, warps = 8, pdl = 1;
    if (argc > 1 && (argc < 7 || sscanf(argv[1], "%dx%d", &N, &K) != 2 || (M = atoi(argv[2])) <= 0 ||
                     (cps = atoi(argv[3])) <= 0 || (warps = atoi(argv[4])) <= 0 || (pdl = atoi(argv[5])) < 0)) {
        fprintf(stderr, "usage: gemv_trace [NxK M cps warps pdl NL]\n");
        return 2;
    }
    const int NL = argc > 6 ? std::min(atoi(argv[6]), TQB_TRACE_LAUNCHES) : 40;
    if (!tq_gemv_bulk_supported(0) || M > 16 || K % 16) {
        printf("not applicable here (compute capability 9.0, M ≤ 16, K %% 16 == 0)\n");
        return 0;
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int clock_khz = 0;
    CK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    const size_t wbytes = tq_packed_bytes(N, K);
    const int R = (int)std::min<size_t>(64, std::max<size_t>(2, 3 * (size_t)prop.l2CacheSize / wbytes + 1));
    std::vector<uint8_t> hw(wbytes);
    std::vector<int8_t> hq((size_t)M * K);
    uint32_t r = 1;
    for (auto &x : hw) {
        r = r * 1664525u + 1013904223u;
        const uint32_t c = r >> 24;
        x = (uint8_t)((c % 3) | ((c / 3 % 3) << 2) | ((c / 9 % 3) << 4) | ((c / 27 % 3) << 6));
    }
    for (auto &x : hq) {
        r = r * 1664525u + 1013904223u;
        x = (int8_t)(r >> 24);
    }
    std::vector<float> hs(M, 37.0f);
    uint8_t *W;
    void *q, *s, *y, *buf;
    CK(cudaMalloc(&W, wbytes * R));
    for (int i = 0; i < R; i++)
        CK(cudaMemcpy(W + (size_t)i * wbytes, hw.data(), wbytes, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&q, hq.size()));
    CK(cudaMalloc(&s, 4 * M));
    CK(cudaMalloc(&y, 4ull * M * N));
    CK(cudaMalloc(&buf, 8ull * TQB_TRACE_LAUNCHES * TQB_TRACE_CTAS * TQB_EV));
    CK(cudaMemcpy(q, hq.data(), hq.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(s, hs.data(), 4 * M, cudaMemcpyHostToDevice));
    const double ghz = clock_khz / 1e6;
    const int8_t *qq = (const int8_t *)q;
    const float *ss = (const float *)s;
    float *yy = (float *)y;
    unsigned long long *bb = (unsigned long long *)buf;
    const int n_sm = prop.multiProcessorCount;
    if (warps == 16)
        trace<16>(N, K, M, cps, pdl, NL, W, wbytes, R, qq, ss, yy, bb, ghz, n_sm);
    else
        trace<8>(N, K, M, cps, pdl, NL, W, wbytes, R, qq, ss, yy, bb, ghz, n_sm);
    return 0;
}
