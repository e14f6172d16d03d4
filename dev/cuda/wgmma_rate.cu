/* wgmma_rate.cu — workbench probe: the int8 wgmma issue rate on this GPU with the A operand from registers
 * (what tq_wgmma.cuh does with the decoded weights) against A from shared memory, no global memory traffic.
 * One CTA per SM, W warpgroups each issuing groups of 4 × m64nNk32 back to back (wait_group 1).
 * Prints TOPS for each form. Usage: wgmma_rate (needs compute capability 9.0). */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/tq_wgmma.cuh"
#include "dev_util.h"


#if TQ_WGMMA_DEVICE
__device__ __forceinline__ void wgmma_ss256(int32_t (&d)[128], uint64_t da, uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 {" TQ_OPS32_0 "," TQ_OPS32_1 "," TQ_OPS32_2 "," TQ_OPS32_3
                 "}, %128, %129, p;\n}\n"
                 : TQ_ACC32(0), TQ_ACC32(32), TQ_ACC32(64), TQ_ACC32(96)
                 : "l"(da), "l"(db));
}
#endif

/* SS: 0 = A from registers, 1 = A from shared memory, 2 = A from registers decoded from a shared-memory word before
 * every group (two register sets, wait_group 1: what tq_wgmma.cuh does), 3 = the same with one set and wait_group 0;
 * WGS warpgroups per CTA */
template <int SS, int WGS> __global__ void __launch_bounds__(128 * WGS, 1) rate_kernel(int iters, int *out) {
#if TQ_WGMMA_DEVICE
    extern __shared__ uint8_t smem_raw[];
    uint8_t *smem = (uint8_t *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    for (int i = threadIdx.x; i < 64 * 1024 / 4; i += blockDim.x)
        ((uint32_t *)smem)[i] = i * 2654435761u;
    __syncthreads();
    const uint32_t base = tq_smem_addr(smem);
    int32_t acc[128];
#pragma unroll
    for (int i = 0; i < 128; i++)
        acc[i] = 0;
    uint32_t a[4][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int r = 0; r < 4; r++)
            a[j][r] = threadIdx.x * 7 + j * 3 + r;
    if (SS >= 2) {
        uint32_t b[4][4];
        auto decode = [&](uint32_t(&x)[4][4], int it) {
            const uint4 w = *(const uint4 *)(smem + ((it * 512 + (threadIdx.x & 127) * 16) & 32767));
            const uint32_t ws[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
            for (int j = 0; j < 4; j++)
#pragma unroll
                for (int r = 0; r < 4; r++)
                    x[j][r] = tq_decode(ws[j], r);
        };
        auto issue = [&](uint32_t(&x)[4][4]) {
            tq_wgmma_fence();
#pragma unroll
            for (int j = 0; j < 4; j++)
                tq_wgmma<256>(acc, x[j], tq_desc_sw128(base + 32 * j), 1);
            tq_wgmma_commit();
        };
        if (SS == 3) {
            for (int it = 0; it < iters; it++) {
                decode(a, it);
                issue(a);
                tq_wgmma_wait<0>();
            }
        } else {
            decode(a, 0);
            for (int it = 0; it < iters; it += 2) {
                issue(a);
                tq_wgmma_wait<1>();
                decode(b, it + 1);
                issue(b);
                tq_wgmma_wait<1>();
                decode(a, it + 2);
            }
        }
    } else
    for (int it = 0; it < iters; it++) {
        tq_wgmma_fence();
#pragma unroll
        for (int j = 0; j < 4; j++) {
            if (SS)
                wgmma_ss256(acc, tq_desc_sw128(base + 32768 + 32 * j), tq_desc_sw128(base + 32 * j));
            else
                tq_wgmma<256>(acc, a[j], tq_desc_sw128(base + 32 * j), 1);
        }
        tq_wgmma_commit();
        tq_wgmma_wait<1>();
    }
    tq_wgmma_wait<0>();
    int32_t sum = 0;
#pragma unroll
    for (int i = 0; i < 128; i++)
        sum += acc[i];
    if (sum == 12345)
        out[0] = sum;
#endif
}

template <int SS, int WGS> static void run(int n_sm) {
    const int smem = 64 * 1024 + 1024, iters = 20000;
    int *out;
    CK(cudaMalloc(&out, 4));
    CK(cudaFuncSetAttribute(rate_kernel<SS, WGS>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    rate_kernel<SS, WGS><<<n_sm, 128 * WGS, smem>>>(100, out);
    CK(cudaDeviceSynchronize());
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventRecord(e0));
    rate_kernel<SS, WGS><<<n_sm, 128 * WGS, smem>>>(iters, out);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    const double ops = 2.0 * 64 * 256 * 32 * 4.0 * iters * WGS * n_sm;
    static const char *what[4] = {"registers", "shared memory", "registers, decoded, 2 sets, wait 1",
                                  "registers, decoded, 1 set, wait 0"};
    printf("A from %s, %d warpgroup(s) per SM: %.0f TOPS (%.1f%% of 1979)\n", what[SS], WGS, ops / (ms * 1e9), 100.0 * ops / (ms * 1e9) / 1979.0);
    CK(cudaFree(out));
}

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    if (!tq_wgmma_supported(0)) {
        printf("no wgmma on %s\n", prop.name);
        return 0;
    }
    run<0, 1>(prop.multiProcessorCount);
    run<0, 2>(prop.multiProcessorCount);
    run<1, 1>(prop.multiProcessorCount);
    run<1, 2>(prop.multiProcessorCount);
    run<2, 1>(prop.multiProcessorCount);
    run<2, 2>(prop.multiProcessorCount);
    run<3, 1>(prop.multiProcessorCount);
    run<3, 2>(prop.multiProcessorCount);
    return 0;
}
