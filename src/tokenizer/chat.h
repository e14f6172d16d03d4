/* chat.h — the BitNet b1.58 2B-4T chat prompt (model-spec §7, format 1, the HF tokenizer_config template):
 *   <|begin_of_text|>Role: content<|eot_id|>...[Assistant: ]
 * once at the start, role capitalised (Jinja `capitalize`: first letter upper, rest lower), content stripped of
 * leading/trailing whitespace (Jinja `trim`, i.e. Python str.strip()), and "Assistant: " appended when a
 * generation prompt is asked for. */
#ifndef TRIT_TOKENIZER_CHAT_H
#define TRIT_TOKENIZER_CHAT_H

#include "trit.h"

typedef struct trit_chat_msg {
    const char *role;    /* "system", "user", "assistant" (any non-empty role is accepted) */
    const char *content; /* UTF-8, NUL-terminated */
} trit_chat_msg;

/* Token ids of the prompt, malloc'd into *ids (*n ids; the caller frees). <|begin_of_text|> and <|eot_id|> are
 * inserted as ids; the message text is encoded without special-token recognition, so a user who types
 * "<|eot_id|>" gets those characters, not the control token. TRIT_E_UNSUPPORTED if the tokenizer lacks
 * <|begin_of_text|> or <|eot_id|>; TRIT_E_ARG for a NULL or empty role. */
trit_status trit_chat_format(const trit_tokenizer *t, const trit_chat_msg *msgs, size_t n_msgs,
                             bool add_generation_prompt, int32_t **ids, size_t *n, trit_error *err);

/* The same prompt as text (malloc'd, NUL-terminated; the caller frees). Tokenizing it with TRIT_TOK_SPECIAL
 * gives the ids above unless a message itself contains special-token text. */
trit_status trit_chat_format_text(const trit_chat_msg *msgs, size_t n_msgs, bool add_generation_prompt,
                                  char **text, trit_error *err);

#endif
