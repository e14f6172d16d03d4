/* dispatch.c — picks the kernel set once, at back-end creation, from what the CPU and the OS support
 * (trit_cpu_detect: CPUID + XGETBV on x86, HWCAP on Arm). TRIT_CPU_ISA (read by the back-end factory) may force a
 * lower set for testing; asking for a set this machine cannot run is an error, never a crash later. */
#include <string.h>

#include "cpu/fast/cpu.h"

/* kernel sets in order of preference; the getters return NULL where the set is not compiled in */
static const trit_cpu_kernels *usable(const char *name, const trit_cpu_features *f) {
    if (!strcmp(name, "scalar"))
        return &trit_cpu_kernels_scalar;
    if (!strcmp(name, "amx"))
        return f->amx_int8 && f->avx512 && f->avx512vnni ? trit_cpu_kernels_amx() : NULL;
    if (!strcmp(name, "avx512"))
        return f->avx512 && f->avx512vnni ? trit_cpu_kernels_avx512() : NULL;
    if (!strcmp(name, "avx2"))
        return f->avx2 && f->fma ? trit_cpu_kernels_avx2() : NULL;
    if (!strcmp(name, "neon"))
        return f->neon && f->dotprod ? trit_cpu_kernels_neon() : NULL;
    return NULL;
}

const trit_cpu_kernels *trit_cpu_kernels_pick(const char *isa) {
    trit_cpu_features f;
    trit_cpu_detect(&f);
    if (isa && *isa)
        return usable(isa, &f);
    // "amx" first where the CPU has it: test_cpu_kernels passed on an AMX Xeon (the H100 host, 2026-11-23) and
    // its prefill GEMM ran 1.25-1.6x faster than avx512 there (BENCHMARKS.md); its decode GEMV is the avx512 one
    static const char *const order[] = {"amx", "avx512", "avx2", "neon", "scalar"};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const trit_cpu_kernels *k = usable(order[i], &f);
        if (k)
            return k;
    }
    return &trit_cpu_kernels_scalar;
}

trit_cpu_tq_fn trit_cpu_tq1_kernel(const trit_cpu_kernels *k) {
    // by name, so that the kernel tables (shared with other ops' files) stay as they are; sets without a TQ1
    // kernel (avx2, neon) keep T16: their generic TQ1 fallback would be slower than the T16 SIMD kernel
    if (!strcmp(k->name, "scalar"))
        return trit_cpu_tq1_gemm_generic;
#if defined(__x86_64__)
    if (!strcmp(k->name, "avx512") || !strcmp(k->name, "amx"))
        return trit_cpu_tq1_gemm_avx512;
#endif
    return NULL;
}

trit_cpu_tl_ops trit_cpu_tl_kernel(const trit_cpu_kernels *k) {
    trit_cpu_tl_ops o = {NULL, NULL};
    if (!strcmp(k->name, "scalar"))
        o.gemm = trit_cpu_tl_gemm_generic;
#if defined(__x86_64__)
    if (!strcmp(k->name, "avx2"))
        o.gemm = trit_cpu_tl_gemm_avx2, o.build = trit_cpu_tl_build_avx2;
#endif
    return o;
}

/* Targets without an arch directory have no detection and no SIMD sets. */
#if !defined(__x86_64__) && !defined(__aarch64__)
void trit_cpu_detect(trit_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif
#if !defined(__x86_64__)
const trit_cpu_kernels *trit_cpu_kernels_avx2(void) { return NULL; }
const trit_cpu_kernels *trit_cpu_kernels_avx512(void) { return NULL; }
const trit_cpu_kernels *trit_cpu_kernels_amx(void) { return NULL; }
#endif
#if !defined(__aarch64__)
const trit_cpu_kernels *trit_cpu_kernels_neon(void) { return NULL; }
#endif
