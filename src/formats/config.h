/* config.h — config.json of a Hugging Face BitNet folder → trit_config (include/trit.h).
 * Accepts model_type "bitnet" (BitNetForCausalLM, 2B-4T) and the older "BitnetForCausalLM"/llama-style 1bitLLM
 * configs; not hard-wired to any size. Missing optional keys take the transformers BitNetConfig defaults;
 * missing required keys, wrong types and inconsistent values (hidden_size not divisible, n_heads % n_kv_heads,
 * odd head_dim, non-positive sizes, absurd sizes) are TRIT_E_FORMAT naming the key. */
#ifndef TRIT_FORMATS_CONFIG_H
#define TRIT_FORMATS_CONFIG_H

#include <stddef.h>

#include "trit.h"

trit_status trit_config_load(const char *path, trit_config *cfg, trit_error *err);
trit_status trit_config_parse(const char *json, size_t len, const char *label, trit_config *cfg, trit_error *err);

#endif
