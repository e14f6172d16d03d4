/* fuzz_config.c — libFuzzer target for the config.json parser (trit_config_parse).
 * Any input must give an error or a config that satisfies the invariants the engine relies on. */
#include <stddef.h>
#include <stdint.h>

#include "formats/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trit_config c;
    trit_error err;
    if (trit_config_parse((const char *)data, size, "fuzz.json", &c, &err) != TRIT_OK) {
        if (err.msg[0] == 0)
            __builtin_trap();
        return 0;
    }
    if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 ||
        c.n_kv_heads <= 0 || c.n_heads % c.n_kv_heads != 0 || c.head_dim <= 0 || c.head_dim % 2 != 0 ||
        c.vocab_size <= 0 || c.max_positions <= 0 || !(c.rope_theta > 0) || !(c.rms_eps > 0) ||
        c.bos_id < -1 || c.bos_id >= c.vocab_size || c.eos_id < -1 || c.eos_id >= c.vocab_size ||
        (int64_t)c.hidden_size * c.vocab_size > ((int64_t)1 << 40))
        __builtin_trap();
    return 0;
}
