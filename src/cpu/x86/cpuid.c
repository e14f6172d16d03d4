/* cpuid.c — x86 feature detection: CPUID says what the core has, XGETBV says whether the OS saves the register
 * state (YMM for AVX2, opmask+ZMM for AVX-512, tile state for AMX). A kernel set is usable only when both agree.
 * Compiled without ISA flags: nothing here executes an AVX instruction. */
#include <cpuid.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cpu/fast/cpu.h"

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void trit_cpu_detect(trit_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx)
        return;
    const uint64_t xcr0 = xgetbv0();
    const int os_ymm = (xcr0 & 0x6) == 0x6;                  // SSE + AVX state
    const int os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;      // opmask, ZMM_Hi256, Hi16_ZMM
    const int os_amx = (xcr0 & (3ull << 17)) == (3ull << 17); // XTILECFG + XTILEDATA
    if (__get_cpuid_max(0, NULL) < 7)
        return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = os_ymm && ((b >> 5) & 1);
    f->fma = os_ymm && fma;
    const int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    f->avx512 = os_zmm && avx512f && avx512bw && avx512vl;
    f->avx512vnni = f->avx512 && ((c >> 11) & 1);
    // AMX tile data is off for a process until it asks (Linux 5.16+); asking again is harmless
    f->amx_int8 = os_amx && ((d >> 24) & 1) && ((d >> 25) & 1) &&
                  syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    unsigned a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    f->avxvnni = os_ymm && ((a1 >> 4) & 1);
}
