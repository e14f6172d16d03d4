/* detok.c — streaming decoder: token ids in, complete UTF-8 out.
 *
 * Replacement rule (the one Rust's String::from_utf8_lossy applies, hence HF decode, and Python's
 * bytes.decode("utf-8", errors="replace")): the decoded byte stream is read left to right; a well-formed
 * sequence is copied; a byte that cannot start a sequence is one U+FFFD; a valid prefix of a sequence cut short
 * by a bad byte (the "maximal subpart") is one U+FFFD and the bad byte is read again. A valid prefix at the end
 * of what has been pushed so far is held back (at most 3 bytes) until the next push completes or breaks it; at
 * trit_detok_flush a held prefix becomes one U+FFFD. So the concatenated output of all pushes and the flush is
 * exactly the lossy decoding of all token bytes joined. Ids that name no token add nothing; with skip_special,
 * special tokens add nothing (the bytes around them join, as in HF decode with skip_special_tokens). */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok-impl.h"

#include <stdlib.h>
#include <string.h>

struct trit_detok {
    const trit_tokenizer *t;
    bool skip_special;
    uint8_t held[4];
    size_t n_held;
    uint8_t *buf; /* held + one token */
};

trit_detok *trit_detok_new(const trit_tokenizer *t, bool skip_special) {
    if (!t)
        return NULL;
    trit_detok *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->buf = malloc(t->max_token_len + 4);
    if (!d->buf) {
        free(d);
        return NULL;
    }
    d->t = t;
    d->skip_special = skip_special;
    return d;
}

void trit_detok_free(trit_detok *d) {
    if (d) {
        free(d->buf);
        free(d);
    }
}

/* Lossy-decodes in[0..n) into out (NULL: count only). Returns the output length; *hold is set to the number of
 * trailing bytes held back (always 0 when final). */
static size_t lossy(const uint8_t *in, size_t n, bool final, char *out, size_t *hold) {
    static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
    size_t o = 0, i = 0;
    *hold = 0;
    while (i < n) {
        uint8_t c = in[i];
        size_t len = 0;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c < 0x80)
            len = 1;
        else if (c >= 0xc2 && c <= 0xdf)
            len = 2;
        else if (c >= 0xe0 && c <= 0xef)
            len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        size_t k = 1; /* bytes of a valid prefix seen */
        while (len && k < len && i + k < n) {
            uint8_t b = in[i + k];
            if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80)
                break;
            k++;
        }
        if (len && k == len) { /* well-formed */
            if (out)
                memcpy(out + o, in + i, len);
            o += len;
            i += len;
        } else if (len && i + k == n && !final) { /* a valid prefix cut by the end: wait for more */
            *hold = n - i;
            break;
        } else { /* invalid lead, or maximal subpart of k bytes */
            if (out)
                memcpy(out + o, fffd, 3);
            o += 3;
            i += len ? k : 1;
        }
    }
    return o;
}

static int emit(trit_detok *d, const char *bytes, size_t n, bool final, char *out, size_t cap) {
    if (!d || !out || cap == 0)
        return -1;
    memcpy(d->buf, d->held, d->n_held);
    if (n)
        memcpy(d->buf + d->n_held, bytes, n);
    size_t total = d->n_held + n, hold;
    size_t need = lossy(d->buf, total, final, NULL, &hold);
    if (need + 1 > cap || need > INT32_MAX)
        return -1; /* nothing consumed: the caller may retry with a bigger buffer */
    lossy(d->buf, total, final, out, &hold);
    out[need] = 0;
    memcpy(d->held, d->buf + total - hold, hold);
    d->n_held = hold;
    return (int)need;
}

int trit_detok_push(trit_detok *d, int32_t id, char *out, size_t cap) {
    size_t n = 0;
    const char *bytes = d ? trit_token_bytes(d->t, id, &n) : NULL;
    if (!bytes || (d->skip_special && trit_tokenizer_is_special(d->t, id)))
        n = 0;
    return emit(d, bytes, n, false, out, cap);
}

int trit_detok_flush(trit_detok *d, char *out, size_t cap) { return emit(d, NULL, 0, true, out, cap); }
