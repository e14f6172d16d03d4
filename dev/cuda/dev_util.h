/* dev_util.h — what the workbench programs (the .cu files of dev/cuda) share: a CUDA call check that stops the
 * program with the call, file and line, and the median of a sample. */
#ifndef TRIT_DEV_CUDA_DEV_UTIL_H
#define TRIT_DEV_CUDA_DEV_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline double median(std::vector<double> v) {
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

#endif
