/* cuda_matmul.cu — ternary weights on the GPU: packing into the tile16x128 layout (tq_kernels.cuh) and the
 * matmul_tq dispatcher. M ≤ 16 tokens: GEMV kernel (memory bound: 2 bits per weight streamed once);
 * M > 16: the wgmma GEMM (tq_wgmma.cuh) on compute capability 9.0, else the mma.sync GEMM. Both give the exact int32 Σ q·w and the epilogue of backend.h. */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_impl.cuh"
#include "cuda/tq_kernels.cuh"
#include "cuda/tq_gemv_bulk.cuh"
#include "cuda/tq_wgmma.cuh"
#include "backend/tmat_check.h"

/* the GEMM variant the back end uses: the workbench's winner on H100 (kernel6: unsigned codes + Σq, two blocks
 * per SM; 452 TOPS at 2048×13824×2560 against 419 for kernel4) */
typedef tq_gemm6_cfg gemm_cfg;

/* supertiles per warp of tq_gemv_kernel3 (workbench kernel21: with each warp staging its own q, the best on the
 * tall and long shapes and within 0.05 µs of the best elsewhere; dev/cuda/NOTES.md, session 6) */
#define GEMV3_UNR 4

/* the bulk GEMV's consumer warps and ring slots (workbench kernel17) */
#define BULK_WARPS 8
#define BULK_SLOTS 4

/* the shared-memory size attribute of each wgmma variant, in order, stopping at the first error */
template <class OutT, class... Cfgs> static cudaError_t wgmma_init_all() {
    cudaError_t e = cudaSuccess;
    ((e = e == cudaSuccess ? tq_wgmma_init<Cfgs, OutT>() : e), ...);
    return e;
}

template <class OutT> static cudaError_t matmul_init(bool wgmma) {
    cudaError_t e = tq_gemm_init<gemm_cfg, OutT>();
    if (e == cudaSuccess)
        e = tq_gemv3_init<GEMV3_UNR, OutT>();
    if (e == cudaSuccess && wgmma)
        e = wgmma_init_all<OutT, tq_wg10_cfg, tq_wg11_cfg, tq_wg12_cfg, tq_wg31_cfg, tq_wg32_cfg, tq_wg27_cfg,
                           tq_wg28_cfg, tq_wg29_cfg>();
    return e;
}

cudaError_t cuda_matmul_init(bool wgmma) {
    cudaError_t e = matmul_init<float>(wgmma);
    if (e == cudaSuccess)
        e = matmul_init<uint16_t>(wgmma);
    if (e == cudaSuccess && wgmma) // the same machines (compute capability 9.0) run the bulk GEMV
        e = tq_gemv_bulk_init<BULK_WARPS, BULK_SLOTS>();
    return e;
}

bool tq_wgmma_available(int device) { return tq_wgmma_supported(device) && tq_encode_fn() != NULL; }

extern "C" int trit_cuda_set_wgmma(trit_backend *be, int on) {
    cuda_impl *ci = cuda_of(be);
    ci->wgmma = on && tq_wgmma_available(ci->device);
    if (ci->wgmma && cuda_matmul_init(true) != cudaSuccess)
        ci->wgmma = false;
    return ci->wgmma;
}

// ------------------------------------------------------------------------------------------------ weights

trit_status cuda_tmat_pack(trit_backend *be, trit_tmat *w, const int8_t *codes, trit_error *err) {
    // codes: host [N][K] ∈ {-1,0,+1}; w->data: device, tq_packed_bytes(N, K)
    cuda_impl *ci = cuda_of(be);
    w->data = NULL;
    w->bytes = 0;
    w->aux = NULL;
    TRIT_TRY(trit_tmat_check(w, err));
    for (size_t i = 0, n = (size_t)w->N * (size_t)w->K; i < n; i++)
        if (codes[i] < -1 || codes[i] > 1)
            return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix [%d][%d]: code %d at [%zu][%zu] is not -1, 0 or 1",
                             (int)w->N, (int)w->K, (int)codes[i], i / (size_t)w->K, i % (size_t)w->K);
    const size_t bytes = tq_packed_bytes(w->N, w->K);
    uint8_t *host = (uint8_t *)malloc(bytes);
    if (!host)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "ternary matrix [%d][%d]: cannot allocate %zu host bytes", (int)w->N,
                         (int)w->K, bytes);
    tq_pack_host(codes, w->N, w->K, host);
    void *dev = NULL;
    cudaError_t e = cudaMalloc(&dev, bytes);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, ci->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(ci->stream);
    free(host);
    if (e != cudaSuccess) {
        cudaFree(dev);
        return TRIT_FAIL(err, e == cudaErrorMemoryAllocation ? TRIT_E_NOMEM : TRIT_E_BACKEND,
                         "ternary matrix [%d][%d]: cannot place %zu bytes on the GPU: %s", (int)w->N, (int)w->K,
                         bytes, cudaGetErrorString(e));
    }
    w->data = dev;
    w->bytes = bytes;
    return TRIT_OK;
}

void cuda_tmat_free(trit_backend *be, trit_tmat *w) {
    if (!w)
        return;
    cudaFree(w->data);
    w->data = NULL;
    w->bytes = 0;
}

// ------------------------------------------------------------------------------------------------ matmul

static tq_segs segs_of(const trit_tmat *w) {
    tq_segs sg;
    sg.n_seg = w->n_seg;
    for (int i = 0; i < 4; i++) {
        sg.seg_end[i] = i < w->n_seg ? w->seg_end[i] : w->N;
        sg.seg_scale[i] = i < w->n_seg ? w->seg_scale[i] : 0.0f;
    }
    return sg;
}

template <class OutT>
static void matmul_tq(cuda_impl *ci, const trit_tmat *w, const int8_t *q, const float *s, int32_t M, OutT *y,
                      int accumulate, int kernel) {
    const bool aligned16 = ((uintptr_t)q & 15) == 0;
    // (K > 0: the GEMMs start each tile's sums with the first k block's product, not with zeros)
    const bool gemm_ok = w->K > 0 && w->K % 16 == 0 && aligned16;
    const bool wgmma_ok = gemm_ok && ci->wgmma;
    // GEMV (H100, dev/cuda/NOTES.md): 8 warps per 16-row block while all blocks fit on the GPU at once (≈ 6 blocks
    // of 256 threads per SM), 4 warps for taller matrices so they still run in one wave (up to 8 tokens: with two
    // token tiles 8 warps are faster, 13824×2560 at M = 16 16.7 against 20.2 µs); long rows (≥ 48 k blocks)
    // with at most 2 blocks per SM keep 8 supertiles per warp in flight
    // (the bulk-copy GEMV is faster on some shapes launched back to back, 2560² 2.92 against 3.15 µs from a graph,
    // but made the 2B-4T decode step slower, 428 against 497 tokens/s: not AUTO's choice)
    const int Nb = (w->N + 15) / 16, Kt = (w->K + 127) / 128;
    const bool vec = w->K % 16 == 0 && aligned16;
    const bool bulk_ok = ci->wgmma && M <= 16 && tq_gemv_bulk_fits(M, w->K, vec);
    // one token from one row block per SM on: kernel3 (H100, from a graph: 13824×2560 4.2 against 6.8 µs, 2560²
    // 2.0 against 2.6; below, e.g. 1000×1000, its staging of q costs more than it saves)
    const int gemv = M == 1 && Nb >= ci->n_sm && tq_gemv3_fits(1, Kt, GEMV3_UNR) ? TRIT_CUDA_TQ_GEMV3
                     : Nb > 6 * ci->n_sm && M <= 8                             ? TRIT_CUDA_TQ_GEMV4
                     : Kt >= 48 && Nb <= 2 * ci->n_sm                         ? TRIT_CUDA_TQ_GEMV8L
                                                                               : TRIT_CUDA_TQ_GEMV8;
    if (kernel == TRIT_CUDA_TQ_AUTO)
        kernel = M <= 16 || !gemm_ok ? gemv : wgmma_ok ? TRIT_CUDA_TQ_WGMMA : TRIT_CUDA_TQ_GEMM;
    if (kernel == TRIT_CUDA_TQ_GEMV_BULK && (!bulk_ok || sizeof(OutT) != 4)) // f32 output only
        kernel = TRIT_CUDA_TQ_GEMV8;
    if (kernel == TRIT_CUDA_TQ_GEMV_BULK) {
        const cudaError_t e = tq_gemv_bulk_run<BULK_WARPS, BULK_SLOTS>(ci->stream, ci->pdl, ci->n_sm, 2,
                                                                       (const uint4 *)w->data, Kt, q, s, M, w->N, w->K,
                                                                       segs_of(w), (float *)y, accumulate, vec);
        if (e != cudaSuccess)
            CUDA_RECORD(ci, TRIT_E_BACKEND, "CUDA matmul_tq gemv (bulk): %s", cudaGetErrorString(e));
        CUDA_LAUNCHED(ci, "matmul_tq gemv (bulk)");
        return;
    }
    const bool wg_kernel = kernel == TRIT_CUDA_TQ_WGMMA || kernel == TRIT_CUDA_TQ_WGMMA_PERSIST ||
                           kernel == TRIT_CUDA_TQ_WGMMA_EPI || kernel == TRIT_CUDA_TQ_WGMMA_SPLITK;
    if (wg_kernel && !wgmma_ok)
        kernel = TRIT_CUDA_TQ_GEMM;
    if (wg_kernel && wgmma_ok) {
        // 128 weight rows × BT tokens per CTA, one CTA per SM at a time: the BT of 256, 192 or 128 with the least
        // (waves × time per CTA), the time taken as (BT + 32) × (its k blocks + 4) (the epilogue and pipeline
        // fill; split-K, asked for explicitly, halves the k blocks: measured slower than its model everywhere on
        // H100, so AUTO never splits). From 3 full waves of 192-token tiles on, the persistent kernel with epilogue
        // warps, which runs each tile's MMAs while the previous tile's output is written; for bf16 y, whose rounding
        // makes the three warps slower than the MMAs, the persistent kernel without them (H100: dev/cuda/NOTES.md)
        if ((M + 127) / 128 > 65535) {
            CUDA_RECORD(ci, TRIT_E_UNSUPPORTED, "matmul_tq: M = %d tokens in one call (at most %d)", (int)M,
                        65535 * 128);
            return;
        }
        static const int bts[3] = {256, 192, 128};
        enum { BT_PERSIST = -1, BT_PERSIST_EPI = -2 }; // the persistent kernels (128 × 192 tiles) in place of a BT
        int bt = 256, split = kernel == TRIT_CUDA_TQ_WGMMA_SPLITK && Kt >= 2 ? 2 : 1;
        long best = -1;
        for (int i = 0; i < 3; i++) {
            const long ctas = (long)((w->N + 127) / 128) * ((M + bts[i] - 1) / bts[i]) * split;
            const long cost = (ctas + ci->n_sm - 1) / ci->n_sm * (bts[i] + 32) * ((Kt + split - 1) / split + 4);
            if (best < 0 || cost < best)
                best = cost, bt = bts[i];
        }
        const long tiles192 = (long)((w->N + 127) / 128) * ((M + 191) / 192);
        if (kernel == TRIT_CUDA_TQ_WGMMA_PERSIST)
            bt = BT_PERSIST;
        else if (kernel == TRIT_CUDA_TQ_WGMMA_EPI || (kernel != TRIT_CUDA_TQ_WGMMA_SPLITK && tiles192 >= 3L * ci->n_sm))
            bt = kernel == TRIT_CUDA_TQ_WGMMA_EPI || sizeof(OutT) == 4 ? BT_PERSIST_EPI : BT_PERSIST;
        if (bt < 0)
            split = 1;
        const uint4 *W = (const uint4 *)w->data;
        const tq_segs sg = segs_of(w);
        auto launch = [&](auto cfg) { // n_sm matters to the persistent variants only
            return tq_wgmma_launch<decltype(cfg)>(ci->stream, W, Kt, q, s, M, w->N, w->K, sg, y, accumulate, ci->n_sm);
        };
        const cudaError_t e = bt == BT_PERSIST_EPI ? launch(tq_wg32_cfg{})
                              : bt == BT_PERSIST   ? launch(tq_wg31_cfg{})
                              : split == 2         ? (bt == 256   ? launch(tq_wg27_cfg{})
                                                      : bt == 192 ? launch(tq_wg28_cfg{})
                                                                  : launch(tq_wg29_cfg{}))
                              : bt == 256          ? launch(tq_wg10_cfg{})
                              : bt == 192          ? launch(tq_wg11_cfg{})
                                                   : launch(tq_wg12_cfg{});
        if (e != cudaSuccess)
            CUDA_RECORD(ci, TRIT_E_BACKEND, "CUDA matmul_tq wgmma: %s", cudaGetErrorString(e));
        CUDA_LAUNCHED(ci, "matmul_tq wgmma");
        return;
    }
    if (kernel == TRIT_CUDA_TQ_GEMM && !gemm_ok)
        kernel = gemv; // the GEMM's 16-byte activation copies need K % 16 == 0
    if (kernel == TRIT_CUDA_TQ_GEMM) {
        if ((M + gemm_cfg::BM - 1) / gemm_cfg::BM > 65535) {
            CUDA_RECORD(ci, TRIT_E_UNSUPPORTED, "matmul_tq: M = %d tokens in one call (at most %d)", (int)M,
                        65535 * gemm_cfg::BM);
            return;
        }
        tq_gemm_launch<gemm_cfg>(ci->stream, (const uint4 *)w->data, (w->K + 127) / 128, q, s, M, w->N, w->K,
                                 segs_of(w), y, accumulate);
        CUDA_LAUNCHED(ci, "matmul_tq gemm");
        return;
    }
    // GEMV kernels: chunks of 16 tokens; the activations through shared memory where that pays (tq_gemv_stage_pays)
    const bool stage = tq_gemv_stage_pays(w->N, w->K, ci->n_sm);
    for (int32_t m0 = 0; m0 < M; m0 += 16) {
        const int mc = M - m0 < 16 ? M - m0 : 16;
        const int8_t *qc = q + (size_t)m0 * w->K;
        OutT *yc = y + (size_t)m0 * w->N;
        const uint4 *W = (const uint4 *)w->data;
        cudaError_t e = kernel == TRIT_CUDA_TQ_GEMV3 && tq_gemv3_fits(mc, Kt, GEMV3_UNR)
                            ? tq_gemv3_run<GEMV3_UNR>(ci->stream, ci->pdl, W, Kt, qc, s + m0, mc, w->N, w->K, segs_of(w),
                                                      yc, accumulate, vec)
                        : kernel == TRIT_CUDA_TQ_GEMV8L
                            ? tq_gemv_run<8, 8>(ci->stream, ci->pdl, W, Kt, qc, s + m0, mc, w->N, w->K, segs_of(w), yc,
                                                accumulate, vec, stage)
                        : kernel == TRIT_CUDA_TQ_GEMV4
                            ? tq_gemv_run<4>(ci->stream, ci->pdl, W, Kt, qc, s + m0, mc, w->N, w->K, segs_of(w), yc,
                                             accumulate, vec, stage)
                            : tq_gemv_run<8>(ci->stream, ci->pdl, W, Kt, qc, s + m0, mc, w->N, w->K, segs_of(w), yc,
                                             accumulate, vec, stage);
        if (e != cudaSuccess)
            CUDA_RECORD(ci, TRIT_E_BACKEND, "CUDA matmul_tq gemv: %s", cudaGetErrorString(e));
        CUDA_LAUNCHED(ci, "matmul_tq gemv");
    }
}

extern "C" void trit_cuda_matmul_tq_out(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s,
                                        int32_t M, void *y, trit_dtype ydt, int accumulate, int kernel) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    if (!w->data) {
        CUDA_RECORD(ci, TRIT_E_ARG, "matmul_tq: ternary matrix [%d][%d] is not packed", (int)w->N, (int)w->K);
        return;
    }
    if (ydt == TRIT_DT_F32)
        matmul_tq(ci, w, q, s, M, (float *)y, accumulate, kernel);
    else if (ydt == TRIT_DT_BF16)
        matmul_tq(ci, w, q, s, M, (uint16_t *)y, accumulate, kernel);
    else
        CUDA_RECORD(ci, TRIT_E_ARG, "matmul_tq: output type %d is neither f32 nor bf16", (int)ydt);
}

extern "C" void trit_cuda_matmul_tq_kernel(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s,
                                           int32_t M, float *y, int accumulate, int kernel) {
    trit_cuda_matmul_tq_out(be, w, q, s, M, y, TRIT_DT_F32, accumulate, kernel);
}

void cuda_matmul_tq(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y,
                    int accumulate) {
    trit_cuda_matmul_tq_kernel(be, w, q, s, M, y, accumulate, TRIT_CUDA_TQ_AUTO);
}
