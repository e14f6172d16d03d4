# formats: safetensors reader, config.json parser, weight reading. Linked against the module objects only.
trit_add_test(test_safetensors SOURCES test_safetensors.c formats_st.c LIBS trit_formats trit_core LABELS formats)
trit_add_test(test_config SOURCES test_config.c LIBS trit_formats trit_core LABELS formats)
trit_add_test(test_weights SOURCES test_weights.c formats_st.c LIBS trit_formats trit_core LABELS formats)
