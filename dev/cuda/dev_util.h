/* dev_util.h — what the workbench programs (the .cu files of dev/cuda) share: a CUDA call check that stops the
 * program with the call, file and line, the median of a sample, and CUDA-graph timing. */
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

/* µs per launch of iters back-to-back launches fn(0..iters-1), captured once into a CUDA graph and replayed reps
 * times between the events e0, e1 (the launch gaps of a decode step that runs from a graph): the median replay */
template <class F>
static double graph_us(F fn, cudaStream_t st, cudaEvent_t e0, cudaEvent_t e1, int iters, int reps) {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < iters; i++)
        fn(i);
    CK(cudaStreamEndCapture(st, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    CK(cudaGraphLaunch(exec, st));
    CK(cudaStreamSynchronize(st));
    std::vector<double> v;
    for (int r = 0; r < reps; r++) {
        CK(cudaEventRecord(e0, st));
        CK(cudaGraphLaunch(exec, st));
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        v.push_back(1000.0 * ms / iters);
    }
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
    return median(v);
}

#endif
