/* tq_wgmma.cuh — the W2A8 GEMM on Hopper tensor cores (wgmma, sm_90a), for prefill and batched decode (M > 16).
 * Device code and its host launcher; include from .cu files only, after tq_kernels.cuh (the weight layout).
 *
 * y[m][n] = (float)(Σ_k q[m][k]·w[n][k]) / s[m] * γ(n), computed as yᵀ = W · qᵀ so that the 2-bit weights can be
 * the register operand A of wgmma:
 *  - Weights (A, m64 per wgmma): the tile16x128 layout is exactly the wgmma A register fragment of one warp for
 *    four k32 steps (lane 4g+t, word j = step j, bit pair r = fragment register r), so a lane decodes its 16 bytes
 *    of a supertile into 16 registers of signed int8 and nothing else is rearranged. The CTA's supertiles of a k
 *    block reach shared memory as one TMA box of a 3-D view of the packed weights, two bits per weight: no int8
 *    weight copy exists anywhere. Two register sets: k block kb+1 is decoded while kb's wgmma group runs.
 *  - Activations (B, n = BT tokens per wgmma): a TMA tensor copy of BT tokens × 128 k bytes per stage, 128-byte
 *    swizzled, which is the K-major layout wgmma reads through a matrix descriptor; step j starts 32·j bytes in.
 *  - One CTA = 3 warpgroups: a producer (one thread issues the copies; setmaxnreg gives its registers away) and
 *    two consumers of MT × 64 weight rows each. A STAGES-deep ring of full/empty mbarriers connects them.
 *  - int32 accumulators in registers; the epilogue of backend.h, (float)acc / s · γ rounded as the reference does
 *    (the division by Markstein's exact correction of acc · (1/s)), with the residual add when asked. It goes
 *    through shared memory so that the threads write y in 16-byte rows; OutT = uint16_t writes bf16 (the f32
 *    result rounded to nearest even, as trit_ref_matmul_tq_bf16).
 * H100 history and figures: dev/cuda/NOTES.md.
 * Needs K % 16 == 0 (the TMA row stride) and q 16-byte aligned; the dispatcher falls back to the mma.sync kernel
 * otherwise, and on GPUs other than compute capability 9.0. */
#ifndef TRIT_CUDA_TQ_WGMMA_CUH
#define TRIT_CUDA_TQ_WGMMA_CUH

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

#include <cooperative_groups.h>

#include "cuda/tq_async.cuh"
#include "cuda/tq_kernels.cuh"

/* wgmma and setmaxnreg exist only in the sm_90a machine code; other passes (the compute_80 PTX) get a kernel
 * that traps, which the dispatcher never launches there (tq_wgmma_supported). */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define TQ_WGMMA_DEVICE 1
#else
#define TQ_WGMMA_DEVICE 0
#endif

/* PERSIST 1: one CTA per SM loops over the tiles. A tile's int32 sums go to a padded staging tile of their own
 * (not the stage buffers), so while the consumers write y the producer already streams the next tile's k blocks
 * into the ring: the next tile's MMAs start without the pipeline fill. (Writing y between the next tile's wgmma
 * groups, from the consumer warps, made each k block slower by about the time the writing took: a warp that issues
 * wgmma does nothing else meanwhile, so EPI gives the writing to other warps. Keep ptxas free of its C7515
 * warning: an accumulator set by other instructions inside a wgmma pipeline serialises every wgmma; hence the
 * first k block's scale-d = 0 instead of zeroed accumulators.)
 * PERSIST 0: one CTA per tile; the staging tile reuses the freed stage buffers and y is written after the MMAs.
 * PP 1 (ping-pong, persistent): each consumer warpgroup takes whole tiles of MT × 64 rows, the two in turn (the
 * CTA's tiles 0, 2, 4.. and 1, 3, 5..) from the one ring, so one warpgroup's epilogue runs while the other's MMAs
 * use the tensor cores (CUTLASS's "ping-pong" schedule). The epilogue writes y straight from the accumulators.
 * Measured on H100 (workbench kernel60): 1.45× slower than PERSIST without it; one warpgroup alone does not keep
 * the tensor cores busy with the register-operand decode. Kept for the workbench. */
template <int MT_, int BT_, int STAGES_, int PERSIST_ = 0, int PP_ = 0, int EPI_ = 0, int SPLIT_ = 1> struct tq_wg_cfg {
    static constexpr int PERSIST = PERSIST_;
    static constexpr int PP = PP_;
    static_assert(!PP || PERSIST, "ping-pong is a persistent schedule");
    // EPI (persistent): warps 1-3 of the producer warpgroup write y from the staging tile while the consumers
    // already run the next tile's MMAs; the consumers only move their sums into the staging tile. (Measured and
    // dropped, 90f07c9: the consumers writing finished f32 y for a TMA tensor store, 138 against 114 µs, the
    // store's shared-memory reads slowing the k blocks; 104 registers per epilogue thread, no change.)
    static constexpr int EPI = EPI_;
    static_assert(!EPI || (PERSIST && !PP), "the epilogue warps serve a persistent staging tile");
    static constexpr int EPI_THREADS = 96;
    // SPLIT 2 (one CTA per tile): a cluster of two CTAs per tile, each over half of the k blocks; rank 1's sums
    // reach rank 0's epilogue through distributed shared memory. Meant for grids that leave SMs idle, but measured
    // slower on H100 (2560²×512 15.5 against 12.7 µs: dev/cuda/NOTES.md); selectable, not AUTO's choice.
    static constexpr int SPLIT = SPLIT_;
    static_assert(SPLIT == 1 || (SPLIT == 2 && !PERSIST), "split-K pairs serve one tile per CTA");
    // registers per thread after setmaxnreg (128 · producer + 256 · consumer ≤ 65536): the epilogue warps need
    // more than the copy thread alone
    static constexpr int PRODUCER_REGS = EPI ? 72 : 40;
    static constexpr int CONSUMER_REGS = EPI ? 216 : 232;
    static constexpr int MT = MT_;                  // m64 tiles per consumer warpgroup
    static constexpr int BT = BT_;                  // tokens per tile = wgmma n
    static constexpr int STAGES = STAGES_;
    static constexpr int ROWS = (PP ? 1 : 2) * 64 * MT; // weight rows per tile
    static constexpr int RB = ROWS / 16;            // row blocks (supertiles) per stage
    static constexpr int BBYTES = BT * 128;         // activation tile per stage (multiple of 1024)
    static constexpr int WBYTES = RB * TQ_ST_BYTES; // weight supertiles per stage
    static constexpr int THREADS = 384;
    static constexpr int RING = STAGES * (BBYTES + WBYTES);
    static constexpr int P = ROWS + 4;              // staging row pitch (int32): the pad spreads rows over banks
    // sums [BT][P], s and 1/s [BT], γ [ROWS]; PP: s and 1/s [BT] per consumer warpgroup
    static constexpr int STAGE_OUT = PP ? 2 * BT * 8 : BT * P * 4 + BT * 8 + ROWS * 4;
    static constexpr int OUT = PERSIST ? STAGE_OUT : 0; // PERSIST: the staging tile after the ring
    static constexpr int SMEM = 1024 /* alignment slack */ + RING + OUT + 2 * STAGES * 8;
    static_assert(PERSIST || STAGE_OUT <= RING, "the staging tile reuses the stage buffers");
    static_assert(SMEM <= 227 * 1024, "more shared memory than an SM has");
};
typedef tq_wg_cfg<1, 256, 5> tq_wg10_cfg;       // kernel10: 128 rows × 256 tokens
typedef tq_wg_cfg<1, 192, 7> tq_wg11_cfg;       // kernel11: 128 rows × 192 tokens
typedef tq_wg_cfg<1, 128, 8> tq_wg12_cfg;       // kernel12: 128 rows × 128 tokens
typedef tq_wg_cfg<2, 128, 6> tq_wg13_cfg;       // kernel13: 256 rows × 128 tokens
typedef tq_wg_cfg<1, 128, 7, 1> tq_wg30_cfg; // kernel30: persistent, 128 × 128 tiles
typedef tq_wg_cfg<1, 192, 4, 1> tq_wg31_cfg; // kernel31: persistent, 128 × 192 tiles
typedef tq_wg_cfg<1, 192, 4, 1, 0, 1> tq_wg32_cfg; // kernel32: kernel31 with y written by the epilogue warps
typedef tq_wg_cfg<1, 256, 5, 0, 0, 0, 2> tq_wg27_cfg; // kernel27..29: kernel10..12 with split-K over a 2-CTA cluster
typedef tq_wg_cfg<1, 192, 7, 0, 0, 0, 2> tq_wg28_cfg;
typedef tq_wg_cfg<1, 128, 8, 0, 0, 0, 2> tq_wg29_cfg;
typedef tq_wg_cfg<2, 128, 10, 1, 1> tq_wg60_cfg; // kernel60: ping-pong, 128 × 128 tiles per warpgroup (workbench
                                                 // only: 176 µs against 121 for kernel31 at 2048×13824×2560)

#if TQ_WGMMA_DEVICE
/* Inline PTX names every accumulator register of a wgmma as an operand of its own: TQ_ACC32(i) binds d[i .. i+31]
 * read-write, and TQ_OPS32_k is the operand text "%32k, .., %(32k+31)". */
#define TQ_ACC8(i)                                                                                                     \
    "+r"(d[i]), "+r"(d[i + 1]), "+r"(d[i + 2]), "+r"(d[i + 3]), "+r"(d[i + 4]), "+r"(d[i + 5]), "+r"(d[i + 6]),        \
        "+r"(d[i + 7])
#define TQ_ACC32(i) TQ_ACC8(i), TQ_ACC8(i + 8), TQ_ACC8(i + 16), TQ_ACC8(i + 24)
#define TQ_OPS32_0                                                                                                     \
    "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"                                                           \
    "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
#define TQ_OPS32_1                                                                                                     \
    "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"                                                 \
    "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define TQ_OPS32_2                                                                                                     \
    "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,"                                                 \
    "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95"
#define TQ_OPS32_3                                                                                                     \
    "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,"                                     \
    "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"

/* d += A · B for 64 rows × N tokens × 32 k: A (4 registers of int8, the lane's fragment), B by matrix descriptor;
 * scale_d = 0 overwrites d */
template <int N> __device__ __forceinline__ void tq_wgmma(int32_t (&d)[N / 2], const uint32_t (&a)[4], uint64_t desc,
                                                          int scale_d);
template <>
__device__ __forceinline__ void tq_wgmma<64>(int32_t (&d)[32], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8 {" TQ_OPS32_0
                 "}, {%32,%33,%34,%35}, %36, p;\n}\n"
                 : TQ_ACC32(0)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));
}
template <>
__device__ __forceinline__ void tq_wgmma<128>(int32_t (&d)[64], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k32.s32.s8.s8 {" TQ_OPS32_0 "," TQ_OPS32_1
                 "}, {%64,%65,%66,%67}, %68, p;\n}\n"
                 : TQ_ACC32(0), TQ_ACC32(32)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));
}
template <>
__device__ __forceinline__ void tq_wgmma<192>(int32_t (&d)[96], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %101, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n192k32.s32.s8.s8 {" TQ_OPS32_0 "," TQ_OPS32_1 "," TQ_OPS32_2
                 "}, {%96,%97,%98,%99}, %100, p;\n}\n"
                 : TQ_ACC32(0), TQ_ACC32(32), TQ_ACC32(64)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));
}
template <>
__device__ __forceinline__ void tq_wgmma<256>(int32_t (&d)[128], const uint32_t (&a)[4], uint64_t desc, int scale_d) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 {" TQ_OPS32_0 "," TQ_OPS32_1 "," TQ_OPS32_2 "," TQ_OPS32_3
                 "}, {%128,%129,%130,%131}, %132, p;\n}\n"
                 : TQ_ACC32(0), TQ_ACC32(32), TQ_ACC32(64), TQ_ACC32(96)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc), "r"(scale_d));
}

__device__ __forceinline__ void tq_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void tq_wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void tq_wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}


/* the matrix descriptor of a K-major, 128-byte-swizzled tile (rows of 128 bytes, 8-row groups 1024 bytes apart) */
__device__ __forceinline__ uint64_t tq_desc_sw128(uint32_t saddr) {
    return (uint64_t)((saddr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}
#endif // TQ_WGMMA_DEVICE

__device__ __noinline__ float tq_div_slow(float x, float s) { return __fdiv_rn(x, s); }

/* Workbench tracing (dev/cuda/matmul_tq.cu defines TQ_WGMMA_TRACE): time stamps of one CTA's pipeline events into
 * tq_trace_buf[cta][TQ_TRACE_EV] for the first TQ_TRACE_CTAS CTAs; compiled out of the product. */
#define TQ_TRACE_EV 64
#define TQ_TRACE_CTAS 512
#ifdef TQ_WGMMA_TRACE
__device__ unsigned long long *tq_trace_buf;
__device__ __forceinline__ void tq_trace(int ev, bool global_time = false) {
    unsigned long long t;
    if (global_time)
        asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
    else
        t = clock64();
    if (tq_trace_buf && blockIdx.x < TQ_TRACE_CTAS && ev < TQ_TRACE_EV)
        tq_trace_buf[(size_t)blockIdx.x * TQ_TRACE_EV + ev] = t;
}
#else
__device__ __forceinline__ void tq_trace(int, bool = false) {}
#endif
/* events: 0 consumer start (globaltimer), 1 consumer start (clock), 2..41 k block kb's data ready (clock, kb < 40),
 * 42 MMAs done, 43 epilogue tile in shared memory, 44 epilogue done, 45 end (globaltimer), 46 SM id,
 * 47 producer start (clock), 48 producer done issuing (clock), 49 + 2j and 50 + 2j the epilogue warps' start and
 * end of the CTA's tile j (EPI, clock, j < 7) */

/* a barrier among the 128 threads of consumer warpgroup cw (named barriers 2 and 3; 0 is __syncthreads, 1 both
 * consumer warpgroups) */
__device__ __forceinline__ void tq_wg_bar(int cw) {
    if (cw == 0)
        asm volatile("bar.sync 2, 128;\n" ::: "memory");
    else
        asm volatile("bar.sync 3, 128;\n" ::: "memory");
}
/* Ping-pong order: warpgroup cw's tile j waits until the other's tile j-1 has finished its MMAs (named barriers 4
 * and 5, 128 threads arriving and 128 waiting). Besides giving the tensor cores to one warpgroup at a time, it
 * keeps the full barriers' parity waits exact: a warpgroup never waits for a ring position more than one pass
 * ahead of what has been consumed. */
__device__ __forceinline__ void tq_pp_wait_turn(int cw) {
    if (cw == 0)
        asm volatile("bar.sync 5, 256;\n" ::: "memory");
    else
        asm volatile("bar.sync 4, 256;\n" ::: "memory");
}
__device__ __forceinline__ void tq_pp_pass_turn(int cw) {
    if (cw == 0)
        asm volatile("bar.arrive 4, 256;\n" ::: "memory");
    else
        asm volatile("bar.arrive 5, 256;\n" ::: "memory");
}
/* the same barrier, returning whether v holds on every thread of the warpgroup */
__device__ __forceinline__ bool tq_wg_bar_and(int cw, bool v) {
    uint32_t r;
    if (cw == 0)
        asm volatile("{\n.reg .pred p, q;\nsetp.ne.u32 p, %1, 0;\nbar.red.and.pred q, 2, 128, p;\nselp.u32 %0, 1, 0, q;\n}\n"
                     : "=r"(r) : "r"((uint32_t)v) : "memory");
    else
        asm volatile("{\n.reg .pred p, q;\nsetp.ne.u32 p, %1, 0;\nbar.red.and.pred q, 3, 128, p;\nselp.u32 %0, 1, 0, q;\n}\n"
                     : "=r"(r) : "r"((uint32_t)v) : "memory");
    return r != 0;
}

/* y from the staging tile (n_tok tokens × C::ROWS rows at (m0, n0)) by NT threads, et = 0 .. NT-1. Thread et
 * always takes the same four rows r4.. of every TSTEP-th token, so its γ are loaded once and its y pointer only
 * steps; the rare s outside [1e-20, 1e30] (1/s = 0) takes the exact division per four values, not per value.
 * 16-byte (bf16: 8-byte) stores where the rows allow. (Per value: I2F, 3 FMA-pipe ops, the γ product; the loop's
 * bookkeeping was ~20 instructions per value before, and the output phase was bound by it, not by the bytes.) */
template <class C, int NT, class OutT>
__device__ __forceinline__ void tq_write_tile(const int32_t *tile_acc, const float *ts, const float *tr,
                                              const float *row_g, OutT *__restrict__ y, int N, int m0, int n0,
                                              int n_tok, int accumulate, int et,
                                              const int32_t *tile_acc2 = nullptr /* SPLIT: the other half's sums */) {
    constexpr int G = C::ROWS / 4, TSTEP = NT / G; // four-row groups per token, tokens per pass
    static_assert(NT % G == 0, "the threads cover whole tokens");
    const int r4 = 4 * (et % G), tok0 = et / G;
    const bool vec4 = N % 4 == 0 && n0 + C::ROWS <= N;
    const float4 g4 = *(const float4 *)&row_g[r4];
    const float gv[4] = {g4.x, g4.y, g4.z, g4.w};
    OutT *yp = y + (size_t)(m0 + tok0) * N + n0 + r4;
    const size_t ystep = (size_t)TSTEP * N;
#pragma unroll 8
    for (int tok = tok0; tok < n_tok; tok += TSTEP, yp += ystep) {
        const float sm = ts[tok], rm = tr[tok];
        int4 a4 = *(const int4 *)&tile_acc[tok * C::P + r4];
        if (C::SPLIT == 2) { // int32 sums: exact in any order
            const int4 b4 = *(const int4 *)&tile_acc2[tok * C::P + r4];
            a4 = make_int4(a4.x + b4.x, a4.y + b4.y, a4.z + b4.z, a4.w + b4.w);
        }
        const int32_t av[4] = {a4.x, a4.y, a4.z, a4.w};
        float v[4];
        if (rm != 0.0f) {
#pragma unroll
            for (int c = 0; c < 4; c++) {
                const float x = (float)av[c], q = __fmul_rn(x, rm);
                // Markstein's correction is exact for |acc| < 2^31 when 1e-20 <= s <= 1e30
                v[c] = __fmul_rn(__fmaf_rn(__fmaf_rn(-q, sm, x), rm, q), gv[c]);
            }
        } else {
#pragma unroll
            for (int c = 0; c < 4; c++)
                v[c] = __fmul_rn(tq_div_slow((float)av[c], sm), gv[c]);
        }
        if (vec4 && sizeof(OutT) == 4) {
            float4 o = make_float4(v[0], v[1], v[2], v[3]);
            if (accumulate) {
                const float4 h = *(const float4 *)yp;
                o = make_float4(__fadd_rn(h.x, o.x), __fadd_rn(h.y, o.y), __fadd_rn(h.z, o.z),
                                __fadd_rn(h.w, o.w));
            }
            *(float4 *)yp = o;
        } else if (vec4) { // bf16: 4 values in 8 bytes
            if (accumulate) {
                const uint2 h = *(const uint2 *)yp;
                v[0] = __fadd_rn(tq_from_bf16((uint16_t)h.x), v[0]);
                v[1] = __fadd_rn(tq_from_bf16((uint16_t)(h.x >> 16)), v[1]);
                v[2] = __fadd_rn(tq_from_bf16((uint16_t)h.y), v[2]);
                v[3] = __fadd_rn(tq_from_bf16((uint16_t)(h.y >> 16)), v[3]);
            }
            *(uint2 *)yp = make_uint2(tq_bf16(v[0]) | (uint32_t)tq_bf16(v[1]) << 16,
                                      tq_bf16(v[2]) | (uint32_t)tq_bf16(v[3]) << 16);
        } else {
#pragma unroll
            for (int c = 0; c < 4; c++)
                if (n0 + r4 + c < N)
                    tq_put(yp + c, accumulate ? __fadd_rn(tq_get(yp + c), v[c]) : v[c]);
        }
    }
}

/* EPI hand-over of the staging tile between the 256 consumer threads and the 96 epilogue threads (named barriers
 * 6, "full", and 7, "free"; each arrives on one and waits on the other) */
static_assert(256 + 96 == 352, "two consumer warpgroups, three epilogue warps");
__device__ __forceinline__ void tq_epi_pass_full() { asm volatile("bar.arrive 6, 352;\n" ::: "memory"); }
__device__ __forceinline__ void tq_epi_wait_full() { asm volatile("bar.sync 6, 352;\n" ::: "memory"); }
__device__ __forceinline__ void tq_epi_pass_free() { asm volatile("bar.arrive 7, 352;\n" ::: "memory"); }
__device__ __forceinline__ void tq_epi_wait_free() { asm volatile("bar.sync 7, 352;\n" ::: "memory"); }
/* every thread of both CTAs of the cluster; release/acquire: shared-memory writes before it are visible after it */
__device__ __forceinline__ void tq_cluster_sync() {
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
}
template <int R> __device__ __forceinline__ void tq_setmaxnreg_dec() {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
}
template <int R> __device__ __forceinline__ void tq_setmaxnreg_inc() {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
}

/* grid: min(tiles, SMs) CTAs when C::PERSIST, else one per tile; tile i is row tile i % n_rt, token tile
 * i / n_rt (neighbouring CTAs share the activation tile in L2). Block 384 threads; dynamic shared memory C::SMEM. */
template <class C, class OutT = float>
__global__ void __launch_bounds__(384, 1)
    tq_wgmma_kernel(const __grid_constant__ CUtensorMap qmap, const __grid_constant__ CUtensorMap wmap, int Kt,
                    int n_rt, int n_tiles,
                    const float *__restrict__ s, int M, int N, tq_segs sg, OutT *__restrict__ y, int accumulate) {
#if TQ_WGMMA_DEVICE
    extern __shared__ uint8_t smem_raw[];
    // swizzle atoms need 1024-byte alignment; an offset from smem_raw (not an integer round trip) keeps the
    // pointers in the shared space, so the staging tile and the weights are read by LDS, not generic loads
    uint8_t *smem = smem_raw + ((1024u - (tq_smem_addr(smem_raw) & 1023u)) & 1023u);
    uint8_t *sB = smem, *sW = smem + C::STAGES * C::BBYTES;
    // the staging tile: int32 sums [BT][P], then per-token s and 1/s and per-row γ of the tile it holds
    int32_t *tile_acc = (int32_t *)(C::PERSIST ? smem + C::RING : smem);
    float *ts = (float *)(tile_acc + C::BT * C::P), *tr = ts + C::BT, *row_g = tr + C::BT;
    uint64_t *full = (uint64_t *)(smem + C::RING + C::OUT), *empty = full + C::STAGES;
    const int wg = threadIdx.x / 128;
    // this CTA's first tile and tile step, and its k blocks [kb_base, kb_base + Kl) of each tile (SPLIT: cluster
    // rank r takes the r-th half)
    uint32_t rank = 0;
    if (C::SPLIT == 2)
        asm("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
    const int cta = C::SPLIT == 2 ? blockIdx.x >> 1 : blockIdx.x, ncta = C::SPLIT == 2 ? gridDim.x >> 1 : gridDim.x;
    const int kb_base = C::SPLIT == 2 ? (int)rank * ((Kt + 1) / 2) : 0;
    const int Kl = C::SPLIT == 2 ? (rank ? Kt - kb_base : (Kt + 1) / 2) : Kt; // ≥ 1: the launcher wants Kt ≥ 2

    if (threadIdx.x == 0) {
        for (int i = 0; i < C::STAGES; i++) {
            tq_mbar_init(&full[i], 1);
            tq_mbar_init(&empty[i], C::PP ? 4 : 8); // lane 0 of each consumer warp that reads the stage
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();

    if (wg == 0) { // producer: one thread streams every k block of every tile of this CTA through the ring
        tq_setmaxnreg_dec<C::PRODUCER_REGS>();
        if constexpr (C::EPI) {
            if (threadIdx.x >= 32) { // the epilogue warps: y of each tile the consumers have staged
                for (int j = 0, tile = cta; tile < n_tiles; j++, tile += ncta) {
                    const int m0 = (tile / n_rt) * C::BT, n0 = (tile % n_rt) * C::ROWS;
                    tq_epi_wait_full();
                    if (threadIdx.x == 32 && j < 7)
                        tq_trace(49 + 2 * j);
                    tq_write_tile<C, C::EPI_THREADS>(tile_acc, ts, tr, row_g, y, N, m0, n0, min(C::BT, M - m0),
                                                     accumulate, threadIdx.x - 32);
                    if (threadIdx.x == 32 && j < 7)
                        tq_trace(50 + 2 * j);
                    if (tile + ncta < n_tiles)
                        tq_epi_pass_free();
                }
                return;
            }
        }
        if (threadIdx.x == 0) {
            tq_trace(47);
            int c = 0; // k blocks issued so far: stage c % STAGES, pass c / STAGES
            for (int tile = cta; tile < n_tiles; tile += ncta) {
                const int rb0 = (tile % n_rt) * C::RB, m0 = (tile / n_rt) * C::BT;
                for (int kb = kb_base; kb < kb_base + Kl; kb++, c++) {
                    const int st = c % C::STAGES;
                    tq_mbar_wait(&empty[st], ((c / C::STAGES) & 1) ^ 1);
                    // the boxes count their out-of-range rows (zero-filled) in the transaction bytes
                    tq_mbar_expect_tx(&full[st], C::BBYTES + C::WBYTES);
                    tq_tma_2d(sB + st * C::BBYTES, &qmap, kb * 128, m0, &full[st]);
                    tq_tma_3d(sW + st * C::WBYTES, &wmap, 0, kb, rb0, &full[st]);
                }
            }
            tq_trace(48);
        }
        if (C::SPLIT == 2) { // the consumers' two cluster barriers
            tq_cluster_sync();
            tq_cluster_sync();
        }
        return;
    }

    // consumers
    tq_setmaxnreg_inc<C::CONSUMER_REGS>();
    const int cw = wg - 1, wl = (threadIdx.x / 32) & 3, lane = threadIdx.x & 31, ct = threadIdx.x - 128;
    const int cwt = ct & 127; // thread in its warpgroup
    const bool tracer = ct == 0;
    if (tracer) {
        tq_trace(0, true);
        tq_trace(1);
#ifdef TQ_WGMMA_TRACE
        unsigned smid;
        asm volatile("mov.u32 %0, %%smid;\n" : "=r"(smid));
        if (tq_trace_buf && blockIdx.x < TQ_TRACE_CTAS)
            tq_trace_buf[(size_t)blockIdx.x * TQ_TRACE_EV + 46] = smid;
#endif
    }
    const int g = lane >> 2, t = lane & 3;
    int32_t acc[C::MT][C::BT / 2];
    // Two register sets of decoded weights: k block kb+1 is decoded while the wgmma group of k block kb runs, so
    // the tensor cores always have a group queued (wait_group 1).
    uint32_t a0[C::MT][4][4], a1[C::MT][4][4];
    int c0 = 0; // the ring position of this tile's first k block
    auto load_decode = [&](uint32_t(&a)[C::MT][4][4], int kb) {
        const int c = c0 + kb, st = c % C::STAGES;
        tq_mbar_wait(&full[st], (c / C::STAGES) & 1);
        if (tracer && c < 40)
            tq_trace(2 + c);
#pragma unroll
        for (int mt = 0; mt < C::MT; mt++) {
            const int sup = ((C::PP ? 0 : cw * C::MT) + mt) * 4 + wl; // this warp's supertile in the stage
            const uint4 w = *(const uint4 *)(sW + st * C::WBYTES + sup * TQ_ST_BYTES + lane * 16);
            const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int r = 0; r < 4; r++)
                    a[mt][j][r] = tq_decode(ws[j], r);
        }
    };
    auto issue = [&](uint32_t(&a)[C::MT][4][4], int kb) {
        const uint32_t b0 = tq_smem_addr(sB + ((c0 + kb) % C::STAGES) * C::BBYTES);
        tq_wgmma_fence();
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int mt = 0; mt < C::MT; mt++)
                tq_wgmma<C::BT>(acc[mt], a[mt][j], tq_desc_sw128(b0 + 32 * j), kb > 0 || j > 0);
        tq_wgmma_commit();
    };
    auto release = [&](int kb) { // this warp's reads of stage kb (weights by ld.shared, tile by wgmma) are done
        if (lane == 0)
            tq_mbar_arrive(&empty[(c0 + kb) % C::STAGES]);
    };

    if (C::PP) { // this warpgroup's own s and 1/s
        ts = (float *)(smem + C::RING) + cw * 2 * C::BT;
        tr = ts + C::BT;
    }
    // the CTA's tiles j = 0, 1, 2.. (tile blockIdx.x + j · gridDim.x, ring positions j · Kt ..); PP: warpgroup cw
    // takes j = cw, cw + 2, ..
    constexpr int JSTEP = C::PP ? 2 : 1;
    for (int j = C::PP ? cw : 0, tile = cta + j * ncta; tile < n_tiles; j += JSTEP, tile += JSTEP * ncta) {
        c0 = j * Kl;
        const int rb0 = (tile % n_rt) * C::RB, m0 = (tile / n_rt) * C::BT, n0 = rb0 * 16;
        // this tile's activation scale of token sidx, loaded now so that its latency is hidden by the MMAs
        static_assert(C::PP ? C::BT <= 128 : C::BT <= 256, "one token scale per thread");
        const int sidx = C::PP ? cwt : ct;
        const float s_ct = sidx < C::BT && m0 + sidx < M ? __ldg(&s[m0 + sidx]) : 1.0f;
        if (C::PP && j > 0)
            tq_pp_wait_turn(cw);
        load_decode(a0, 0);
        for (int kb = 0; kb < Kl; kb += 2) {
            issue(a0, kb);
            tq_wgmma_wait<1>(); // the group of kb-1 is done: a1 and its stage are free
            if (kb >= 1)
                release(kb - 1);
            if (kb + 1 >= Kl)
                break;
            load_decode(a1, kb + 1);
            issue(a1, kb + 1);
            tq_wgmma_wait<1>(); // the group of kb is done: a0 and its stage are free
            release(kb);
            if (kb + 2 < Kl)
                load_decode(a0, kb + 2);
        }
        tq_wgmma_wait<0>();
        release(Kl - 1);
        if (C::PP && tile + ncta < n_tiles) // the CTA's next tile, the other warpgroup's, may start
            tq_pp_pass_turn(cw);
        if (tracer)
            tq_trace(42);

        if constexpr (C::PP) {
            // y straight from the accumulators: lane (g, t) holds rows wl·16 + g (+8) of tokens 8i + 2t (+1), so
            // each store instruction fills four 32-byte sectors. s and 1/s of the tile's tokens go through shared
            // memory once the warpgroup's previous tile no longer reads them; the exact division's slow path
            // (s outside [1e-20, 1e30]) is taken for the whole tile when any token needs it.
            tq_wg_bar(cw);
            bool ok = true;
            if (cwt < C::BT) {
                const float r = s_ct >= 1e-20f && s_ct <= 1e30f ? __frcp_rn(s_ct) : 0.0f;
                ts[cwt] = s_ct;
                tr[cwt] = r;
                ok = r != 0.0f;
            }
            const bool fast = tq_wg_bar_and(cw, ok);
#pragma unroll
            for (int mt = 0; mt < C::MT; mt++) {
                const int row = n0 + mt * 64 + wl * 16 + g;
                const float gam[2] = {tq_seg_scale(sg, row), tq_seg_scale(sg, row + 8)};
#pragma unroll
                for (int i = 0; i < C::BT / 8; i++)
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        const int tok = 8 * i + 2 * t + (e & 1), n = row + 8 * (e >> 1);
                        if (m0 + tok >= M || n >= N)
                            continue;
                        const float x = (float)acc[mt][4 * i + e], sm = ts[tok];
                        float d;
                        if (fast) {
                            const float rm = tr[tok], q = __fmul_rn(x, rm);
                            d = __fmaf_rn(__fmaf_rn(-q, sm, x), rm, q); // Markstein: exact, see tq_write_tile
                        } else {
                            d = tq_div_slow(x, sm);
                        }
                        const float v = __fmul_rn(d, gam[e >> 1]);
                        OutT *p = y + (size_t)(m0 + tok) * N + n;
                        tq_put(p, accumulate ? __fadd_rn(tq_get(p), v) : v);
                    }
            }
            continue;
        }

        // the sums into the staging tile, once every consumer is done with what it holds (PERSIST: the previous
        // tile's output; else the stage buffers it overlays). EPI: once the epilogue warps have written the
        // previous tile's y. (Writing the CTA's last tile with the consumers' 256 threads instead put their
        // epilogue code into the k loop's register allocation: spills, and 12% slower k blocks.)
        if (!C::EPI)
            asm volatile("bar.sync 1, 256;\n" ::: "memory");
        else if (j > 0)
            tq_epi_wait_free();
        if (ct < C::BT) {
            ts[ct] = s_ct;
            tr[ct] = s_ct >= 1e-20f && s_ct <= 1e30f ? __frcp_rn(s_ct) : 0.0f;
        }
        for (int i = ct; i < C::ROWS; i += 256)
            row_g[i] = tq_seg_scale(sg, n0 + i);
#pragma unroll
        for (int mt = 0; mt < C::MT; mt++) {
            const int row = (cw * C::MT + mt) * 64 + wl * 16 + g;
#pragma unroll
            for (int i = 0; i < C::BT / 8; i++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                    tile_acc[(8 * i + 2 * t + (e & 1)) * C::P + row + 8 * (e >> 1)] = acc[mt][4 * i + e];
        }
        if (C::EPI) {
            tq_epi_pass_full();
            if (tracer)
                tq_trace(43);
            continue;
        }
        asm volatile("bar.sync 1, 256;\n" ::: "memory");
        if (tracer)
            tq_trace(43);
        if constexpr (C::SPLIT == 2) { // rank 0 writes y from both halves' sums; rank 1 keeps its tile until then
            tq_cluster_sync();
            if (rank == 0)
                tq_write_tile<C, 256>(tile_acc, ts, tr, row_g, y, N, m0, n0, min(C::BT, M - m0), accumulate, ct,
                                      cooperative_groups::this_cluster().map_shared_rank(tile_acc, 1));
            tq_cluster_sync();
        } else {
            tq_write_tile<C, 256>(tile_acc, ts, tr, row_g, y, N, m0, n0, min(C::BT, M - m0), accumulate, ct);
        }
    }
    if (tracer) {
        tq_trace(44);
        tq_trace(45, true);
    }
#else
    __trap(); // never launched: tq_wgmma_supported() is false for this GPU
#endif
}

// ------------------------------------------------------------------------------------------------ host

/* Whether the wgmma kernels can run on this device: compute capability 9.0 exactly (the sm_90a machine code). */
static inline bool tq_wgmma_supported(int device) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess)
        return false;
    return major == 9 && minor == 0;
}

/* cuTensorMapEncodeTiled from the driver, through the runtime (no link against libcuda) */
static inline PFN_cuTensorMapEncodeTiled_v12000 tq_encode_fn(void) {
    static PFN_cuTensorMapEncodeTiled_v12000 fn = NULL;
    if (!fn) {
        void *p = NULL;
        cudaDriverEntryPointQueryResult qr;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &qr) ==
                cudaSuccess &&
            qr == cudaDriverEntryPointSuccess)
            fn = (PFN_cuTensorMapEncodeTiled_v12000)p;
    }
    return fn;
}

template <class C, class OutT = float> static inline cudaError_t tq_wgmma_init() {
    return cudaFuncSetAttribute(tq_wgmma_kernel<C, OutT>, cudaFuncAttributeMaxDynamicSharedMemorySize, C::SMEM);
}

/* host: launch GEMM variant C. q: [M][K] int8, K % 16 == 0, 16-byte aligned. n_sm: the SMs a persistent grid
 * covers. */
template <class C, class OutT = float>
static inline cudaError_t tq_wgmma_launch(cudaStream_t st, const uint4 *W, int Kt, const int8_t *q, const float *s,
                                          int M, int N, int K, tq_segs sg, OutT *y, int accumulate, int n_sm = 132) {
    PFN_cuTensorMapEncodeTiled_v12000 encode = tq_encode_fn();
    if (!encode)
        return cudaErrorNotSupported;
    if (K % 16 || ((uintptr_t)q & 15))
        return cudaErrorInvalidValue;
    CUtensorMap qmap, wmap;
    const cuuint64_t dims[2] = {(cuuint64_t)K, (cuuint64_t)M};
    const cuuint64_t strides[1] = {(cuuint64_t)K};
    const cuuint32_t box[2] = {128, (cuuint32_t)C::BT};
    const cuuint32_t estr[3] = {1, 1, 1};
    if (encode(&qmap, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, (void *)q, dims, strides, box, estr,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
        return cudaErrorInvalidValue;
    // the weights as a 3-D tensor of 32-bit words: (word in supertile, k block, row block)
    const int Nb = (N + 15) / 16;
    const cuuint64_t wdims[3] = {TQ_ST_BYTES / 4, (cuuint64_t)Kt, (cuuint64_t)Nb};
    const cuuint64_t wstrides[2] = {TQ_ST_BYTES, (cuuint64_t)Kt * TQ_ST_BYTES};
    const cuuint32_t wbox[3] = {TQ_ST_BYTES / 4, 1, (cuuint32_t)C::RB};
    if (encode(&wmap, CU_TENSOR_MAP_DATA_TYPE_UINT32, 3, (void *)W, wdims, wstrides, wbox, estr,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
        return cudaErrorInvalidValue;
    const int n_rt = (N + C::ROWS - 1) / C::ROWS;
    const long tiles = (long)n_rt * ((M + C::BT - 1) / C::BT);
    if (tiles > 0x7fffffff / C::SPLIT)
        return cudaErrorInvalidConfiguration;
    if (C::SPLIT == 2) { // two CTAs per tile in a cluster, each at least one k block
        if (Kt < 2)
            return cudaErrorInvalidValue;
        cudaLaunchConfig_t cfg = {};
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeClusterDimension;
        attr[0].val.clusterDim.x = 2;
        attr[0].val.clusterDim.y = 1;
        attr[0].val.clusterDim.z = 1;
        cfg.gridDim = dim3((unsigned)(2 * tiles));
        cfg.blockDim = dim3(C::THREADS);
        cfg.dynamicSmemBytes = C::SMEM;
        cfg.stream = st;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
        return cudaLaunchKernelEx(&cfg, tq_wgmma_kernel<C, OutT>, qmap, wmap, Kt, n_rt, (int)tiles, s, M, N, sg, y,
                                  accumulate);
    }
    const int grid = C::PERSIST ? (int)(tiles < n_sm ? tiles : n_sm) : (int)tiles;
    tq_wgmma_kernel<C, OutT><<<grid, C::THREADS, C::SMEM, st>>>(qmap, wmap, Kt, n_rt, (int)tiles, s, M, N, sg, y,
                                                          accumulate);
    return cudaGetLastError();
}

#endif
