/* test_cpu_check.h — checks of a fast CPU back end against the reference ops, in plain C (no cmocka) so the same
 * checks run in the cmocka test on x86 (test_cpu_kernels.c) and in the standalone Arm program under qemu
 * (test_cpu_arm.c). Each check draws fresh random inputs from *rng, prints what differs to stderr and returns the
 * number of failures (0 = pass). `big` = 0 skips the largest shapes (slow under emulation). */
#ifndef TRIT_TEST_CPU_CHECK_H
#define TRIT_TEST_CPU_CHECK_H

#include <stdint.h>

#include "backend/backend.h"

/* the back ends under test (each a "cpu" back end with some kernel set and thread count); every check computes
 * the reference once per input and compares each of them with it */
typedef struct trit_cpu_bes {
    trit_backend *be[16];
    int n;
} trit_cpu_bes;

typedef struct trit_cpu_check {
    const char *name;
    int (*fn)(const trit_cpu_bes *bes, uint64_t *rng, int big);
} trit_cpu_check;

extern const trit_cpu_check trit_cpu_checks[];
extern const int trit_cpu_n_checks;

/* thread-pool check: many tiny jobs on a pool of n threads; returns failures */
int trit_cpu_check_pool(int n_threads);

/* a fresh seed (time and address based) unless TRIT_TEST_SEED is set; printed by the callers */
uint64_t trit_cpu_check_seed(void);

#endif
