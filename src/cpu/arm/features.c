/* features.c — Arm feature detection from the kernel's HWCAP bits (Linux): Advanced SIMD is part of AArch64,
 * the dot-product extension (SDOT/UDOT, ARMv8.2+) is optional and reported as HWCAP_ASIMDDP. */
#include <string.h>
#include <sys/auxv.h>

#include "cpu/fast/cpu.h"

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1ul << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif

void trit_cpu_detect(trit_cpu_features *f) {
    memset(f, 0, sizeof *f);
    const unsigned long hw = getauxval(AT_HWCAP);
    f->neon = (hw & HWCAP_ASIMD) != 0;
    f->dotprod = f->neon && (hw & HWCAP_ASIMDDP) != 0;
}
