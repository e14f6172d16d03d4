/* ref_backend.c — the "ref" back end: host memory, the ref ternary weight layout (ref.h) and the op table that
 * forwards to the plain functions of ref_ops.c. n_threads is ignored: the oracle is single-threaded. */
#include <stdlib.h>
#include <string.h>

#include "backend/tmat_check.h"
#include "core/status.h"
#include "cpu/ref/ref.h"

// ------------------------------------------------------------------------------------------------ weights

trit_status trit_ref_tmat_pack(trit_tmat *w, const int8_t *codes, trit_error *err) {
    // codes: [N][K] int8 ∈ {-1,0,+1}; w->data: [N][row_bytes(K)]
    w->data = NULL;
    w->bytes = 0;
    TRIT_TRY(trit_tmat_check(w, err));
    const size_t rb = trit_ref_tmat_row_bytes(w->K);
    const size_t bytes = rb * (size_t)w->N;
    uint8_t *data = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!data)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "ternary matrix [%d][%d]: cannot allocate %zu bytes", (int)w->N,
                         (int)w->K, bytes);
    memset(data, 0x55, bytes); // code 1 (w = 0) in every slot, padding included
    for (int32_t n = 0; n < w->N; n++) {
        uint8_t *row = data + (size_t)n * rb;
        for (int32_t k = 0; k < w->K; k++) {
            int8_t c = codes[(size_t)n * w->K + k];
            if (c < -1 || c > 1) {
                free(data);
                return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix [%d][%d]: code %d at [%d][%d] is not -1, 0 or 1",
                                 (int)w->N, (int)w->K, (int)c, (int)n, (int)k);
            }
            int sh = 2 * (k % 4);
            row[k / 4] = (uint8_t)((row[k / 4] & ~(3u << sh)) | ((unsigned)(c + 1) << sh));
        }
    }
    w->data = data;
    w->bytes = bytes;
    w->aux = NULL;
    return TRIT_OK;
}

void trit_ref_tmat_free(trit_tmat *w) {
    if (!w)
        return;
    free(w->data);
    w->data = NULL;
    w->bytes = 0;
}

int trit_ref_tmat_get(const trit_tmat *w, int32_t n, int32_t k) {
    const uint8_t *row = (const uint8_t *)w->data + (size_t)n * trit_ref_tmat_row_bytes(w->K);
    return ((row[k / 4] >> (2 * (k % 4))) & 3) - 1;
}

float trit_ref_tmat_row_scale(const trit_tmat *w, int32_t n) {
    int seg = 0;
    while (seg < w->n_seg - 1 && n >= w->seg_end[seg])
        seg++;
    return w->seg_scale[seg];
}

// ------------------------------------------------------------------------------------------------ op table

static void *ref_alloc(trit_backend *be, size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64; // aligned_alloc wants a multiple of the alignment
    return aligned_alloc(64, n ? n : 64);
}

static void ref_free(trit_backend *be, void *p) { free(p); }

static trit_status ref_copy(trit_backend *be, void *dst, const void *src, size_t bytes, trit_error *err) {
    if (bytes)
        memcpy(dst, src, bytes);
    return TRIT_OK;
}

static trit_status ref_sync(trit_backend *be, trit_error *err) { return TRIT_OK; } // every op is synchronous

static trit_status ref_tmat_pack(trit_backend *be, trit_tmat *w, const int8_t *codes, trit_error *err) {
    return trit_ref_tmat_pack(w, codes, err);
}

static void ref_tmat_free(trit_backend *be, trit_tmat *w) { trit_ref_tmat_free(w); }

static void ref_embed(trit_backend *be, const void *table, trit_dtype dt, int32_t D, const int32_t *tokens,
                      int32_t M, float *out) {
    trit_ref_embed(table, dt, D, tokens, M, out);
}

static void ref_rmsnorm(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                        float *y) {
    trit_ref_rmsnorm(x, w, M, K, eps, y);
}

static void ref_quantize(trit_backend *be, const float *x, int32_t M, int32_t K, int8_t *q, float *s) {
    trit_ref_quantize(x, M, K, q, s);
}

static void ref_rmsnorm_quantize(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K,
                                 float eps, int8_t *q, float *s) {
    trit_ref_rmsnorm_quantize(x, w, M, K, eps, q, s);
}

static void ref_matmul_tq(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M,
                          float *y, int accumulate) {
    trit_ref_matmul_tq(w, q, s, M, y, accumulate);
}

static void ref_rope(trit_backend *be, float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride,
                     const int32_t *pos, float theta) {
    trit_ref_rope(x, M, n_heads, D, stride, pos, theta);
}

static void ref_kv_store(trit_backend *be, trit_kvcache *kv, int32_t layer, const float *k, const float *v,
                         int32_t stride, const int32_t *seq, const int32_t *pos, int32_t M) {
    trit_ref_kv_store(kv, layer, k, v, stride, seq, pos, M);
}

static void ref_attention(trit_backend *be, const trit_kvcache *kv, int32_t layer, const float *q,
                          int32_t q_stride, int32_t n_heads, const int32_t *seq, const int32_t *pos, int32_t M,
                          float *out) {
    trit_ref_attention(kv, layer, q, q_stride, n_heads, seq, pos, M, out);
}

static void ref_glu(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act, float *out) {
    trit_ref_glu(gu, M, F, act, out);
}

static void ref_add(trit_backend *be, float *h, const float *x, size_t n) { trit_ref_add(h, x, n); }

static void ref_lm_head(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x,
                        int32_t M, float *logits) {
    trit_ref_lm_head(table, dt, V, D, x, M, logits);
}

static void ref_destroy(trit_backend *be) { free(be); }

static const trit_backend_ops ref_ops = {
    .name = "ref",
    .host_memory = 1,
    .alloc = ref_alloc,
    .free = ref_free,
    .upload = ref_copy,
    .download = ref_copy,
    .sync = ref_sync,
    .tmat_pack = ref_tmat_pack,
    .tmat_free = ref_tmat_free,
    .embed = ref_embed,
    .rmsnorm = ref_rmsnorm,
    .quantize = ref_quantize,
    .rmsnorm_quantize = ref_rmsnorm_quantize,
    .matmul_tq = ref_matmul_tq,
    .rope = ref_rope,
    .kv_store = ref_kv_store,
    .attention = ref_attention,
    .glu = ref_glu,
    .add = ref_add,
    .lm_head = ref_lm_head,
    .destroy = ref_destroy,
};

trit_status trit_backend_ref_create(int n_threads, trit_backend **out, trit_error *err) {
    *out = NULL;
    trit_backend *be = calloc(1, sizeof *be);
    if (!be)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "ref back end: out of memory");
    be->ops = &ref_ops;
    be->n_threads = 1;
    be->impl = NULL;
    *out = be;
    return TRIT_OK;
}
