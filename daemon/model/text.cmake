# ringserve_text: the model's text side (tokenizers, chat templates, streaming detokenization,
# stop strings). No torch here: ringctl links it for `ringctl tokenize`.
set(RINGSERVE_TEXT_DIR ${CMAKE_CURRENT_LIST_DIR})
add_library(ringserve_text STATIC
  ${RINGSERVE_TEXT_DIR}/bpe.cc
  ${RINGSERVE_TEXT_DIR}/bpe_trainer.cc
  ${RINGSERVE_TEXT_DIR}/chat_template.cc
  ${RINGSERVE_TEXT_DIR}/pretokenize.cc
  ${RINGSERVE_TEXT_DIR}/pretokenize_regex.cc
  ${RINGSERVE_TEXT_DIR}/stop_strings.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer_added.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer_decoder.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer_json.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer_json_steps.cc
  ${RINGSERVE_TEXT_DIR}/tokenizer_normalizer.cc
  ${RINGSERVE_TEXT_DIR}/unicode_bytes.cc
  ${RINGSERVE_TEXT_DIR}/unicode_normalize.cc
  ${RINGSERVE_TEXT_DIR}/utf8.cc
  ${RINGSERVE_TEXT_DIR}/utf8_stream.cc)
target_include_directories(ringserve_text PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(ringserve_text PRIVATE nlohmann_json::nlohmann_json PkgConfig::PCRE2)
# Unicode normalization forms (Qwen2's NFC normalizer) come from ICU when it is installed
# (Debian: libicu-dev); without it, tokenizers that need them are refused at load.
pkg_check_modules(RINGSERVE_ICU QUIET IMPORTED_TARGET icu-uc)
if(RINGSERVE_ICU_FOUND)
  target_link_libraries(ringserve_text PRIVATE PkgConfig::RINGSERVE_ICU)
  target_compile_definitions(ringserve_text PRIVATE RINGSERVE_TEXT_HAVE_ICU=1)
else()
  target_compile_definitions(ringserve_text PRIVATE RINGSERVE_TEXT_HAVE_ICU=0)
endif()
