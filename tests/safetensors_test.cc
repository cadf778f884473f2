// SafetensorsFile: a valid file reads back exactly; every kind of damage fails with the file
// and (where there is one) the tensor named.
#include "engine/model/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace ringserve::model {
namespace {

class Safetensors : public ::testing::Test {
 protected:
  void TearDown() override { ::unlink(path_.c_str()); }

  // Writes [len][header][data] with the header length given (or the true one).
  void write(const std::string& header, const std::string& data, int64_t header_len = -1) {
    const uint64_t len = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((len >> (8 * i)) & 0xFF));
    f << header << data;
  }

  std::string open_error() {
    std::unique_ptr<SafetensorsFile> file;
    std::string error;
    EXPECT_FALSE(SafetensorsFile::open(path_, &file, &error));
    return error;
  }

  std::string path_ = "/tmp/ringserve-st-" + std::to_string(::getpid()) + ".safetensors";
};

TEST_F(Safetensors, ReadsTensorsAndMetadata) {
  const float values[3] = {1.5f, -2.0f, 3.25f};
  std::string data(reinterpret_cast<const char*>(values), sizeof(values));
  data += std::string("\x80\x3f", 2);  // bf16 1.0
  write(R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},)"
        R"("b":{"dtype":"BF16","shape":[1,1],"data_offsets":[12,14]}})",
        data);
  std::unique_ptr<SafetensorsFile> file;
  std::string error;
  ASSERT_TRUE(SafetensorsFile::open(path_, &file, &error)) << error;
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  const TensorInfo* w = file->find("w");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::kF32);
  EXPECT_EQ(w->shape, std::vector<int64_t>{3});
  float got[3];
  std::memcpy(got, w->data, sizeof(got));
  EXPECT_EQ(got[2], 3.25f);
  const TensorInfo* b = file->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(b->bytes, 2u);
  EXPECT_EQ(file->find("nope"), nullptr);
}

TEST_F(Safetensors, MissingAndTinyFiles) {
  std::unique_ptr<SafetensorsFile> file;
  std::string error;
  EXPECT_FALSE(SafetensorsFile::open("/nonexistent/model.safetensors", &file, &error));
  EXPECT_NE(error.find("/nonexistent/model.safetensors: cannot open"), std::string::npos);
  std::ofstream(path_) << "abc";
  EXPECT_NE(open_error().find("truncated"), std::string::npos);
}

TEST_F(Safetensors, HeaderLengthBeyondTheFile) {
  write("{}", "", 1000);
  EXPECT_NE(open_error().find("header length 1000"), std::string::npos);
}

TEST_F(Safetensors, TruncatedDataNamesTheTensor) {
  write(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  const std::string e = open_error();
  EXPECT_NE(e.find("tensor 'w'"), std::string::npos) << e;
  EXPECT_NE(e.find("outside"), std::string::npos) << e;
}

TEST_F(Safetensors, ShapeAndSizeMismatch) {
  write(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", std::string(16, '\0'));
  const std::string e = open_error();
  EXPECT_NE(e.find("tensor 'w': has 16 bytes but shape x F32 needs 24"), std::string::npos) << e;
}

TEST_F(Safetensors, UnsupportedDtypeAndBadJson) {
  write(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x");
  EXPECT_NE(open_error().find("tensor 'w': unsupported dtype F8_E4M3"), std::string::npos);
  write(R"({"w":)", "");
  EXPECT_NE(open_error().find("not valid JSON"), std::string::npos);
  write(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd");
  EXPECT_NE(open_error().find("bad dimension"), std::string::npos);
}

TEST_F(Safetensors, OverlappingTensors) {
  write(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
        std::string(12, '\0'));
  EXPECT_NE(open_error().find("overlap"), std::string::npos);
}

}  // namespace
}  // namespace ringserve::model
