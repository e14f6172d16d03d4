# Tokenizer tests (src/tokenizer).
#   test_tokenizer      Llama 3 from ../shared/data/llama3-tokenizer/tokenizer.model: llama.cpp cases, goldens
#                       (tests/data/tokenizer-golden.*), specials, invalid UTF-8, detok, chat template, merges
#   test_tokenizer_hf   tokenizer.json loading: hand-made fixture (tests/data/tokenizer-tiny*), malformed files
#   test_tokenizer_npm  differential test against npm reference encoders (label "npm"); needs tests/npm/node_modules
#                       (scripts/tokenizer-reference.sh) and node, and is reported as skipped when they are absent
trit_add_test(test_tokenizer SOURCES test_tokenizer.c LIBS trit_tokenizer trit_core)
trit_add_test(test_tokenizer_hf SOURCES test_tokenizer_hf.c LIBS trit_tokenizer trit_core)
trit_add_test(test_tokenizer_npm SOURCES test_tokenizer_npm.c LIBS trit_tokenizer trit_core LABELS npm)
set_tests_properties(test_tokenizer_npm PROPERTIES SKIP_REGULAR_EXPRESSION "npm reference files absent")
