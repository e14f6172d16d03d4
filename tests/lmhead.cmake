# The optional int8 LM head (trit_model_params.lm_head_int8 / --lm-head-int8): the quantizer, the tables the
# loader builds and the logits' error bound on every back end of the build; and its perplexity cost end to end.
trit_add_test(test_lmhead SOURCES test_lmhead.c model_fixture.c formats_st.c LABELS engine)
# int8 head vs bf16 head on the embedded model: relative ppl difference <= 0.5% (measured 0.034%, see the script)
add_test(NAME ppl_lm_head_int8 COMMAND bash ${PROJECT_SOURCE_DIR}/tests/lmhead_ppl.sh $<TARGET_FILE:trit_cli>
         ${PROJECT_SOURCE_DIR}/models/bitnet-b1.58-sotu-25m ${PROJECT_SOURCE_DIR}/tests/data/other.txt 256 8)
set_tests_properties(ppl_lm_head_int8 PROPERTIES LABELS "engine;ppl" ENVIRONMENT "TRIT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
