trit_add_test(test_sampler SOURCES test_sampler.c LIBS trit_sampling trit_core LABELS sampling)
