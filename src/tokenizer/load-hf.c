/* load-hf.c — Hugging Face tokenizer.json (byte-level BPE) into a trit_tokenizer.
 *
 * Supported: model.type "BPE" with vocab + merges ("a b" strings or ["a", "b"] pairs; rank = index),
 * ignore_merges, unk_token; added_tokens (special or not; lstrip/rstrip/single_word false); normalizer null; pre_tokenizer ByteLevel (its GPT-2
 * regex when use_regex) or a Sequence of Split(Regex|String, Isolated) + ByteLevel; post_processor null,
 * ByteLevel, TemplateProcessing (a leading special token is the BOS) or a Sequence of those. Anything else is
 * TRIT_E_UNSUPPORTED with its name, never silently approximated. Every value is checked: hostile files get
 * TRIT_E_FORMAT / TRIT_E_RANGE naming the field. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok-impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Byte-level form -> raw bytes. Returns false if some character is outside the 256-symbol alphabet; then out
 * holds the raw UTF-8 (what HF's ByteLevel decoder outputs for such a token). out needs n bytes. */
static bool bl_decode(const char *s, size_t n, uint8_t *out, size_t *outn) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = tok_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = k ? tok_cp_to_byte(cp) : -1;
        if (b < 0) {
            memcpy(out, s, n);
            *outn = n;
            return false;
        }
        out[o++] = (uint8_t)b;
        i += (size_t)k;
    }
    *outn = o;
    return true;
}

static const char *type_of(json_t *j) {
    const char *t = json_string_value(json_object_get(j, "type"));
    return t ? t : "(no type)";
}

static trit_status load_vocab(trit_tokenizer *t, json_t *vocab, trit_error *err) {
    if (!json_is_object(vocab))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.vocab is missing or not an object", t->name);
    const char *key;
    json_t *val;
    uint8_t *buf = NULL;
    size_t cap = 0;
    trit_status st = TRIT_OK;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val)) {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.vocab[\"%.80s\"] is not an integer", t->name, key);
            break;
        }
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= TOK_MAX_VOCAB) {
            st = TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: model.vocab[\"%.80s\"] = %lld is outside [0, %d)",
                           t->name, key, (long long)id, TOK_MAX_VOCAB);
            break;
        }
        size_t n = strlen(key), bn;
        if (n + 1 > cap) {
            cap = n + 64;
            uint8_t *g = realloc(buf, cap);
            if (!g) {
                st = TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory", t->name);
                break;
            }
            buf = g;
        }
        bool in_alphabet = bl_decode(key, n, buf, &bn);
        /* a token outside the byte-level alphabet can never come out of BPE: decodable, not in bpe_map */
        st = tok_set(t, (int32_t)id, buf, bn, in_alphabet ? TOK_MODEL : 0, err);
        if (st != TRIT_OK)
            break;
    }
    free(buf);
    return st;
}

static trit_status load_added(trit_tokenizer *t, json_t *added, trit_error *err) {
    if (!added || json_is_null(added))
        return TRIT_OK;
    if (!json_is_array(added))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: added_tokens is not an array", t->name);
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *jid = json_object_get(a, "id"), *jc = json_object_get(a, "content");
        if (!json_is_integer(jid) || !json_is_string(jc))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: added_tokens[%zu] needs an integer id and a string "
                             "content", t->name, i);
        json_int_t id = json_integer_value(jid);
        if (id < 0 || id >= TOK_MAX_VOCAB)
            return TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: added_tokens[%zu].id = %lld is outside [0, %d)",
                             t->name, i, (long long)id, TOK_MAX_VOCAB);
        json_t *js = json_object_get(a, "special");
        if (js && !json_is_boolean(js))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: added_tokens[%zu].special is not a boolean", t->name,
                             i);
        static const char *opts[] = {"lstrip", "rstrip", "single_word"}; /* matching rules trit does not apply */
        for (int k = 0; k < 3; k++)
            if (json_is_true(json_object_get(a, opts[k])))
                return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: added_tokens[%zu] (\"%.80s\") sets %s, which "
                                 "is not supported", t->name, i, json_string_value(jc), opts[k]);
        uint8_t flags = TOK_ADDED | (json_is_true(js) ? TOK_SPECIAL : 0);
        TRIT_TRY(tok_set(t, (int32_t)id, json_string_value(jc), json_string_length(jc), flags, err));
    }
    return TRIT_OK;
}

static trit_status merge_part(trit_tokenizer *t, size_t i, const char *s, size_t n, uint8_t *buf, size_t *bn,
                              int32_t *id, trit_error *err) {
    if (!bl_decode(s, n, buf, bn) || (*id = tok_strmap_get(t, &t->bpe_map, buf, *bn)) < 0)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges[%zu] names \"%.*s\", which is not in the "
                         "vocabulary", t->name, i, (int)(n > 80 ? 80 : n), s);
    return TRIT_OK;
}

static trit_status load_merges(trit_tokenizer *t, json_t *merges, trit_error *err) {
    if (!json_is_array(merges))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges is missing or not an array", t->name);
    if (json_array_size(merges) >= (size_t)INT32_MAX)
        return TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: too many merges", t->name);
    TRIT_TRY(tok_map64_init(&t->pairs, json_array_size(merges) + 16, err));
    uint8_t *buf = malloc(2 * TOK_MAX_TOKEN_LEN * 4 + 8);
    if (!buf)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory", t->name);
    trit_status st = TRIT_OK;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t an, bn;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges[%zu] is not \"a b\"", t->name, i);
                break;
            }
            an = (size_t)(sp - a);
            b = sp + 1;
            bn = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            an = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            bn = json_string_length(json_array_get(m, 1));
        } else {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                           t->name, i);
            break;
        }
        if (an > 4 * TOK_MAX_TOKEN_LEN || bn > 4 * TOK_MAX_TOKEN_LEN || !an || !bn) {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges[%zu] has an empty or overlong part",
                           t->name, i);
            break;
        }
        size_t la, lb;
        int32_t ia = -1, ib = -1;
        if ((st = merge_part(t, i, a, an, buf, &la, &ia, err)) != TRIT_OK ||
            (st = merge_part(t, i, b, bn, buf + la, &lb, &ib, err)) != TRIT_OK)
            break;
        int32_t im = tok_strmap_get(t, &t->bpe_map, buf, la + lb);
        if (im < 0) {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.merges[%zu] (\"%.40s\" + \"%.40s\") gives a token "
                           "that is not in the vocabulary", t->name, i, a, b);
            break;
        }
        if ((st = tok_add_pair(t, ia, ib, im, (uint32_t)i, err)) != TRIT_OK)
            break;
    }
    free(buf);
    return st;
}

static trit_status add_pretok(trit_tokenizer *t, json_t *p, bool *byte_level, int *n_regex, trit_error *err) {
    const char *ty = type_of(p);
    if (!strcmp(ty, "ByteLevel")) {
        json_t *ur = json_object_get(p, "use_regex"), *aps = json_object_get(p, "add_prefix_space");
        *byte_level = true;
        t->add_prefix_space = json_is_true(aps);
        if (!ur || json_is_true(ur)) { /* HF default: use_regex = true */
            if ((*n_regex)++)
                return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: more than one regex pre-tokenizer", t->name);
            return tok_set_pattern(t, GPT2_PATTERN, strlen(GPT2_PATTERN), false, err);
        }
        return TRIT_OK;
    }
    if (!strcmp(ty, "Split")) {
        json_t *pat = json_object_get(p, "pattern");
        json_t *re = json_object_get(pat, "Regex"), *lit = json_object_get(pat, "String");
        const char *beh = json_string_value(json_object_get(p, "behavior"));
        if (!json_is_string(re) && !json_is_string(lit))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: Split pre-tokenizer without a Regex/String pattern",
                             t->name);
        if (!beh || strcmp(beh, "Isolated") || json_is_true(json_object_get(p, "invert")))
            return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: Split behavior \"%s\"%s is not supported (only "
                             "Isolated)", t->name, beh ? beh : "?", json_is_true(json_object_get(p, "invert")) ?
                             " with invert" : "");
        if ((*n_regex)++)
            return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: more than one regex pre-tokenizer", t->name);
        json_t *s = re ? re : lit;
        return tok_set_pattern(t, json_string_value(s), json_string_length(s), !re, err);
    }
    return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: pre-tokenizer \"%s\" is not supported", t->name, ty);
}

static trit_status load_pretok(trit_tokenizer *t, json_t *p, trit_error *err) {
    bool byte_level = false;
    int n_regex = 0;
    if (json_is_object(p) && !strcmp(type_of(p), "Sequence")) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: pre_tokenizer.pretokenizers is not an array", t->name);
        size_t i;
        json_t *q;
        json_array_foreach(list, i, q) TRIT_TRY(add_pretok(t, q, &byte_level, &n_regex, err));
    } else if (json_is_object(p)) {
        TRIT_TRY(add_pretok(t, p, &byte_level, &n_regex, err));
    }
    if (!byte_level)
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: no ByteLevel pre-tokenizer (only byte-level BPE is "
                         "supported)", t->name);
    return TRIT_OK;
}

static trit_status add_postproc(trit_tokenizer *t, json_t *p, trit_error *err) {
    const char *ty = type_of(p);
    if (!strcmp(ty, "ByteLevel"))
        return TRIT_OK; /* only adjusts offsets */
    if (strcmp(ty, "TemplateProcessing"))
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: post-processor \"%s\" is not supported", t->name, ty);
    json_t *single = json_object_get(p, "single");
    if (!json_is_array(single))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: TemplateProcessing.single is not an array", t->name);
    size_t n = json_array_size(single), k = 0;
    json_t *first = json_array_get(single, 0), *sp = json_object_get(first, "SpecialToken");
    if (sp) {
        const char *name = json_string_value(json_object_get(sp, "id"));
        json_t *ids = json_object_get(json_object_get(json_object_get(p, "special_tokens"), name ? name : ""), "ids");
        json_t *id0 = json_array_get(ids, 0);
        if (!name || json_array_size(ids) != 1 || !json_is_integer(id0))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: TemplateProcessing names special token \"%s\" without "
                             "one id in special_tokens", t->name, name ? name : "?");
        json_int_t id = json_integer_value(id0);
        if (id < 0 || id >= t->n_vocab || !(t->tok[id].flags & TOK_PRESENT))
            return TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: TemplateProcessing token \"%s\" has id %lld, not in "
                             "the vocabulary", t->name, name, (long long)id);
        t->bos = (int32_t)id;
        k = 1;
    }
    if (n != k + 1 || !json_object_get(json_array_get(single, k), "Sequence"))
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: TemplateProcessing.single other than [special?, $A] "
                         "is not supported", t->name);
    return TRIT_OK;
}

static trit_status load_postproc(trit_tokenizer *t, json_t *p, trit_error *err) {
    if (!p || json_is_null(p))
        return TRIT_OK;
    if (!strcmp(type_of(p), "Sequence")) {
        json_t *list = json_object_get(p, "processors");
        if (!json_is_array(list))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: post_processor.processors is not an array", t->name);
        size_t i;
        json_t *q;
        json_array_foreach(list, i, q) TRIT_TRY(add_postproc(t, q, err));
        return TRIT_OK;
    }
    return add_postproc(t, p, err);
}

static trit_status load_model(trit_tokenizer *t, json_t *root, trit_error *err) {
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: no \"model\" object", t->name);
    const char *ty = json_string_value(json_object_get(model, "type"));
    if (ty && strcmp(ty, "BPE"))
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: model type \"%s\" (only BPE)", t->name, ty);
    json_t *n = json_object_get(root, "normalizer");
    if (n && !json_is_null(n))
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: normalizer \"%s\" is not supported", t->name,
                         type_of(n));
    const char *fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const char *s = json_string_value(json_object_get(model, fields[i]));
        if (s && *s)
            return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tokenizer %s: model.%s is not supported", t->name, fields[i]);
    }
    TRIT_TRY(load_vocab(t, json_object_get(model, "vocab"), err));
    TRIT_TRY(load_added(t, json_object_get(root, "added_tokens"), err));
    TRIT_TRY(tok_finish(t, err));
    TRIT_TRY(load_merges(t, json_object_get(model, "merges"), err));
    t->whole_word = json_is_true(json_object_get(model, "ignore_merges"));
    json_t *unk = json_object_get(model, "unk_token");
    if (json_is_string(unk)) {
        t->unk_id = trit_tokenizer_find(t, json_string_value(unk));
        if (t->unk_id < 0)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: model.unk_token \"%.80s\" is not in the vocabulary",
                             t->name, json_string_value(unk));
    }
    TRIT_TRY(load_pretok(t, json_object_get(root, "pre_tokenizer"), err));
    TRIT_TRY(load_postproc(t, json_object_get(root, "post_processor"), err));
    /* tokenizer.json does not name an EOS; take the usual end-of-text special token (config.json may override) */
    const char *eos_names[] = {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|eot_id|>"};
    for (int i = 0; i < 4 && t->eos < 0; i++) {
        int32_t id = tok_strmap_get(t, &t->added_map, eos_names[i], strlen(eos_names[i]));
        if (id >= 0 && (t->tok[id].flags & TOK_SPECIAL))
            t->eos = id;
    }
    return TRIT_OK;
}

trit_status trit_tokenizer_load_hf_mem(const char *data, size_t len, const char *name, trit_tokenizer **out,
                                       trit_error *err) {
    if (!out || (!data && len))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenizer_load_hf_mem: NULL argument");
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(data ? data : "", len, JSON_ALLOW_NUL, &je);
    if (!root)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: JSON error at line %d column %d: %s", name, je.line,
                         je.column, je.text);
    trit_tokenizer *t;
    trit_status st = tok_new(name, &t, err);
    if (st == TRIT_OK) {
        st = json_is_object(root) ? load_model(t, root, err)
                                  : TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: top level is not an object", name);
        if (st == TRIT_OK)
            *out = t;
        else
            trit_tokenizer_free(t);
    }
    json_decref(root);
    return st;
}

trit_status tok_read_file(const char *path, char **data, size_t *len, trit_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return TRIT_FAIL(err, TRIT_E_IO, "tokenizer %s: cannot open", path);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *g = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2) : NULL; /* 2 GiB: no tokenizer is that big */
        if (!g) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory reading the file", path);
    if (bad) {
        free(buf);
        return TRIT_FAIL(err, TRIT_E_IO, "tokenizer %s: read error", path);
    }
    *data = buf;
    *len = n;
    return TRIT_OK;
}

trit_status trit_tokenizer_load_hf(const char *path, trit_tokenizer **out, trit_error *err) {
    if (!path || !out)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenizer_load_hf: NULL argument");
    char *data;
    size_t len;
    TRIT_TRY(tok_read_file(path, &data, &len, err));
    trit_status st = trit_tokenizer_load_hf_mem(data, len, path, out, err);
    free(data);
    return st;
}
