/* wgmma_trace.cu — workbench probe: where the time of the wgmma GEMM goes. Launches tq_wgmma_kernel (compiled here
 * with TQ_WGMMA_TRACE: per-CTA time stamps of its pipeline events) on one shape, once untraced for the time and once
 * traced, and prints per-CTA medians: CTA start to first data, the k-block interval, the MMA tail, the epilogue's
 * two parts, and the gap between a CTA's end and the next CTA's start on the same SM.
 * Usage: wgmma_trace [NxK M] (default 13824x2560 2048). Needs compute capability 9.0. */
#define TQ_WGMMA_TRACE 1
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include "cuda/tq_wgmma.cuh"
#include "dev_util.h"


/* variant C on one shape: ms = the time of 10 back-to-back launches after 3 warm-ups, untraced; then one traced
 * launch, whose per-CTA events it returns ([TQ_TRACE_CTAS][TQ_TRACE_EV]) */
template <class C>
static std::vector<unsigned long long> run_traced(int N, int K, int M, const uint4 *W, const int8_t *q, const float *s,
                                                  float *y, unsigned long long *buf, float *ms) {
    const tq_segs sg = {1, {N, N, N, N}, {1.5f, 1.5f, 1.5f, 1.5f}};
    const int Kt = (K + 127) / 128;
    CK(tq_wgmma_init<C>());
    unsigned long long *null = NULL;
    CK(cudaMemcpyToSymbol(tq_trace_buf, &null, sizeof null));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++)
        CK(tq_wgmma_launch<C>(0, W, Kt, q, s, M, N, K, sg, y, 0));
    CK(cudaEventRecord(e0));
    for (int i = 0; i < 10; i++)
        CK(tq_wgmma_launch<C>(0, W, Kt, q, s, M, N, K, sg, y, 0));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(ms, e0, e1));
    CK(cudaMemset(buf, 0, sizeof(unsigned long long) * TQ_TRACE_CTAS * TQ_TRACE_EV));
    CK(cudaMemcpyToSymbol(tq_trace_buf, &buf, sizeof buf));
    CK(tq_wgmma_launch<C>(0, W, Kt, q, s, M, N, K, sg, y, 0));
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpyToSymbol(tq_trace_buf, &null, sizeof null));
    std::vector<unsigned long long> h((size_t)TQ_TRACE_CTAS * TQ_TRACE_EV);
    CK(cudaMemcpy(h.data(), buf, h.size() * 8, cudaMemcpyDeviceToHost));
    return h;
}

template <class C> static void trace(const char *name, int N, int K, int M, const uint4 *W, const int8_t *q,
                                     const float *s, float *y, unsigned long long *buf, double clock_ghz) {
    const int Kt = (K + 127) / 128;
    float ms;
    const std::vector<unsigned long long> h = run_traced<C>(N, K, M, W, q, s, y, buf, &ms);
    const long tiles = (long)((N + C::ROWS - 1) / C::ROWS) * ((M + C::BT - 1) / C::BT);
    const int n = (int)std::min<long>(tiles, TQ_TRACE_CTAS), kmax = std::min(Kt, 40);
    std::vector<double> first, interval, tail, stage, epi, gap, span;
    unsigned long long t0 = ~0ull;
    for (int b = 0; b < n; b++)
        t0 = std::min(t0, h[(size_t)b * TQ_TRACE_EV + 0]);
    for (int b = 0; b < n; b++) {
        const unsigned long long *e = &h[(size_t)b * TQ_TRACE_EV];
        const double cyc_us = 1.0 / (clock_ghz * 1e3);
        first.push_back((double)(e[2] - e[1]) * cyc_us);
        if (kmax > 1)
            interval.push_back((double)(e[1 + kmax] - e[2]) / (kmax - 1) * cyc_us);
        tail.push_back((double)(e[42] - e[1 + kmax]) * cyc_us);
        stage.push_back((double)(e[43] - e[42]) * cyc_us);
        epi.push_back((double)(e[44] - e[43]) * cyc_us);
        span.push_back((double)(e[45] - e[0]) * 1e-3);
        // the next CTA on this SM: the earliest start after this end
        double best = 1e30;
        for (int c = 0; c < n; c++)
            if (c != b && h[(size_t)c * TQ_TRACE_EV + 46] == e[46] && h[(size_t)c * TQ_TRACE_EV] >= e[45])
                best = std::min(best, (double)(h[(size_t)c * TQ_TRACE_EV] - e[45]) * 1e-3);
        if (best < 1e29)
            gap.push_back(best);
    }
    printf("%-28s %dx%dx%d: %.1f µs per launch; per CTA (median of %d): first data %.2f µs, k block %.3f µs "
           "(ideal %.3f), MMA tail %.2f µs, epilogue staging %.2f µs + stores %.2f µs, CTA %.1f µs, next CTA on the "
           "SM after %.2f µs\n",
           name, M, N, K, 1000.0 * ms / 10, n, median(first), median(interval),
           2.0 * C::ROWS * C::BT * 128 / (1979e6 / 132), median(tail), median(stage),
           median(epi), median(span), median(gap));
}

/* persistent variants: the k-block times of a CTA's first two tiles (events 2..41 count k blocks across tiles) */
template <class C> static void trace_persistent(const char *name, int N, int K, int M, const uint4 *W, const int8_t *q,
                                                const float *s, float *y, unsigned long long *buf, double clock_ghz) {
    const int Kt = (K + 127) / 128;
    if (2 * Kt > 40) {
        printf("%s: K too long for the two-tile trace\n", name);
        return;
    }
    float ms;
    const std::vector<unsigned long long> h = run_traced<C>(N, K, M, W, q, s, y, buf, &ms);
    const double cyc_us = 1.0 / (clock_ghz * 1e3);
    std::vector<double> first, int1, gap, int2, epi, epi_idle, span;
    for (int b = 0; b < 132; b++) {
        const unsigned long long *e = &h[(size_t)b * TQ_TRACE_EV];
        if (!e[2 + 2 * Kt - 1])
            continue; // this CTA had one tile
        span.push_back((double)(e[45] - e[0]) * 1e-3);
        for (int j = 0; j < 7 && C::EPI && e[50 + 2 * j]; j++) { // the epilogue warps' tiles
            epi.push_back((double)(e[50 + 2 * j] - e[49 + 2 * j]) * cyc_us);
            if (j < 6 && e[51 + 2 * j])
                epi_idle.push_back((double)(e[51 + 2 * j] - e[50 + 2 * j]) * cyc_us);
        }
        first.push_back((double)(e[2] - e[1]) * cyc_us);
        int1.push_back((double)(e[2 + Kt - 1] - e[2]) / (Kt - 1) * cyc_us);
        gap.push_back((double)(e[2 + Kt] - e[2 + Kt - 1]) * cyc_us);
        int2.push_back((double)(e[2 + 2 * Kt - 1] - e[2 + Kt]) / (Kt - 1) * cyc_us);
    }
    printf("%-28s %dx%dx%d: %.1f µs per launch; per CTA (median of %zu): first data %.2f µs, k block %.3f µs in tile 1, "
           "%.3f in tile 2, tile 1's last to tile 2's first k block %.2f µs\n",
           name, M, N, K, 1000.0 * ms / 10, first.size(), median(first), median(int1), median(int2), median(gap));
    printf("%-28s CTA %.1f µs", "", median(span));
    if (!epi.empty())
        printf("; epilogue warps: %.2f µs per tile (median of %zu), then idle %.2f µs until the next tile is staged",
               median(epi), epi.size(), epi_idle.empty() ? 0.0 : median(epi_idle));
    printf("\n");
}

int main(int argc, char **argv) {
    int N = 13824, K = 2560, M = 2048;
    if (argc > 2 && (sscanf(argv[1], "%dx%d", &N, &K) != 2 || (M = atoi(argv[2])) <= 0)) {
        fprintf(stderr, "usage: wgmma_trace [NxK M]\n");
        return 2;
    }
    if (!tq_wgmma_supported(0)) {
        printf("no wgmma here\n");
        return 0;
    }
    int clock_khz = 0;
    CK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    const size_t wbytes = tq_packed_bytes(N, K);
    std::vector<uint8_t> hw(wbytes);
    std::vector<int8_t> hq((size_t)M * K);
    uint32_t r = 1;
    for (auto &x : hw) {
        r = r * 1664525u + 1013904223u;
        const uint32_t c = r >> 24; // four codes in {0,1,2}
        x = (uint8_t)((c % 3) | ((c / 3 % 3) << 2) | ((c / 9 % 3) << 4) | ((c / 27 % 3) << 6));
    }
    for (auto &x : hq) {
        r = r * 1664525u + 1013904223u;
        x = (int8_t)(r >> 24);
    }
    std::vector<float> hs(M, 37.0f);
    void *W, *q, *s, *y, *buf;
    CK(cudaMalloc(&W, wbytes));
    CK(cudaMalloc(&q, hq.size()));
    CK(cudaMalloc(&s, 4 * M));
    CK(cudaMalloc(&y, 4ull * M * N));
    CK(cudaMalloc(&buf, 8ull * TQ_TRACE_CTAS * TQ_TRACE_EV));
    CK(cudaMemcpy(W, hw.data(), wbytes, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(q, hq.data(), hq.size(), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(s, hs.data(), 4 * M, cudaMemcpyHostToDevice));
    const double ghz = clock_khz / 1e6;
    printf("SM clock attribute %.2f GHz (time stamps in cycles are converted with it)\n", ghz);
    trace<tq_wg10_cfg>("128x256 (kernel10)", N, K, M, (const uint4 *)W, (const int8_t *)q, (const float *)s,
                       (float *)y, (unsigned long long *)buf, ghz);
    trace<tq_wg11_cfg>("128x192 (kernel11)", N, K, M, (const uint4 *)W, (const int8_t *)q, (const float *)s,
                       (float *)y, (unsigned long long *)buf, ghz);
    trace<tq_wg12_cfg>("128x128 (kernel12)", N, K, M, (const uint4 *)W, (const int8_t *)q, (const float *)s,
                       (float *)y, (unsigned long long *)buf, ghz);
    trace_persistent<tq_wg31_cfg>("persistent 128x192 (kernel31)", N, K, M, (const uint4 *)W, (const int8_t *)q,
                                  (const float *)s, (float *)y, (unsigned long long *)buf, ghz);
    trace_persistent<tq_wg32_cfg>("persistent 128x192, epilogue warps (kernel32)", N, K, M, (const uint4 *)W,
                                  (const int8_t *)q, (const float *)s, (float *)y, (unsigned long long *)buf, ghz);
    trace_persistent<tq_wg30_cfg>("persistent 128x128 (kernel30)", N, K, M, (const uint4 *)W, (const int8_t *)q,
                                  (const float *)s, (float *)y, (unsigned long long *)buf, ghz);
    return 0;
}
