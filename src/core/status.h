/* status.h — error reporting inside libtrit: fill a caller's trit_error and return the status.
 * Use TRIT_FAIL(err, TRIT_E_FORMAT, "tensor %s: ...", name) at the point of failure; it records file:line and
 * returns the status so callers can write `return TRIT_FAIL(...)`. err may be NULL. Never exit(). */
#ifndef TRIT_CORE_STATUS_H
#define TRIT_CORE_STATUS_H

#include "trit.h"

#ifdef __cplusplus
extern "C" { /* the CUDA back end is compiled as C++ */
#endif

#if defined(__GNUC__)
#define TRIT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TRIT_PRINTF(a, b)
#endif

trit_status trit_fail_at(trit_error *err, trit_status st, const char *file, int line, const char *fmt, ...)
    TRIT_PRINTF(5, 6);

#define TRIT_FAIL(err, st, ...) trit_fail_at((err), (st), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failed status (the callee already filled err). */
#define TRIT_TRY(expr)                      \
    do {                                    \
        trit_status trit_try_st_ = (expr);  \
        if (trit_try_st_ != TRIT_OK)        \
            return trit_try_st_;            \
    } while (0)

void trit_error_clear(trit_error *err);

#ifdef __cplusplus
}
#endif

#endif
