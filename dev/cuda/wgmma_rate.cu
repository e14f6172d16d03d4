/* wgmma_rate.cu — workbench probe: the int8 wgmma issue rate on this GPU with the A operand from registers
 * (what tq_wgmma.cuh does with the decoded weights) against A from shared memory, no global memory traffic.
 * One CTA per SM, W warpgroups each issuing groups of 4 × m64nNk32 back to back (wait_group 1).
 * Prints TOPS for each form. Usage: wgmma_rate (needs compute capability 9.0). */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/tq_wgmma.cuh"

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#if TQ_WGMMA_DEVICE
__device__ __forceinline__ void wgmma_ss256(int32_t (&d)[128], uint64_t da, uint64_t db) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n256k32.s32.s8.s8 {"
                 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,"
                 "%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31,"
                 "%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47,"
                 "%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63,"
                 "%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79,"
                 "%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95,"
                 "%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111,"
                 "%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
                 "}, %128, %129, p;\n}\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]),
                   "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]),
                   "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), "+r"(d[23]),
                   "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), "+r"(d[30]), "+r"(d[31]),
                   "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), "+r"(d[37]), "+r"(d[38]), "+r"(d[39]),
                   "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]),
                   "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]),
                   "+r"(d[56]), "+r"(d[57]), "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63]),
                   "+r"(d[64]), "+r"(d[65]), "+r"(d[66]), "+r"(d[67]), "+r"(d[68]), "+r"(d[69]), "+r"(d[70]), "+r"(d[71]),
                   "+r"(d[72]), "+r"(d[73]), "+r"(d[74]), "+r"(d[75]), "+r"(d[76]), "+r"(d[77]), "+r"(d[78]), "+r"(d[79]),
                   "+r"(d[80]), "+r"(d[81]), "+r"(d[82]), "+r"(d[83]), "+r"(d[84]), "+r"(d[85]), "+r"(d[86]), "+r"(d[87]),
                   "+r"(d[88]), "+r"(d[89]), "+r"(d[90]), "+r"(d[91]), "+r"(d[92]), "+r"(d[93]), "+r"(d[94]), "+r"(d[95]),
                   "+r"(d[96]), "+r"(d[97]), "+r"(d[98]), "+r"(d[99]), "+r"(d[100]), "+r"(d[101]), "+r"(d[102]), "+r"(d[103]),
                   "+r"(d[104]), "+r"(d[105]), "+r"(d[106]), "+r"(d[107]), "+r"(d[108]), "+r"(d[109]), "+r"(d[110]), "+r"(d[111]),
                   "+r"(d[112]), "+r"(d[113]), "+r"(d[114]), "+r"(d[115]), "+r"(d[116]), "+r"(d[117]), "+r"(d[118]), "+r"(d[119]),
                   "+r"(d[120]), "+r"(d[121]), "+r"(d[122]), "+r"(d[123]), "+r"(d[124]), "+r"(d[125]), "+r"(d[126]), "+r"(d[127])
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
