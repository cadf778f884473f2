# Tests of engine/text (and tools/model_making's BPE trainer) (tokenizers, chat templates, streaming detokenization).
add_executable(ringserve_text_tests
  ${CMAKE_CURRENT_LIST_DIR}/bpe_trainer_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/chat_template_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/pretokenize_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/stop_strings_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_errors_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_special_tokens_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/utf8_stream_test.cc)
target_link_libraries(ringserve_text_tests PRIVATE ringserve_text ringserve_model_making nlohmann_json::nlohmann_json GTest::gtest_main)
target_compile_definitions(ringserve_text_tests PRIVATE RINGSERVE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
gtest_discover_tests(ringserve_text_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
