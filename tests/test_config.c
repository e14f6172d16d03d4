/* test_config.c — config.json parsing: the 2B-4T config, a 1bitLLM llama-style config, defaults, and one bad
 * value per key (each error must name the key and the file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "formats/config.h"

#define FIXTURE "tests/data/config-2b4t.json" /* tests run in the source folder */

static trit_status parse(const char *json, trit_config *cfg, trit_error *err) {
    trit_error_clear(err);
    return trit_config_parse(json, strlen(json), "cfg.json", cfg, err);
}

static void test_2b4t(void **state) {
    (void)state;
    trit_config c;
    trit_error err;
    assert_int_equal(trit_config_load(FIXTURE, &c, &err), TRIT_OK);
    assert_int_equal(c.hidden_size, 2560);
    assert_int_equal(c.intermediate_size, 6912);
    assert_int_equal(c.n_layers, 30);
    assert_int_equal(c.n_heads, 20);
    assert_int_equal(c.n_kv_heads, 5);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.vocab_size, 128256);
    assert_int_equal(c.max_positions, 4096);
    assert_true(c.rope_theta == 500000.0f);
    assert_true(c.rms_eps == 1e-5f);
    assert_true(c.tie_embeddings);
    assert_int_equal(c.act, TRIT_ACT_RELU2);
    assert_int_equal(c.scale_dir, TRIT_SCALE_MULTIPLY);
    assert_true(c.offline_quant);
    assert_int_equal(c.bos_id, 128000);
    assert_int_equal(c.eos_id, 128001);
}

static void test_missing_file(void **state) {
    (void)state;
    trit_config c;
    trit_error err;
    assert_int_equal(trit_config_load("tests/data/no-such-config.json", &c, &err), TRIT_E_IO);
    assert_non_null(strstr(err.msg, "no-such-config.json"));
}

static void test_1bitllm(void **state) {
    (void)state;
    /* shape of 1bitLLM/bitnet_b1_58-large: llama model_type, BitnetForCausalLM, SiLU, rope 1e4 */
    const char *j = "{\"architectures\":[\"BitnetForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":1536,"
                    "\"intermediate_size\":4096,\"num_hidden_layers\":24,\"num_attention_heads\":16,"
                    "\"num_key_value_heads\":16,\"vocab_size\":32002,\"max_position_embeddings\":2048,"
                    "\"rms_norm_eps\":1e-05,\"hidden_act\":\"silu\",\"bos_token_id\":1,\"eos_token_id\":2,"
                    "\"tie_word_embeddings\":false,\"rope_scaling\":null,\"weight_bits\":1,\"input_bits\":8}";
    trit_config c;
    trit_error err;
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.head_dim, 96);
    assert_int_equal(c.act, TRIT_ACT_SILU);
    assert_true(c.rope_theta == 10000.0f); /* llama-style default */
    assert_false(c.offline_quant);         /* no quantization_config: float masters */
    assert_int_equal(c.scale_dir, TRIT_SCALE_MULTIPLY);
    assert_int_equal(c.bos_id, 1);
    assert_int_equal(c.eos_id, 2);
}

static const char *k_min = "{\"model_type\":\"bitnet\",\"hidden_size\":64,\"intermediate_size\":96,"
                           "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":300}";

static void test_defaults(void **state) {
    (void)state;
    trit_config c;
    trit_error err;
    assert_int_equal(parse(k_min, &c, &err), TRIT_OK);
    assert_int_equal(c.n_kv_heads, 4);
    assert_int_equal(c.head_dim, 16);
    assert_int_equal(c.max_positions, 2048);
    assert_true(c.rope_theta == 500000.0f);
    assert_true(c.rms_eps == 1e-5f);
    assert_false(c.tie_embeddings);
    assert_int_equal(c.act, TRIT_ACT_RELU2);
    assert_int_equal(c.scale_dir, TRIT_SCALE_MULTIPLY);
    assert_false(c.offline_quant);
    assert_int_equal(c.bos_id, -1);
    assert_int_equal(c.eos_id, -1);
}

/* k_min with `key` set to the JSON text `value` (NULL deletes the key). */
static char *with(const char *key, const char *value) {
    json_t *o = json_loads(k_min, 0, NULL);
    if (value)
        json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(o, key);
    char *s = json_dumps(o, 0);
    json_decref(o);
    return s;
}

static void test_variants(void **state) {
    (void)state;
    trit_config c;
    trit_error err;
    char *j = with("eos_token_id", "[128001, 128009]");
    json_t *o = json_loads(j, 0, NULL);
    json_object_set_new(o, "vocab_size", json_integer(128256));
    free(j);
    j = json_dumps(o, 0);
    json_decref(o);
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.eos_id, 128001);
    free(j);

    j = with("eos_token_id", "[]");
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.eos_id, -1);
    free(j);
    j = with("head_dim", "null");
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.head_dim, 16);
    free(j);
    j = with("head_dim", "32"); /* explicit head_dim need not be hidden / heads */
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.head_dim, 32);
    free(j);
    j = with("rope_theta", "10000"); /* an integer is a fine number */
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_true(c.rope_theta == 10000.0f);
    free(j);
    j = with("quantization_config", "{\"quant_method\":\"bitnet\",\"linear_class\":\"bitlinear\","
                                    "\"quantization_mode\":\"offline\"}");
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.scale_dir, TRIT_SCALE_DIVIDE);
    assert_true(c.offline_quant);
    free(j);
    j = with("quantization_config", "{\"quant_method\":\"bitnet\",\"quantization_mode\":\"online\"}");
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.scale_dir, TRIT_SCALE_MULTIPLY);
    assert_false(c.offline_quant);
    free(j);
    j = with("hidden_act", "\"silu\"");
    assert_int_equal(parse(j, &c, &err), TRIT_OK);
    assert_int_equal(c.act, TRIT_ACT_SILU);
    free(j);
}

typedef struct {
    const char *key, *value; /* value NULL: key removed */
    trit_status want;
    const char *msg;         /* substring the message must hold (besides the file label) */
} bad;

static void test_bad(void **state) {
    (void)state;
    static const bad cases[] = {
        {"hidden_size", NULL, TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "\"64\"", TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "64.0", TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "0", TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "-64", TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "1099511627776", TRIT_E_FORMAT, "hidden_size"},
        {"hidden_size", "66", TRIT_E_FORMAT, "hidden_size"}, /* 66 % 4 */
        {"hidden_size", "60", TRIT_E_FORMAT, "head_dim"},    /* 60 / 4 = 15: odd head_dim */
        {"intermediate_size", "true", TRIT_E_FORMAT, "intermediate_size"},
        {"intermediate_size", NULL, TRIT_E_FORMAT, "intermediate_size"},
        {"num_hidden_layers", "1025", TRIT_E_FORMAT, "num_hidden_layers"},
        {"num_hidden_layers", "0", TRIT_E_FORMAT, "num_hidden_layers"},
        {"num_attention_heads", "2048", TRIT_E_FORMAT, "num_attention_heads"},
        {"num_attention_heads", NULL, TRIT_E_FORMAT, "num_attention_heads"},
        {"num_key_value_heads", "3", TRIT_E_FORMAT, "num_key_value_heads"},
        {"num_key_value_heads", "0", TRIT_E_FORMAT, "num_key_value_heads"},
        {"head_dim", "15", TRIT_E_FORMAT, "head_dim"},
        {"head_dim", "0", TRIT_E_FORMAT, "head_dim"},
        {"head_dim", "1000000", TRIT_E_FORMAT, "head_dim"},
        {"vocab_size", "0", TRIT_E_FORMAT, "vocab_size"},
        {"vocab_size", "[300]", TRIT_E_FORMAT, "vocab_size"},
        {"max_position_embeddings", "-1", TRIT_E_FORMAT, "max_position_embeddings"},
        {"rope_theta", "0", TRIT_E_FORMAT, "rope_theta"},
        {"rope_theta", "-10000.0", TRIT_E_FORMAT, "rope_theta"},
        {"rope_theta", "1e300", TRIT_E_FORMAT, "rope_theta"},
        {"rope_theta", "\"1e4\"", TRIT_E_FORMAT, "rope_theta"},
        {"rms_norm_eps", "0.0", TRIT_E_FORMAT, "rms_norm_eps"},
        {"rms_norm_eps", "-1e-5", TRIT_E_FORMAT, "rms_norm_eps"},
        {"rms_norm_eps", "1e-50", TRIT_E_FORMAT, "rms_norm_eps"}, /* underflows to 0 as a float (found by fuzzing) */
        {"tie_word_embeddings", "1", TRIT_E_FORMAT, "tie_word_embeddings"},
        {"hidden_act", "\"gelu\"", TRIT_E_UNSUPPORTED, "gelu"},
        {"hidden_act", "3", TRIT_E_FORMAT, "hidden_act"},
        {"model_type", "\"gpt2\"", TRIT_E_UNSUPPORTED, "gpt2"},
        {"model_type", "\"llama\"", TRIT_E_UNSUPPORTED, "llama"}, /* llama without BitnetForCausalLM */
        {"model_type", NULL, TRIT_E_FORMAT, "model_type"},
        {"quantization_config", "[]", TRIT_E_FORMAT, "quantization_config"},
        {"quantization_config", "{\"quant_method\":\"gptq\"}", TRIT_E_UNSUPPORTED, "gptq"},
        {"quantization_config", "{\"linear_class\":\"fancy\"}", TRIT_E_UNSUPPORTED, "linear_class"},
        {"quantization_config", "{\"quantization_mode\":\"later\"}", TRIT_E_UNSUPPORTED, "quantization_mode"},
        {"quantization_config", "{\"linear_class\":1}", TRIT_E_FORMAT, "linear_class"},
        {"bos_token_id", "\"<s>\"", TRIT_E_FORMAT, "bos_token_id"},
        {"bos_token_id", "300", TRIT_E_FORMAT, "bos_token_id"},
        {"eos_token_id", "-2", TRIT_E_FORMAT, "eos_token_id"},
        {"eos_token_id", "[\"x\"]", TRIT_E_FORMAT, "eos_token_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *j = with(cases[i].key, cases[i].value);
        trit_config c;
        trit_error err;
        trit_status st = parse(j, &c, &err);
        if (st != cases[i].want || !strstr(err.msg, cases[i].msg))
            print_error("case %zu (%s = %s): status %d, message: %s\n", i, cases[i].key,
                        cases[i].value ? cases[i].value : "(removed)", st, err.msg);
        assert_int_equal(st, cases[i].want);
        assert_non_null(strstr(err.msg, cases[i].msg));
        assert_non_null(strstr(err.msg, "cfg.json"));
        free(j);
    }
}

static void test_bad_documents(void **state) {
    (void)state;
    const char *docs[] = {"", "[]", "42", "null", "\"bitnet\"", "{", "{\"model_type\":\"bitnet\",}",
                          "{\"model_type\":\"bitnet\",\"model_type\":\"bitnet\"}"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        trit_config c;
        trit_error err;
        assert_int_equal(parse(docs[i], &c, &err), TRIT_E_FORMAT);
        assert_non_null(strstr(err.msg, "cfg.json"));
    }
    /* vocab × hidden over 2^40 */
    json_t *o = json_loads(k_min, 0, NULL);
    json_object_set_new(o, "hidden_size", json_integer(1 << 20));
    json_object_set_new(o, "vocab_size", json_integer(1 << 24));
    json_object_set_new(o, "head_dim", json_integer(128));
    char *j = json_dumps(o, 0);
    json_decref(o);
    trit_config c;
    trit_error err;
    assert_int_equal(parse(j, &c, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "vocab_size"));
    free(j);
}

static void test_truncated_fixture(void **state) {
    (void)state;
    FILE *f = fopen(FIXTURE, "rb");
    assert_non_null(f);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t len = 0; len < n; len++) { /* every prefix: an error or (trailing whitespace cut) the config */
        char *cut = malloc(len + 1);
        memcpy(cut, buf, len);
        trit_config c;
        trit_error err;
        trit_status st = trit_config_parse(cut, len, "cut.json", &c, &err);
        assert_true(st == TRIT_OK || st == TRIT_E_FORMAT);
        if (st == TRIT_OK)
            assert_int_equal(c.vocab_size, 128256);
        free(cut);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2b4t),          cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_1bitllm),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_variants),      cmocka_unit_test(test_bad),
        cmocka_unit_test(test_bad_documents), cmocka_unit_test(test_truncated_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
