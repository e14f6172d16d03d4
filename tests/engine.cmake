# engine: model forward + context end to end on generated model folders, every back end in the build.
trit_add_test(test_model SOURCES test_model.c model_fixture.c formats_st.c LABELS engine)
