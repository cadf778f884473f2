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

# The comparison with the Hugging Face tokenizers library on real tokenizer.json files of six
# families (tests/reference/README.md). Skipped (77) until `npm ci` ran in tests/reference.
add_executable(ringserve_compare_with_reference
  ${CMAKE_CURRENT_LIST_DIR}/reference/compare_with_reference.cc)
target_link_libraries(ringserve_compare_with_reference PRIVATE ringserve_text
  nlohmann_json::nlohmann_json)
add_test(NAME tokenizer_reference
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/reference/run_reference.sh
          $<TARGET_FILE:ringserve_compare_with_reference>)
set_tests_properties(tokenizer_reference PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)
# Encode speed on common text per family (run by hand; tests/reference/README.md).
add_executable(ringserve_tokenizer_throughput
  ${CMAKE_CURRENT_LIST_DIR}/reference/tokenizer_throughput.cc)
target_link_libraries(ringserve_tokenizer_throughput PRIVATE ringserve_text)
