# GPU tests of the CUDA back end: every CUDA op against the ref op (label "gpu"). Compiled whenever CUDA is on;
# without a GPU every case is skipped with a message, so CI (no GPU) stays green.
if(TARGET trit_cuda)
  trit_add_test(test_cuda_ops SOURCES test_cuda_ops.c LIBS trit_cuda trit_cpu_ref trit_core ${TRIT_CUDA_LIBS} LABELS gpu)
endif()
