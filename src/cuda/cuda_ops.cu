/* cuda_ops.cu — the non-matmul ops of the CUDA back end: embed, rmsnorm, quantize, rmsnorm_quantize, rope,
 * kv_store, attention, glu, add, lm_head, and the fused glu+rmsnorm+quantize and lm_head+argmax.
 *
 * Exactness: the ops whose outputs feed an integer path (rmsnorm, quantize and their fusions, relu² glu, add)
 * use the expressions of the reference (cpu/ref/ref_ops.c) with explicit round-to-nearest intrinsics, so nvcc
 * cannot contract a*b+c into an FMA; the rmsnorm sum of squares is in double like the ref (only the summation
 * order differs, far below f32 precision). rope, attention, silu and lm_head are f32 with libm-class functions
 * and a different summation order: they match the ref to a few ulp, not bit for bit. lm_head also reads the
 * int8 head (TRIT_DT_I8ROW: int8 widened exactly, f32 x, the row scale applied to the warp's sum).
 * Simple kernels, one block per row or per (token, head): correct for any shape; attention walks the cache
 * serially per warp with an online softmax (a flash-style kernel is future work). */
#include <float.h>
#include <math.h>

#include <vector>

#include "cuda/cuda_impl.cuh"
#include "cuda/tq_kernels.cuh" // tq_pdl_trigger

#define ROW_BLOCK 512

// ------------------------------------------------------------------------------------------------ reductions

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max_f(float v) {
    for (int o = 16; o; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ __forceinline__ float warp_sum_f(float v) {
    for (int o = 16; o; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* block-wide sum / max, result in every thread; red: shared scratch of 32 entries; blockDim.x % 32 == 0 */
__device__ double block_sum_d(double v, double *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.0;
    return warp_sum_d(v);
}
__device__ float block_max_f(float v, float *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max_f(v);
    __syncthreads();
    if (lane == 0)
        red[warp] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.0f;
    return warp_max_f(v);
}

__device__ __forceinline__ float bf16_to_f32(uint16_t b) { return __uint_as_float((uint32_t)b << 16); }

__device__ __forceinline__ float table_at(const void *table, trit_dtype dt, size_t i) {
    return dt == TRIT_DT_BF16 ? bf16_to_f32(((const uint16_t *)table)[i]) : ((const float *)table)[i];
}

// ------------------------------------------------------------------------------------------------ norm, quantize

/* the ref's rms_scale: Σx² in double, mean narrowed to float, 1 / sqrt(mean + eps) in f32 */
__device__ float rms_scale(const float *x, int K, float eps, double *red) {
    double ss = 0.0;
    for (int k = threadIdx.x; k < K; k += blockDim.x) {
        const double d = (double)x[k];
        ss += d * d; // exact: a float's square fits a double
    }
    ss = block_sum_d(ss, red);
    const float mean = __double2float_rn(__ddiv_rn(ss, (double)K));
    return __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
}

__device__ __forceinline__ int8_t quantize_one(float v, float sc) {
    int r = __float2int_rn(__fmul_rn(v, sc)); // half to even, like rintf
    r = r > 127 ? 127 : r < -128 ? -128 : r;
    return (int8_t)r;
}

__device__ __forceinline__ float act_glu(float g, float u, int act) {
    float a;
    if (act == TRIT_ACT_RELU2) {
        const float r = fmaxf(g, 0.0f);
        a = __fmul_rn(r, r);
    } else {
        a = __fdiv_rn(g, __fadd_rn(1.0f, expf(-g)));
    }
    return __fmul_rn(a, u);
}

__global__ void rmsnorm_kernel(const float *x, const float *w, int K, float eps, float *y) {
    __shared__ double red[32];
    const float *xm = x + (size_t)blockIdx.x * K;
    float *ym = y + (size_t)blockIdx.x * K;
    const float sc = rms_scale(xm, K, eps, red);
    for (int k = threadIdx.x; k < K; k += blockDim.x)
        ym[k] = __fmul_rn(__fmul_rn(xm[k], sc), w[k]);
}

/* MODE 0: quantize(x); 1: rmsnorm then quantize; 2: glu(gu) then rmsnorm then quantize (x = gu, K = F).
 * One block per row. VPT > 0: K ≤ VPT·blockDim, the row's values stay in registers (one memory round trip);
 * VPT == 0: any K, the value is recomputed from memory in each pass (same expression, same bits). */
template <int MODE, int VPT>
__global__ void quantize_kernel(const float *x, const float *w, int K, float eps, int act, int8_t *q, float *s,
                                int early) {
    if (early) // TQ_PDL_EARLY: the next PDL-launched kernel (a GEMV) may start streaming its weights now
        tq_pdl_trigger();
    __shared__ double redd[32];
    __shared__ float redf[32];
    const float *xm = x + (size_t)blockIdx.x * K * (MODE == 2 ? 2 : 1);
    int8_t *qm = q + (size_t)blockIdx.x * K;
    // the norm weights do not depend on the previous kernel: under PDL they load while it finishes
    float wv[VPT > 0 && MODE >= 1 ? VPT : 1];
    if (VPT > 0 && MODE >= 1) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int k = threadIdx.x + i * blockDim.x;
            wv[i] = k < K ? w[k] : 0.0f;
        }
    }
    tq_pdl_wait();
    if (!early)
        tq_pdl_trigger();
    auto value = [&](int k) -> float {
        if (MODE == 2)
            return act_glu(xm[k], xm[K + k], act);
        return xm[k];
    };
    float v[VPT > 0 ? VPT : 1];
    if (VPT > 0) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int k = threadIdx.x + i * blockDim.x;
            v[i] = k < K ? value(k) : 0.0f;
        }
    }
    float nsc = 1.0f;
    if (MODE >= 1) {
        double ss = 0.0;
        if (VPT > 0) {
#pragma unroll
            for (int i = 0; i < VPT; i++)
                ss += (double)v[i] * (double)v[i]; // exact products; padding adds 0
        } else {
            for (int k = threadIdx.x; k < K; k += blockDim.x) {
                const double d = (double)value(k);
                ss += d * d;
            }
        }
        ss = block_sum_d(ss, redd);
        const float mean = __double2float_rn(__ddiv_rn(ss, (double)K));
        nsc = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
    }
    auto norm = [&](float val, int k) -> float { return MODE >= 1 ? __fmul_rn(__fmul_rn(val, nsc), w[k]) : val; };
    float amax = 0.0f;
    if (VPT > 0) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int k = threadIdx.x + i * blockDim.x;
            if (k < K) {
                v[i] = MODE >= 1 ? __fmul_rn(__fmul_rn(v[i], nsc), wv[i]) : v[i];
                amax = fmaxf(amax, fabsf(v[i]));
            }
        }
    } else {
        for (int k = threadIdx.x; k < K; k += blockDim.x)
            amax = fmaxf(amax, fabsf(norm(value(k), k)));
    }
    amax = block_max_f(amax, redf);
    const float sc = __fdiv_rn(127.0f, fmaxf(amax, 1e-5f));
    if (VPT > 0) {
#pragma unroll
        for (int i = 0; i < VPT; i++) {
            const int k = threadIdx.x + i * blockDim.x;
            if (k < K)
                qm[k] = quantize_one(v[i], sc);
        }
    } else {
        for (int k = threadIdx.x; k < K; k += blockDim.x)
            qm[k] = quantize_one(norm(value(k), k), sc);
    }
    if (threadIdx.x == 0)
        s[blockIdx.x] = sc;
}

#define QUANT_BLOCK 1024
#define QUANT_VPT 8

/* launched with programmatic dependent launch when the back end uses it (sm_90): see tq_pdl_wait */
template <int MODE, int VPT>
static cudaError_t launch_quantize_vpt(cuda_impl *ci, int block, const float *x, const float *w, int M, int K,
                                       float eps, int act, int8_t *q, float *s) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = dim3(M);
    cfg.blockDim = dim3(block);
    cfg.stream = ci->stream;
    cfg.attrs = attr;
    cfg.numAttrs = tq_pdl_attr(attr, ci->pdl);
    return cudaLaunchKernelEx(&cfg, quantize_kernel<MODE, VPT>, x, w, K, eps, act, q, s, (int)(ci->pdl == TQ_PDL_EARLY));
}

template <int MODE>
static void launch_quantize(cuda_impl *ci, const float *x, const float *w, int M, int K, float eps, int act, int8_t *q,
                            float *s, const char *what) {
    cudaError_t e;
    const int block = ci->quant_block ? ci->quant_block : QUANT_BLOCK;
    if (K <= 4 * 256) // short rows: a small block, values in registers
        e = launch_quantize_vpt<MODE, 4>(ci, 256, x, w, M, K, eps, act, q, s);
    else if (block == 256 && K <= 32 * 256)
        e = launch_quantize_vpt<MODE, 32>(ci, 256, x, w, M, K, eps, act, q, s);
    else if (block == 512 && K <= 16 * 512)
        e = launch_quantize_vpt<MODE, 16>(ci, 512, x, w, M, K, eps, act, q, s);
    else if (K <= QUANT_VPT * QUANT_BLOCK)
        e = launch_quantize_vpt<MODE, QUANT_VPT>(ci, QUANT_BLOCK, x, w, M, K, eps, act, q, s);
    else
        e = launch_quantize_vpt<MODE, 0>(ci, QUANT_BLOCK, x, w, M, K, eps, act, q, s);
    if (e != cudaSuccess)
        CUDA_RECORD(ci, TRIT_E_BACKEND, "CUDA %s: %s", what, cudaGetErrorString(e));
}

extern "C" int trit_cuda_set_quant_block(trit_backend *be, int threads) {
    cuda_impl *ci = cuda_of(be);
    ci->quant_block = threads == 256 || threads == 512 ? threads : 0;
    return ci->quant_block ? ci->quant_block : QUANT_BLOCK;
}

// ------------------------------------------------------------------------------------------------ embed, rope, kv

/* trit_kv_offset of backend.h, for device code */
__device__ __forceinline__ size_t kv_off(const trit_kvcache &kv, int layer, int seq, int pos) {
    return ((((size_t)layer * kv.n_seq + seq) * kv.n_ctx + pos) * kv.n_kv_heads) * kv.head_dim;
}

__global__ void embed_kernel(const void *table, trit_dtype dt, int D, const int32_t *tokens, float *out) {
    const size_t row = (size_t)tokens[blockIdx.x];
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        out[(size_t)blockIdx.x * D + d] = table_at(table, dt, row * D + d);
}

/* grid (M, n_heads), one thread per rotated pair. inv_freq comes from the host's powf, the same as the ref's:
 * at positions of thousands an ulp of inv_freq moves the angle by ~1e-4 rad, far more than sinf's own error. */
__global__ void rope_kernel(float *x, int D, int stride, const int32_t *pos, const float *inv_freq) {
    const int half = D / 2;
    float *xh = x + (size_t)blockIdx.x * stride + (size_t)blockIdx.y * D;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        const float ang = __fmul_rn((float)pos[blockIdx.x], inv_freq[i]);
        float sn, c;
        sincosf(ang, &sn, &c);
        const float x0 = xh[i], x1 = xh[i + half];
        xh[i] = __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, sn));
        xh[i + half] = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, sn));
    }
}

__global__ void kv_store_kernel(trit_kvcache kv, int layer, const float *k, const float *v, int stride,
                                const int32_t *seq, const int32_t *pos) {
    const int m = blockIdx.x;
    const size_t off = kv_off(kv, layer, seq[m], pos[m]);
    const int w = kv.n_kv_heads * kv.head_dim;
    for (int i = threadIdx.x; i < w; i += blockDim.x) {
        kv.k[off + i] = k[(size_t)m * stride + i];
        kv.v[off + i] = v[(size_t)m * stride + i];
    }
}

// ------------------------------------------------------------------------------------------------ attention

#define ATT_WARPS 4
#define ATT_MAXD 256 /* head_dim ≤ 256: each lane holds D/32 ≤ 8 elements of q and of the output */

/* grid (M, n_heads), block 32*ATT_WARPS: warp w handles positions w, w+ATT_WARPS, ... with an online softmax;
 * the warps' partial (max, sum, output) are merged at the end. */
__global__ void attention_kernel(trit_kvcache kv, int layer, const float *q, int q_stride, int n_heads,
                                 const int32_t *seq, const int32_t *pos, float *out) {
    const int m = blockIdx.x, h = blockIdx.y, D = kv.head_dim;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int kvh = h / (n_heads / kv.n_kv_heads);
    const size_t base = kv_off(kv, layer, seq[m], 0) + (size_t)kvh * D;
    const size_t tstride = (size_t)kv.n_kv_heads * D;
    const float scale = 1.0f / sqrtf((float)D);
    const float *qh = q + (size_t)m * q_stride + (size_t)h * D;
    float qv[ATT_MAXD / 32], o[ATT_MAXD / 32];
#pragma unroll
    for (int i = 0; i < ATT_MAXD / 32; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < D ? qh[d] : 0.0f;
        o[i] = 0.0f;
    }
    float mx = -INFINITY, sum = 0.0f;
    for (int t = warp; t <= pos[m]; t += ATT_WARPS) {
        const float *kt = kv.k + base + (size_t)t * tstride;
        const float *vt = kv.v + base + (size_t)t * tstride;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 32; i++) {
            const int d = lane + 32 * i;
            if (d < D)
                dot += qv[i] * kt[d];
        }
        const float sc = warp_sum_f(dot) * scale;
        if (sc > mx) {
            const float corr = expf(mx - sc);
            sum *= corr;
#pragma unroll
            for (int i = 0; i < ATT_MAXD / 32; i++)
                o[i] *= corr;
            mx = sc;
        }
        const float p = expf(sc - mx);
        sum += p;
#pragma unroll
        for (int i = 0; i < ATT_MAXD / 32; i++) {
            const int d = lane + 32 * i;
            if (d < D)
                o[i] += p * vt[d];
        }
    }
    __shared__ float smx[ATT_WARPS], ssum[ATT_WARPS], so[ATT_WARPS][ATT_MAXD];
    if (lane == 0)
        smx[warp] = mx, ssum[warp] = sum;
#pragma unroll
    for (int i = 0; i < ATT_MAXD / 32; i++)
        so[warp][lane + 32 * i] = o[i];
    __syncthreads();
    float gmx = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++)
        gmx = fmaxf(gmx, smx[w]);
    float tot = 0.0f, f[ATT_WARPS];
    for (int w = 0; w < ATT_WARPS; w++) {
        f[w] = smx[w] == -INFINITY ? 0.0f : expf(smx[w] - gmx); // a warp that saw no position adds nothing
        tot += ssum[w] * f[w];
    }
    float *oh = out + (size_t)m * n_heads * D + (size_t)h * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = 0.0f;
        for (int w = 0; w < ATT_WARPS; w++)
            acc += so[w][d] * f[w];
        oh[d] = acc / tot;
    }
}

// ------------------------------------------------------------------------------------------------ glu, add

__global__ void glu_kernel(const float *gu, int M, int F, int act, float *out) {
    const size_t n = (size_t)M * F;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t m = i / F, f = i % F;
        const float *g = gu + m * 2 * F;
        out[i] = act_glu(g[f], g[F + f], act);
    }
}

__global__ void add_kernel(float *h, const float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        h[i] = __fadd_rn(h[i], x[i]);
}

// ------------------------------------------------------------------------------------------------ lm head

#define HEAD_WARPS 8

/* Σ_d table[v][d] * x[d] by one warp; 16-byte loads of the table row when the row is 16-byte aligned.
 * int8 head (TRIT_DT_I8ROW): rs is the row-scale array and the sum of q * x is multiplied by rs[v] at the end. */
__device__ __forceinline__ float head_dot(const void *table, trit_dtype dt, int D, size_t v, const float *x,
                                          bool vec, const float *rs) {
    const int lane = threadIdx.x & 31;
    float acc = 0.0f;
    if (dt == TRIT_DT_I8ROW) {
        const int8_t *q = (const int8_t *)table + v * D;
        if (vec) { // D % 16 == 0
            const uint4 *row = (const uint4 *)q;
            for (int c = lane; c < D / 16; c += 32) {
                const uint4 u = __ldcs(row + c);
                const uint32_t ws[4] = {u.x, u.y, u.z, u.w};
                const float4 *xp = (const float4 *)(x + 16 * c);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    const float4 xe = xp[e];
                    acc += (float)(int8_t)(ws[e] & 0xffu) * xe.x;
                    acc += (float)(int8_t)((ws[e] >> 8) & 0xffu) * xe.y;
                    acc += (float)(int8_t)((ws[e] >> 16) & 0xffu) * xe.z;
                    acc += (float)(int8_t)(ws[e] >> 24) * xe.w;
                }
            }
        } else {
            for (int d = lane; d < D; d += 32)
                acc += (float)q[d] * x[d];
        }
        return rs[v] * warp_sum_f(acc);
    }
    if (dt == TRIT_DT_BF16 && vec) { // D % 8 == 0
        const uint4 *row = (const uint4 *)((const uint16_t *)table + v * D);
        for (int c = lane; c < D / 8; c += 32) {
            const uint4 u = __ldcs(row + c);
            const uint32_t ws[4] = {u.x, u.y, u.z, u.w};
            const float4 *xp = (const float4 *)(x + 8 * c);
            const float4 x0 = xp[0], x1 = xp[1];
            const float xs[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
#pragma unroll
            for (int e = 0; e < 4; e++) {
                acc += __uint_as_float(ws[e] << 16) * xs[2 * e];
                acc += __uint_as_float(ws[e] & 0xffff0000u) * xs[2 * e + 1];
            }
        }
    } else {
        for (int d = lane; d < D; d += 32)
            acc += table_at(table, dt, v * D + d) * x[d];
    }
    return warp_sum_f(acc);
}

__global__ void lm_head_kernel(const void *table, trit_dtype dt, int V, int D, const float *x, int M, float *logits,
                               bool vec, const float *rs) {
    const int warp = threadIdx.x >> 5;
    for (int v = blockIdx.x * HEAD_WARPS + warp; v < V; v += gridDim.x * HEAD_WARPS)
        for (int m = 0; m < M; m++) {
            const float r = head_dot(table, dt, D, (size_t)v, x + (size_t)m * D, vec, rs);
            if ((threadIdx.x & 31) == 0)
                logits[(size_t)m * V + v] = r;
        }
}

/* a float as an unsigned key with the same order; with the index inverted below it, the largest key is the
 * largest logit and, among equal logits, the lowest index */
__device__ __forceinline__ unsigned long long argmax_key(float f, int v) {
    uint32_t b = __float_as_uint(f);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((unsigned long long)b << 32) | (0xffffffffu - (uint32_t)v);
}

__global__ void lm_head_argmax_kernel(const void *table, trit_dtype dt, int V, int D, const float *x, int M,
                                      unsigned long long *keys, bool vec, const float *rs) {
    __shared__ unsigned long long best[HEAD_WARPS];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int m = 0; m < M; m++) {
        unsigned long long mine = 0;
        for (int v = blockIdx.x * HEAD_WARPS + warp; v < V; v += gridDim.x * HEAD_WARPS) {
            const unsigned long long k = argmax_key(head_dot(table, dt, D, (size_t)v, x + (size_t)m * D, vec, rs), v);
            mine = k > mine ? k : mine;
        }
        if (lane == 0)
            best[warp] = mine;
        __syncthreads();
        if (threadIdx.x == 0) {
            unsigned long long b = 0;
            for (int w = 0; w < HEAD_WARPS; w++)
                b = best[w] > b ? best[w] : b;
            atomicMax(keys + m, b);
        }
        __syncthreads();
    }
}

__global__ void argmax_finish_kernel(const unsigned long long *keys, int M, int32_t *tokens) {
    const int m = blockIdx.x * blockDim.x + threadIdx.x;
    if (m < M)
        tokens[m] = (int32_t)(0xffffffffu - (uint32_t)(keys[m] & 0xffffffffu));
}

// ------------------------------------------------------------------------------------------------ launchers

static int grid_1d(cuda_impl *ci, size_t n, int block) {
    size_t g = (n + block - 1) / block, cap = (size_t)ci->n_sm * 32;
    return (int)(g < 1 ? 1 : g > cap ? cap : g);
}

void cuda_embed(trit_backend *be, const void *table, trit_dtype dt, int32_t D, const int32_t *tokens, int32_t M,
                float *out) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    embed_kernel<<<M, 256, 0, ci->stream>>>(table, dt, D, tokens, out);
    CUDA_LAUNCHED(ci, "embed");
}

void cuda_rmsnorm(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps, float *y) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    rmsnorm_kernel<<<M, ROW_BLOCK, 0, ci->stream>>>(x, w, K, eps, y);
    CUDA_LAUNCHED(ci, "rmsnorm");
}

void cuda_quantize(trit_backend *be, const float *x, int32_t M, int32_t K, int8_t *q, float *s) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    launch_quantize<0>(ci, x, NULL, M, K, 0.0f, 0, q, s, "quantize");
}

void cuda_rmsnorm_quantize(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                           int8_t *q, float *s) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    launch_quantize<1>(ci, x, w, M, K, eps, 0, q, s, "rmsnorm_quantize");
}

extern "C" void trit_cuda_glu_rmsnorm_quantize(trit_backend *be, const float *gu, int32_t M, int32_t F,
                                               trit_act act, const float *w, float eps, int8_t *q, float *s) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    launch_quantize<2>(ci, gu, w, M, F, eps, (int)act, q, s, "glu_rmsnorm_quantize");
}

void cuda_rope(trit_backend *be, float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride, const int32_t *pos,
               float theta) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0 || n_heads <= 0)
        return;
    if (n_heads > 65535) {
        CUDA_RECORD(ci, TRIT_E_UNSUPPORTED, "rope: %d heads (at most 65535)", (int)n_heads);
        return;
    }
    const int half = D / 2;
    if (half <= 0)
        return;
    if (!ci->rope_inv || ci->rope_theta != theta || ci->rope_D != D) { // once per model: theta and D are fixed
        std::vector<float> inv(half);
        for (int i = 0; i < half; i++)
            inv[i] = 1.0f / powf(theta, (float)(2 * i) / (float)D); // the expression of trit_ref_rope_inv_freq
        cudaError_t e = cudaStreamSynchronize(ci->stream); // a queued rope may still read the old table
        if (e == cudaSuccess) {
            cudaFree(ci->rope_inv);
            ci->rope_inv = NULL;
            e = cudaMalloc(&ci->rope_inv, sizeof(float) * half);
        }
        if (e == cudaSuccess)
            e = cudaMemcpy(ci->rope_inv, inv.data(), sizeof(float) * half, cudaMemcpyHostToDevice);
        if (e != cudaSuccess) {
            cudaFree(ci->rope_inv);
            ci->rope_inv = NULL;
            CUDA_RECORD(ci, TRIT_E_BACKEND, "rope: cannot place the frequency table: %s", cudaGetErrorString(e));
            return;
        }
        ci->rope_theta = theta;
        ci->rope_D = D;
    }
    rope_kernel<<<dim3(M, n_heads), half < 32 ? 32 : half > 256 ? 256 : half, 0, ci->stream>>>(x, D, stride, pos,
                                                                                                  ci->rope_inv);
    CUDA_LAUNCHED(ci, "rope");
}

void cuda_kv_store(trit_backend *be, trit_kvcache *kv, int32_t layer, const float *k, const float *v, int32_t stride,
                   const int32_t *seq, const int32_t *pos, int32_t M) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    kv_store_kernel<<<M, 256, 0, ci->stream>>>(*kv, layer, k, v, stride, seq, pos);
    CUDA_LAUNCHED(ci, "kv_store");
}

void cuda_attention(trit_backend *be, const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride,
                    int32_t n_heads, const int32_t *seq, const int32_t *pos, int32_t M, float *out) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0)
        return;
    if (kv->head_dim > ATT_MAXD || kv->n_kv_heads <= 0 || n_heads % kv->n_kv_heads != 0 || n_heads > 65535) {
        CUDA_RECORD(ci, TRIT_E_UNSUPPORTED, "attention: head_dim %d (at most %d), %d heads over %d kv heads",
                    (int)kv->head_dim, ATT_MAXD, (int)n_heads, (int)kv->n_kv_heads);
        return;
    }
    attention_kernel<<<dim3(M, n_heads), 32 * ATT_WARPS, 0, ci->stream>>>(*kv, layer, q, q_stride, n_heads, seq, pos,
                                                                         out);
    CUDA_LAUNCHED(ci, "attention");
}

void cuda_glu(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act, float *out) {
    cuda_impl *ci = cuda_of(be);
    const size_t n = (size_t)(M > 0 ? M : 0) * (size_t)(F > 0 ? F : 0);
    if (!n)
        return;
    glu_kernel<<<grid_1d(ci, n, 256), 256, 0, ci->stream>>>(gu, M, F, (int)act, out);
    CUDA_LAUNCHED(ci, "glu");
}

void cuda_add(trit_backend *be, float *h, const float *x, size_t n) {
    cuda_impl *ci = cuda_of(be);
    if (!n)
        return;
    add_kernel<<<grid_1d(ci, n, 256), 256, 0, ci->stream>>>(h, x, n);
    CUDA_LAUNCHED(ci, "add");
}

static bool head_vec(const void *table, trit_dtype dt, int D, const float *x) {
    const bool shape = dt == TRIT_DT_BF16 ? D % 8 == 0 : dt == TRIT_DT_I8ROW && D % 16 == 0;
    return shape && ((uintptr_t)table & 15) == 0 && ((uintptr_t)x & 15) == 0;
}

/* the row scales of an int8 head (NULL for the float tables) */
static const float *head_scales(const void *table, trit_dtype dt, int32_t V, int32_t D) {
    return dt == TRIT_DT_I8ROW ? (const float *)((const char *)table + trit_i8row_scale_offset(V, D)) : NULL;
}

void cuda_lm_head(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x, int32_t M,
                  float *logits) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0 || V <= 0)
        return;
    const int grid = grid_1d(ci, (size_t)V, HEAD_WARPS);
    lm_head_kernel<<<grid, 32 * HEAD_WARPS, 0, ci->stream>>>(table, dt, V, D, x, M, logits, head_vec(table, dt, D, x),
                                                             head_scales(table, dt, V, D));
    CUDA_LAUNCHED(ci, "lm_head");
}

extern "C" void trit_cuda_lm_head_argmax(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D,
                                         const float *x, int32_t M, int32_t *tokens) {
    cuda_impl *ci = cuda_of(be);
    if (M <= 0 || V <= 0)
        return;
    const size_t need = (size_t)M * sizeof(unsigned long long);
    if (ci->scratch_bytes < need) {
        cudaFree(ci->scratch);
        ci->scratch = NULL;
        ci->scratch_bytes = 0;
        cudaError_t e = cudaMalloc(&ci->scratch, need);
        if (e != cudaSuccess) {
            CUDA_RECORD(ci, TRIT_E_NOMEM, "lm_head_argmax: cannot allocate %zu bytes: %s", need, cudaGetErrorString(e));
            ci->scratch = NULL;
            return;
        }
        ci->scratch_bytes = need;
    }
    unsigned long long *keys = (unsigned long long *)ci->scratch;
    cudaError_t e = cudaMemsetAsync(keys, 0, need, ci->stream);
    if (e != cudaSuccess) {
        CUDA_RECORD(ci, TRIT_E_BACKEND, "lm_head_argmax: %s", cudaGetErrorString(e));
        return;
    }
    const int grid = grid_1d(ci, (size_t)V, HEAD_WARPS) / 8 + 1; // fewer blocks: one atomic per block and row m
    lm_head_argmax_kernel<<<grid, 32 * HEAD_WARPS, 0, ci->stream>>>(table, dt, V, D, x, M, keys,
                                                                    head_vec(table, dt, D, x),
                                                                    head_scales(table, dt, V, D));
    CUDA_LAUNCHED(ci, "lm_head_argmax");
    argmax_finish_kernel<<<(M + 127) / 128, 128, 0, ci->stream>>>(keys, M, tokens);
    CUDA_LAUNCHED(ci, "lm_head_argmax finish");
}
