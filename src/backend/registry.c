/* registry.c — picks a back end by name at run time (see backend.h). */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/status.h"

#ifndef TRIT_HAVE_CUDA
/* Built without nvcc: the CUDA back end is absent from this binary. */
trit_status trit_backend_cuda_create(int n_threads, trit_backend **out, trit_error *err) {
    *out = NULL;
    return TRIT_FAIL(err, TRIT_E_BACKEND, "this build of trit has no CUDA back end (nvcc was not found at build time)");
}
#endif

#ifndef TRIT_HAVE_CPU_FAST
/* Built without the SIMD CPU kernels: "cpu" falls back to the reference. */
trit_status trit_backend_cpu_create(int n_threads, trit_backend **out, trit_error *err) {
    return trit_backend_ref_create(n_threads, out, err);
}
#endif

trit_status trit_backend_create(const char *name, int n_threads, trit_backend **out, trit_error *err) {
    *out = NULL;
    if (!name || !*name || !strcmp(name, "auto")) {
        const char *env = getenv("TRIT_BACKEND");
        if (env && *env && strcmp(env, "auto") != 0)
            return trit_backend_create(env, n_threads, out, err);
        trit_error ignored;
        if (trit_backend_cuda_create(n_threads, out, &ignored) == TRIT_OK)
            return TRIT_OK;
        if (trit_backend_cpu_create(n_threads, out, &ignored) == TRIT_OK)
            return TRIT_OK;
        return trit_backend_ref_create(n_threads, out, err);
    }
    if (!strcmp(name, "ref"))
        return trit_backend_ref_create(n_threads, out, err);
    if (!strcmp(name, "cpu"))
        return trit_backend_cpu_create(n_threads, out, err);
    if (!strcmp(name, "cuda"))
        return trit_backend_cuda_create(n_threads, out, err);
    return TRIT_FAIL(err, TRIT_E_ARG, "unknown back end '%s' (expected auto, ref, cpu or cuda)", name);
}

void trit_backend_destroy(trit_backend *be) {
    if (be && be->ops && be->ops->destroy)
        be->ops->destroy(be);
}
