# Fast CPU back end: every kernel set this machine can run, against the reference ops.
if(TRIT_HAVE_CPU_FAST)
  trit_add_test(test_cpu_kernels SOURCES test_cpu_kernels.c test_cpu_check.c
                LIBS trit_cpu trit_cpu_ref trit_core LABELS cpu)
endif()
