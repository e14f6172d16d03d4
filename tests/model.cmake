# model: trit against transformers. Goldens come from scripts/make_goldens.py (GPU host), see tests/golden.h.
# test_golden: the golden-file reader on valid and hostile input (needs only trit_core).
trit_add_test(test_golden SOURCES test_golden.c golden.c LIBS trit_core LABELS model)
# test_model_golden: logits / greedy tokens of the committed tiny model (both weight forms) vs transformers, on every
# back end in the build; exits 77 (skipped) until tests/data/tiny-* and golden-tiny-*.bin are committed.
trit_add_test(test_model_golden SOURCES test_model_golden.c golden.c LABELS model)
set_tests_properties(test_model_golden PROPERTIES SKIP_RETURN_CODE 77)
