/* tmat_check.h — the shape and segment checks every back end's tmat_pack runs before packing (one definition;
 * inline so that each back end module links it without the registry). */
#ifndef TRIT_BACKEND_TMAT_CHECK_H
#define TRIT_BACKEND_TMAT_CHECK_H

#include "backend/backend.h"
#include "core/status.h"

/* TRIT_E_ARG naming the matrix unless N, K > 0 and the segments are 1..TRIT_TMAT_MAX_SEG increasing ends that
 * finish at N. */
static inline trit_status trit_tmat_check(const trit_tmat *w, trit_error *err) {
    if (w->N <= 0 || w->K <= 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix: bad shape [%d][%d]", (int)w->N, (int)w->K);
    if (w->n_seg < 1 || w->n_seg > TRIT_TMAT_MAX_SEG)
        return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix: %d segments (1..%d allowed)", (int)w->n_seg,
                         TRIT_TMAT_MAX_SEG);
    for (int i = 0; i < w->n_seg; i++) {
        int32_t lo = i ? w->seg_end[i - 1] : 0;
        if (w->seg_end[i] <= lo || w->seg_end[i] > w->N)
            return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix [%d][%d]: segment %d ends at %d (previous end %d)",
                             (int)w->N, (int)w->K, i, (int)w->seg_end[i], (int)lo);
    }
    if (w->seg_end[w->n_seg - 1] != w->N)
        return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix [%d][%d]: segments end at %d, not at N", (int)w->N,
                         (int)w->K, (int)w->seg_end[w->n_seg - 1]);
    return TRIT_OK;
}

#endif
