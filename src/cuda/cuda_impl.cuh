/* cuda_impl.cuh — private state of the CUDA back end and its error recording, shared by the .cu files of
 * src/cuda. Ops return void (backend.h), so a failure (bad argument, failed launch, asynchronous fault) is
 * recorded here, the first one wins, and ops->sync returns it. */
#ifndef TRIT_CUDA_IMPL_CUH
#define TRIT_CUDA_IMPL_CUH

#include <cuda_runtime.h>

extern "C" {
#include "core/status.h"
#include "cuda/cuda.h"
}

typedef struct cuda_impl {
    int device;
    int n_sm;
    int pdl;             /* TQ_PDL_* (tq_kernels.cuh): programmatic dependent launch of the GEMV and the norm +
                            quantize kernels (sm_90+; trit_cuda_set_pdl) */
    bool wgmma;          /* the wgmma GEMM can run here (compute capability 9.0; trit_cuda_set_wgmma) */
    int quant_block;     /* threads per row of the norm/quantize kernels for long rows; 0: QUANT_BLOCK */
    cudaStream_t stream;
    trit_error err;      /* first recorded failure; err.status == TRIT_OK when none */
    void *scratch;       /* device scratch (argmax keys), grown on demand */
    size_t scratch_bytes;
    float *rope_inv;     /* device inv_freq[D/2] for (rope_theta, rope_D), computed with the host's powf */
    float rope_theta;
    int rope_D;
} cuda_impl;

static inline cuda_impl *cuda_of(trit_backend *be) { return (cuda_impl *)be->impl; }

/* Records a failure (if none is recorded yet) with the position of the caller. */
#define CUDA_RECORD(ci, st, ...)                                                   \
    do {                                                                           \
        if ((ci)->err.status == TRIT_OK)                                           \
            trit_fail_at(&(ci)->err, (st), __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)

/* After a launch: a launch-time error (bad configuration, no kernel image for this GPU) is recorded. */
#define CUDA_LAUNCHED(ci, what)                                                               \
    do {                                                                                      \
        cudaError_t e_ = cudaGetLastError();                                                  \
        if (e_ != cudaSuccess)                                                                \
            CUDA_RECORD((ci), TRIT_E_BACKEND, "CUDA %s: %s", (what), cudaGetErrorString(e_)); \
    } while (0)

/* Launch helpers implemented in cuda_ops.cu / cuda_matmul.cu, installed in the op table by cuda_backend.cu. */
void cuda_embed(trit_backend *be, const void *table, trit_dtype dt, int32_t D, const int32_t *tokens, int32_t M,
                float *out);
void cuda_rmsnorm(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps, float *y);
void cuda_quantize(trit_backend *be, const float *x, int32_t M, int32_t K, int8_t *q, float *s);
void cuda_rmsnorm_quantize(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                           int8_t *q, float *s);
void cuda_rope(trit_backend *be, float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride, const int32_t *pos,
               float theta);
void cuda_kv_store(trit_backend *be, trit_kvcache *kv, int32_t layer, const float *k, const float *v, int32_t stride,
                   const int32_t *seq, const int32_t *pos, int32_t M);
void cuda_attention(trit_backend *be, const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride,
                    int32_t n_heads, const int32_t *seq, const int32_t *pos, int32_t M, float *out);
void cuda_glu(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act, float *out);
void cuda_add(trit_backend *be, float *h, const float *x, size_t n);
void cuda_lm_head(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x, int32_t M,
                  float *logits);
trit_status cuda_tmat_pack(trit_backend *be, trit_tmat *w, const int8_t *codes, trit_error *err);
void cuda_tmat_free(trit_backend *be, trit_tmat *w);
void cuda_matmul_tq(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y,
                    int accumulate);
/* one-time kernel attributes (dynamic shared memory above 48 KB); wgmma: also those of the wgmma GEMM */
cudaError_t cuda_matmul_init(bool wgmma);
/* whether device can run the wgmma GEMM (compute capability 9.0 and a driver with cuTensorMapEncodeTiled) */
bool tq_wgmma_available(int device);

#endif
