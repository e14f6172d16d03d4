/* backend.h — the operations a back end gives the model forward (model/forward.c), as a table of function
 * pointers. The forward is written once against this table; back ends (cpu/ref: plain C oracle, cpu: SIMD +
 * threads, cuda) never fork model logic. Back ends are chosen at run time by name (trit_backend_create).
 *
 * Memory: every pointer passed to a compute op is back-end memory obtained from ops->alloc (host memory for CPU
 * back ends, device memory for CUDA). Host data goes in with ops->upload and comes out with ops->download.
 *
 * Numerics (the contract every back end meets; spec §3, §9):
 *  - activation quantization per row: s = 127 / max(max_k |x_k|, 1e-5) (f32), q_k = clamp(rint(x_k * s),
 *    -128, 127) (round half to even). The row's scale `s` travels with q.
 *  - ternary matmul: acc_n = Σ_k q_k · w[n,k] in int32 (exact); y_n = (float)acc_n / s * γ_seg(n) (f32, in
 *    this order). Integer results are bit-exact across back ends.
 *  - float ops (norms, rope, attention, glu) are f32; fast back ends may differ from ref by reordering sums.
 */
#ifndef TRIT_BACKEND_H
#define TRIT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "trit.h"

#ifdef __cplusplus
extern "C" { /* the CUDA back end is compiled as C++ */
#endif

typedef struct trit_backend trit_backend;

/* Element type of a float table (embeddings / LM head). f16 sources are widened to f32 at load.
 * TRIT_DT_I8ROW is the optional int8 LM head (trit_model_params.lm_head_int8; never an embedding table): one
 * allocation of trit_i8row_bytes(V, D) bytes holding
 *   q     int8 [V][D]  at offset 0,
 *   scale f32  [V]     at offset trit_i8row_scale_offset(V, D) (V*D rounded up to 64 bytes),
 * built at load from the f32 value w of each row: scale = max_d |w[d]| / 127 (f32), q[d] = rint(w[d] / scale)
 * (round half to even; |q| <= 127; an all-zero row has scale 0 and q 0). lm_head keeps x in f32:
 *   logits[m][v] = scale[v] * Σ_d (float)q[v][d] * x[m][d]   (f32 accumulate, the scale applied once at the end),
 * so the table is the only thing approximated (≤ scale/2 per weight); back ends differ only by sum order. */
typedef enum { TRIT_DT_F32 = 0, TRIT_DT_BF16 = 1, TRIT_DT_I8ROW = 2 } trit_dtype;

static inline size_t trit_i8row_scale_offset(int32_t V, int32_t D) {
    return ((size_t)V * (size_t)D + 63) & ~(size_t)63;
}
static inline size_t trit_i8row_bytes(int32_t V, int32_t D) { return trit_i8row_scale_offset(V, D) + 4 * (size_t)V; }

#define TRIT_TMAT_MAX_SEG 4

/* A ternary weight matrix W [N][K] (one linear, or several fused along N, e.g. q|k|v or gate|up) in the back
 * end's layout. Rows [seg_end[i-1], seg_end[i]) use scale seg_scale[i] (γ, multiplied). */
typedef struct trit_tmat {
    int32_t N, K;
    int32_t n_seg;
    int32_t seg_end[TRIT_TMAT_MAX_SEG];
    float seg_scale[TRIT_TMAT_MAX_SEG];
    void *data;   /* back-end layout, owned by the back end (freed by tmat_free) */
    size_t bytes; /* size of data */
    void *aux;    /* back-end private extra (second layout, device copy, ...) */
} trit_tmat;

/* KV cache of all layers and sequence slots, f32, layout [layer][seq][ctx][n_kv_heads][head_dim] for K and V.
 * Allocated by the forward through ops->alloc; back ends may read the layout above directly. */
typedef struct trit_kvcache {
    int32_t n_layers, n_seq, n_ctx, n_kv_heads, head_dim;
    float *k;
    float *v;
} trit_kvcache;

static inline size_t trit_kv_offset(const trit_kvcache *kv, int layer, int seq, int pos) {
    return ((((size_t)layer * kv->n_seq + seq) * kv->n_ctx + pos) * kv->n_kv_heads) * kv->head_dim;
}

typedef struct trit_backend_ops {
    const char *name;
    /* 1 when compute ops read plain host memory (CPU back ends): the model may then hand them float tables that
     * point straight into the read-only mapping of the model file instead of a copy from alloc. */
    int host_memory;

    /* ---- memory */
    void *(*alloc)(trit_backend *be, size_t bytes); /* NULL on failure; 64-byte aligned */
    void (*free)(trit_backend *be, void *p);
    trit_status (*upload)(trit_backend *be, void *dst, const void *src_host, size_t bytes, trit_error *err);
    trit_status (*download)(trit_backend *be, void *dst_host, const void *src, size_t bytes, trit_error *err);
    trit_status (*sync)(trit_backend *be, trit_error *err); /* waits for queued work; reports async errors */

    /* ---- weights: codes is host int8 [N][K] in {-1,0,+1}; w->N, K, n_seg, seg_end, seg_scale already set */
    trit_status (*tmat_pack)(trit_backend *be, trit_tmat *w, const int8_t *codes, trit_error *err);
    void (*tmat_free)(trit_backend *be, trit_tmat *w);

    /* ---- compute; M = rows (tokens). All arrays row-major, back-end memory. */
    /* out[m][D] = table[tokens[m]][:] widened to f32; tokens already validated (also used to gather f32 rows) */
    void (*embed)(trit_backend *be, const void *table, trit_dtype dt, int32_t D, const int32_t *tokens, int32_t M,
                  float *out);
    /* y[m] = x[m] * rsqrt(mean(x[m]^2) + eps) * w   (y may equal x: in place) */
    void (*rmsnorm)(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps, float *y);
    /* q[m], s[m] = quantize(x[m]) (see numerics above) */
    void (*quantize)(trit_backend *be, const float *x, int32_t M, int32_t K, int8_t *q, float *s);
    /* fused rmsnorm then quantize; same result as the two ops above, bit for bit on the ref back end */
    void (*rmsnorm_quantize)(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                             int8_t *q, float *s);
    /* y[m][n] = (float)acc / s[m] * γ(n)   (accumulate != 0: y[m][n] += that, for a fused residual add) */
    void (*matmul_tq)(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y,
                      int accumulate);
    /* NeoX rotary embedding in place on x[m][h*D .. h*D+D) for h < n_heads, rows `stride` floats apart:
     * inv_freq[i] = 1 / powf(theta, 2i/D) (f32, as transformers builds it), angle = pos[m]*inv_freq[i] (f32),
     * pairs (i, i+D/2). */
    void (*rope)(trit_backend *be, float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride,
                 const int32_t *pos, float theta);
    /* writes k[m], v[m] (n_kv_heads*head_dim each, rows `stride` apart) at (seq[m], pos[m]) of `layer` */
    void (*kv_store)(trit_backend *be, trit_kvcache *kv, int32_t layer, const float *k, const float *v,
                     int32_t stride, const int32_t *seq, const int32_t *pos, int32_t M);
    /* out[m][h*D..] = softmax(q_h · K[0..pos[m]]^T / sqrt(D)) · V over the cache of seq[m] (positions 0..pos[m]
     * inclusive; causal). q rows `q_stride` floats apart; query head h reads kv head h / (n_heads/n_kv_heads). */
    void (*attention)(trit_backend *be, const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride,
                      int32_t n_heads, const int32_t *seq, const int32_t *pos, int32_t M, float *out);
    /* out[m][f] = act(gu[m][f]) * gu[m][F+f]  (gate|up fused rows of width 2F); relu2: max(g,0)^2, silu: g/(1+e^-g) */
    void (*glu)(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act, float *out);
    /* Optional (NULL: the forward runs glu, then rmsnorm_quantize on its output): the two in one op, without the
     * [M][F] f32 intermediate. q and s bit for bit those of the back end's two ops for relu2 (silu: its exp may
     * differ in the last place). w: [F] (the sub-norm); q: [M][F]; s: [M]. */
    void (*glu_rmsnorm_quantize)(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act,
                                 const float *w, float eps, int8_t *q, float *s);
    /* h[i] += x[i] */
    void (*add)(trit_backend *be, float *h, const float *x, size_t n);
    /* logits[m][v] = Σ_d table[v][d] * x[m][d]  (f32 accumulate) */
    void (*lm_head)(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x,
                    int32_t M, float *logits);

    void (*destroy)(trit_backend *be);
} trit_backend_ops;

struct trit_backend {
    const trit_backend_ops *ops;
    int n_threads;
    void *impl; /* back-end private state */
};

/* Creates a back end by name: "ref", "cpu" (fastest CPU kernels for this machine), "cuda", or "auto"/NULL
 * (env TRIT_BACKEND if set, else cuda when a device is present, else cpu, else ref). */
trit_status trit_backend_create(const char *name, int n_threads, trit_backend **out, trit_error *err);
void trit_backend_destroy(trit_backend *be);

/* Factories, one per back end; a back end that is not compiled in or has no device returns TRIT_E_BACKEND. */
trit_status trit_backend_ref_create(int n_threads, trit_backend **out, trit_error *err);
trit_status trit_backend_cpu_create(int n_threads, trit_backend **out, trit_error *err);
trit_status trit_backend_cuda_create(int n_threads, trit_backend **out, trit_error *err);

#ifdef __cplusplus
}
#endif

#endif
