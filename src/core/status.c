/* status.c — see status.h. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *trit_status_name(trit_status st) {
    switch (st) {
    case TRIT_OK: return "ok";
    case TRIT_E_IO: return "i/o error";
    case TRIT_E_FORMAT: return "format error";
    case TRIT_E_NOMEM: return "out of memory";
    case TRIT_E_RANGE: return "out of range";
    case TRIT_E_UNSUPPORTED: return "unsupported";
    case TRIT_E_ARG: return "invalid argument";
    case TRIT_E_CONTEXT_FULL: return "context full";
    case TRIT_E_BACKEND: return "back-end error";
    }
    return "unknown status";
}

trit_status trit_fail_at(trit_error *err, trit_status st, const char *file, int line, const char *fmt, ...) {
    if (!err)
        return st;
    err->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(err->where, sizeof err->where, "%s:%d", base ? base + 1 : file, line);
    return st;
}

void trit_error_clear(trit_error *err) {
    if (err) {
        err->status = TRIT_OK;
        err->msg[0] = 0;
        err->where[0] = 0;
    }
}
