/* test_cpu_arm.c — the CPU kernel checks (test_cpu_check.c) as a standalone program with no dependency beyond
 * libc, for cross-built Arm binaries run under qemu-aarch64-static (scripts/test-arm.sh): no cmocka or other
 * arm64 -dev packages needed. Tests every kernel set usable on the (emulated) CPU against the reference.
 * Exit status 0 = all passed. Usage: test_cpu_arm [--big] */
#include <stdio.h>
#include <string.h>

#include "cpu/fast/cpu.h"
#include "test_cpu_check.h"

int main(int argc, char **argv) {
    const int big = argc > 1 && !strcmp(argv[1], "--big");
    const uint64_t seed = trit_cpu_check_seed();
    printf("test_cpu_arm seed %llu%s\n", (unsigned long long)seed, big ? " (big shapes)" : "");
    static const struct {
        const char *isa;
        int threads;
        const char *weights; /* the compact and lookup-table layouts have generic kernels only here */
    } configs[] = {{"scalar", 2, "t16"}, {"neon", 1, "t16"}, {"neon", 3, "t16"}, {"scalar", 1, "tq1"},
                   {"scalar", 3, "tl"}};
    trit_cpu_bes bes = {.n = 0};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        if (!trit_cpu_kernels_pick(configs[i].isa)) {
            printf("kernel set %s: not usable on this CPU, not tested\n", configs[i].isa);
            continue;
        }
        trit_error err;
        if (trit_cpu_backend_create_opts(configs[i].threads, configs[i].isa, configs[i].weights, &bes.be[bes.n],
                                         &err) != TRIT_OK) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        printf("testing %s, %d threads, %s weights\n", configs[i].isa, configs[i].threads, configs[i].weights);
        bes.n++;
    }
    printf("default kernel set here: %s\n", trit_cpu_kernels_pick(NULL)->name);
    int fails = 0;
    for (int n = 1; n <= 3; n++)
        fails += trit_cpu_check_pool(n);
    for (int i = 0; i < trit_cpu_n_checks; i++) {
        uint64_t rng = seed + (uint64_t)i * 1000003u;
        int f = trit_cpu_checks[i].fn(&bes, &rng, big);
        printf("%-18s %s\n", trit_cpu_checks[i].name, f ? "FAILED" : "ok");
        fails += f;
    }
    for (int i = 0; i < bes.n; i++)
        bes.be[i]->ops->destroy(bes.be[i]);
    printf("%s (%d failures)\n", fails ? "FAILED" : "PASSED", fails);
    return fails ? 1 : 0;
}
