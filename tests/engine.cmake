# engine: model forward + context end to end on generated model folders, every back end in the build.
trit_add_test(test_model SOURCES test_model.c model_fixture.c formats_st.c LABELS engine)
# the trit command end to end on the embedded model
add_test(NAME cli_embedded_model COMMAND bash ${PROJECT_SOURCE_DIR}/tests/cli_test.sh $<TARGET_FILE:trit_cli>
         ${PROJECT_SOURCE_DIR}/models/bitnet-b1.58-sotu-25m)
set_tests_properties(cli_embedded_model PROPERTIES LABELS "engine;cli" ENVIRONMENT "TRIT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
# perplexity of the embedded model on its held-out text agrees with transformers (issue 3)
add_test(NAME ppl_heldout_vs_transformers COMMAND bash ${PROJECT_SOURCE_DIR}/tests/ppl_test.sh $<TARGET_FILE:trit_cli>
         ${PROJECT_SOURCE_DIR}/models/bitnet-b1.58-sotu-25m ${PROJECT_SOURCE_DIR}/tests/data/heldout.txt 512)
set_tests_properties(ppl_heldout_vs_transformers PROPERTIES LABELS "engine;ppl" ENVIRONMENT "TRIT_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
