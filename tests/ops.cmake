# Reference back end unit tests, and the back-end op-test harness (every back end of this build vs ref).
# test_cpu_ref needs only the ref module (no registry, so it builds whatever state the other back ends are in).
trit_add_test(test_cpu_ref SOURCES test_cpu_ref.c LIBS trit_cpu_ref trit_core LABELS ops)
# test_backend_ops: the self-test of ref against naive oracles, then every other back end of this build vs ref.
# It links the back-end modules that exist in this build (fast CPU: trit_cpu; CUDA: trit_cuda), nothing else.
set(_ops_libs trit_cpu_ref trit_backend trit_core)
if(TARGET trit_cpu)
  list(APPEND _ops_libs trit_cpu)
endif()
if(TARGET trit_cuda)
  list(APPEND _ops_libs trit_cuda ${TRIT_CUDA_LIBS})
endif()
trit_add_test(test_backend_ops
  SOURCES ops/harness.c ops/cases_quant.c ops/cases_matmul.c ops/cases_attn.c ops/cases_misc.c
  LIBS ${_ops_libs}
  LABELS ops)
