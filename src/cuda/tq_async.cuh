/* tq_async.cuh — Hopper asynchronous copies and their barriers (sm_90): mbarrier waits with transaction counts,
 * the bulk copy engine (cp.async.bulk, 1-D) and TMA tensor copies. Shared by the wgmma GEMM (tq_wgmma.cuh) and the
 * bulk GEMV (tq_gemv_bulk.cuh). Device code for __CUDA_ARCH__ >= 900 only: callers guard their kernels. */
#ifndef TRIT_CUDA_TQ_ASYNC_CUH
#define TRIT_CUDA_TQ_ASYNC_CUH

#include <cuda.h>
#include <cuda_runtime.h>
#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ uint32_t tq_smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void tq_mbar_init(uint64_t *bar, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(tq_smem_addr(bar)), "r"(count));
}
__device__ __forceinline__ void tq_mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(tq_smem_addr(bar)), "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void tq_mbar_arrive(uint64_t *bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(tq_smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void tq_mbar_wait(uint64_t *bar, int parity) {
    asm volatile("{\n.reg .pred done;\nWAIT_%=:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
                 "@!done bra WAIT_%=;\n}\n" ::"r"(tq_smem_addr(bar)),
                 "r"(parity)
                 : "memory");
}
/* TMA: a box of the 2-D tensor map at (c0 = k, c1 = token) into shared memory, completing on bar */
__device__ __forceinline__ void tq_tma_2d(void *dst, const CUtensorMap *map, int c0, int c1, uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
                 "[%4];\n" ::"r"(tq_smem_addr(dst)),
                 "l"(map), "r"(c0), "r"(c1), "r"(tq_smem_addr(bar))
                 : "memory");
}
/* TMA: a box of a 3-D tensor map at (c0, c1, c2) into shared memory, completing on bar */
__device__ __forceinline__ void tq_tma_3d(void *dst, const CUtensorMap *map, int c0, int c1, int c2, uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
                 "[%5];\n" ::"r"(tq_smem_addr(dst)),
                 "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(tq_smem_addr(bar))
                 : "memory");
}
/* bulk copy of bytes (multiple of 16, both addresses 16-aligned) into shared memory, completing on bar */
__device__ __forceinline__ void tq_bulk_copy(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     tq_smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(tq_smem_addr(bar))
                 : "memory");
}
#endif

#endif
