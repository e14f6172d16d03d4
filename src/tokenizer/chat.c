/* chat.c — see chat.h. */
#include "tokenizer/chat.h"
#include "tokenizer/tok-impl.h"
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

/* Python str.isspace() code points (Jinja's trim strips these). */
static bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Trims s[0..*n) in place of pointers: returns the start, updates *n. Invalid UTF-8 is never whitespace. */
static const char *trim(const char *s, size_t *n) {
    const uint8_t *p = (const uint8_t *)s;
    size_t b = 0, e = *n;
    uint32_t cp;
    int k;
    while (b < e && (k = tok_utf8_decode(p + b, e - b, &cp)) && py_space(cp))
        b += (size_t)k;
    while (e > b) { /* step back over one code point */
        size_t s0 = e - 1;
        while (s0 > b && (p[s0] & 0xc0) == 0x80 && e - s0 < 4)
            s0--;
        k = tok_utf8_decode(p + s0, e - s0, &cp);
        if (!k || (size_t)k != e - s0 || !py_space(cp))
            break;
        e = s0;
    }
    *n = e - b;
    return s + b;
}

typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static bool sb_add(sbuf *b, const char *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *g = realloc(b->s, nc);
        if (!g)
            return false;
        b->s = g;
        b->cap = nc;
    }
    memcpy(b->s + b->n, p, n);
    b->n += n;
    b->s[b->n] = 0;
    return true;
}

/* "Role: content" of message i into b (reset first). */
static trit_status render(const trit_chat_msg *m, size_t i, sbuf *b, trit_error *err) {
    if (!m->role || !m->role[0] || !m->content)
        return TRIT_FAIL(err, TRIT_E_ARG, "chat: message %zu has a NULL/empty role or NULL content", i);
    b->n = 0;
    size_t rn = strlen(m->role), cn = strlen(m->content);
    const char *c = trim(m->content, &cn);
    if (!sb_add(b, m->role, rn) || !sb_add(b, ": ", 2) || !sb_add(b, c, cn))
        return TRIT_FAIL(err, TRIT_E_NOMEM, "chat: out of memory");
    for (size_t k = 0; k < rn; k++) { /* Jinja capitalize (ASCII letters) */
        char ch = b->s[k];
        if (k == 0 && ch >= 'a' && ch <= 'z')
            b->s[k] = (char)(ch - 32);
        else if (k > 0 && ch >= 'A' && ch <= 'Z')
            b->s[k] = (char)(ch + 32);
    }
    return TRIT_OK;
}

static const char GEN_PROMPT[] = "Assistant: ";

trit_status trit_chat_format_text(const trit_chat_msg *msgs, size_t n_msgs, bool add_generation_prompt,
                                  char **text, trit_error *err) {
    if (!text || (!msgs && n_msgs))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_chat_format_text: NULL argument");
    sbuf out = {0}, one = {0};
    trit_status st = TRIT_OK;
    if (!sb_add(&out, "<|begin_of_text|>", 17))
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "chat: out of memory");
    for (size_t i = 0; i < n_msgs && st == TRIT_OK; i++)
        if ((st = render(&msgs[i], i, &one, err)) == TRIT_OK &&
            (!sb_add(&out, one.s, one.n) || !sb_add(&out, "<|eot_id|>", 10)))
            st = TRIT_FAIL(err, TRIT_E_NOMEM, "chat: out of memory");
    if (st == TRIT_OK && add_generation_prompt && !sb_add(&out, GEN_PROMPT, sizeof GEN_PROMPT - 1))
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "chat: out of memory");
    free(one.s);
    if (st != TRIT_OK) {
        free(out.s);
        return st;
    }
    *text = out.s;
    return TRIT_OK;
}

static trit_status append_text(const trit_tokenizer *t, const char *s, size_t n, tok_out *o, trit_error *err) {
    int32_t *ids;
    size_t k;
    TRIT_TRY(trit_tokenize_alloc(t, s, n, 0, &ids, &k, err));
    trit_status st = TRIT_OK;
    for (size_t i = 0; i < k && st == TRIT_OK; i++)
        st = tok_out_push(o, ids[i], err);
    free(ids);
    return st;
}

trit_status trit_chat_format(const trit_tokenizer *t, const trit_chat_msg *msgs, size_t n_msgs,
                             bool add_generation_prompt, int32_t **ids, size_t *n, trit_error *err) {
    if (!t || !ids || !n || (!msgs && n_msgs))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_chat_format: NULL argument");
    int32_t bot = trit_tokenizer_find(t, "<|begin_of_text|>"), eot = trit_tokenizer_find(t, "<|eot_id|>");
    if (bot < 0 || eot < 0)
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "chat: the tokenizer has no %s token",
                         bot < 0 ? "<|begin_of_text|>" : "<|eot_id|>");
    tok_out o = {0};
    sbuf one = {0};
    trit_status st = tok_out_push(&o, bot, err);
    for (size_t i = 0; i < n_msgs && st == TRIT_OK; i++)
        if ((st = render(&msgs[i], i, &one, err)) == TRIT_OK && (st = append_text(t, one.s, one.n, &o, err)) == TRIT_OK)
            st = tok_out_push(&o, eot, err);
    if (st == TRIT_OK && add_generation_prompt)
        st = append_text(t, GEN_PROMPT, sizeof GEN_PROMPT - 1, &o, err);
    free(one.s);
    if (st != TRIT_OK) {
        free(o.ids);
        return st;
    }
    *ids = o.ids;
    *n = o.n;
    return TRIT_OK;
}
