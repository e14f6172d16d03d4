/* cuda_backend.cu — the "cuda" back end: device memory (cudaMalloc), one stream for all work, the op table.
 * Ops are asynchronous on the stream; their failures are recorded (cuda_impl.cuh) and returned by sync, which
 * also reports faults that surface while the queued kernels run. Never exits: a missing GPU or driver is
 * TRIT_E_BACKEND from trit_backend_cuda_create. */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_impl.cuh"
#include "cuda/tq_kernels.cuh" // TQ_PDL_*

// ------------------------------------------------------------------------------------------------ memory

static void *cuda_alloc(trit_backend *be, size_t bytes) {
    cuda_impl *ci = cuda_of(be);
    void *p = NULL;
    // cudaMalloc returns 256-byte aligned memory (≥ the 64 of backend.h); a 0-byte request still gets a pointer
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); // an allocation failure is not sticky; the caller sees NULL
        (void)ci;
        return NULL;
    }
    return p;
}

static void cuda_free(trit_backend *be, void *p) {
    if (p)
        cudaFree(p);
}

static trit_status copy(trit_backend *be, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                        const char *what, trit_error *err) {
    cuda_impl *ci = cuda_of(be);
    if (!bytes)
        return TRIT_OK;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, ci->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(ci->stream);
    if (e != cudaSuccess)
        return TRIT_FAIL(err, TRIT_E_BACKEND, "CUDA %s of %zu bytes: %s", what, bytes, cudaGetErrorString(e));
    return TRIT_OK;
}

static trit_status cuda_upload(trit_backend *be, void *dst, const void *src_host, size_t bytes, trit_error *err) {
    return copy(be, dst, src_host, bytes, cudaMemcpyHostToDevice, "upload", err);
}

static trit_status cuda_download(trit_backend *be, void *dst_host, const void *src, size_t bytes, trit_error *err) {
    return copy(be, dst_host, src, bytes, cudaMemcpyDeviceToHost, "download", err);
}

static trit_status cuda_sync(trit_backend *be, trit_error *err) {
    cuda_impl *ci = cuda_of(be);
    cudaError_t e = cudaStreamSynchronize(ci->stream);
    if (e != cudaSuccess)
        CUDA_RECORD(ci, TRIT_E_BACKEND, "CUDA kernel failed: %s", cudaGetErrorString(e));
    if (ci->err.status != TRIT_OK) {
        trit_status st = ci->err.status;
        if (err)
            *err = ci->err;
        trit_error_clear(&ci->err); // reported once; a sticky device fault will fail the next call again
        return st;
    }
    return TRIT_OK;
}

// ------------------------------------------------------------------------------------------------ lifecycle

static void cuda_destroy(trit_backend *be) {
    if (!be)
        return;
    cuda_impl *ci = cuda_of(be);
    if (ci) {
        cudaFree(ci->scratch);
        cudaFree(ci->rope_inv);
        if (ci->stream)
            cudaStreamDestroy(ci->stream);
        free(ci);
    }
    free(be);
}

static const trit_backend_ops cuda_ops = {
    .name = "cuda",
    .host_memory = 0, /* device memory: tables are copied up */
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .sync = cuda_sync,
    .tmat_pack = cuda_tmat_pack,
    .tmat_free = cuda_tmat_free,
    .embed = cuda_embed,
    .rmsnorm = cuda_rmsnorm,
    .quantize = cuda_quantize,
    .rmsnorm_quantize = cuda_rmsnorm_quantize,
    .matmul_tq = cuda_matmul_tq,
    .rope = cuda_rope,
    .kv_store = cuda_kv_store,
    .attention = cuda_attention,
    .glu = cuda_glu,
    .glu_rmsnorm_quantize = trit_cuda_glu_rmsnorm_quantize,
    .add = cuda_add,
    .lm_head = cuda_lm_head,
    .destroy = cuda_destroy,
};

extern "C" trit_status trit_backend_cuda_create(int n_threads, trit_backend **out, trit_error *err) {
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device";
        (void)cudaGetLastError();
        return TRIT_FAIL(err, TRIT_E_BACKEND, "CUDA back end unavailable: %s", why);
    }
    int dev = 0;
    cudaDeviceProp prop;
    e = cudaGetDevice(&dev);
    if (e == cudaSuccess)
        e = cudaGetDeviceProperties(&prop, dev);
    if (e != cudaSuccess)
        return TRIT_FAIL(err, TRIT_E_BACKEND, "CUDA back end: cannot query device: %s", cudaGetErrorString(e));
    if (prop.major < 8)
        return TRIT_FAIL(err, TRIT_E_BACKEND, "CUDA back end: %s is compute capability %d.%d; 8.0 or newer needed",
                         prop.name, prop.major, prop.minor);
    trit_backend *be = (trit_backend *)calloc(1, sizeof *be);
    cuda_impl *ci = (cuda_impl *)calloc(1, sizeof *ci);
    if (!be || !ci) {
        free(be);
        free(ci);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "CUDA back end: out of host memory");
    }
    ci->device = dev;
    ci->n_sm = prop.multiProcessorCount;
    ci->pdl = prop.major >= 9 ? TQ_PDL_LATE : TQ_PDL_OFF;
    ci->wgmma = tq_wgmma_available(dev);
    be->ops = &cuda_ops;
    be->n_threads = n_threads;
    be->impl = ci;
    e = cudaStreamCreateWithFlags(&ci->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess)
        e = cuda_matmul_init(ci->wgmma);
    if (e != cudaSuccess) {
        cuda_destroy(be);
        return TRIT_FAIL(err, TRIT_E_BACKEND, "CUDA back end: cannot initialise on %s: %s", prop.name,
                         cudaGetErrorString(e));
    }
    *out = be;
    return TRIT_OK;
}

extern "C" int trit_cuda_set_pdl(trit_backend *be, int mode) {
    cuda_impl *ci = cuda_of(be);
    cudaDeviceProp prop;
    const bool sm90 = cudaGetDeviceProperties(&prop, ci->device) == cudaSuccess && prop.major >= 9;
    ci->pdl = !sm90 || mode <= 0 ? TQ_PDL_OFF : mode == 1 ? TQ_PDL_LATE : TQ_PDL_EARLY;
    return ci->pdl;
}

extern "C" void *trit_cuda_stream(trit_backend *be) { return (void *)cuda_of(be)->stream; }
