// Reads a whole file into a string, for the model directory's JSON files (config.json,
// tokenizer.json, the safetensors index, ...). Callers word the error: they know what the file
// is for.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace ringserve::model {

enum class ReadFileResult { kOk, kCannotOpen, kCannotRead };

inline ReadFileResult read_file(const std::string& path, std::string* text) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return ReadFileResult::kCannotOpen;
  std::ostringstream contents;
  contents << file.rdbuf();
  if (file.bad()) return ReadFileResult::kCannotRead;
  *text = contents.str();
  return ReadFileResult::kOk;
}

}  // namespace ringserve::model
