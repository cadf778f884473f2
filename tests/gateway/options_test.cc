// ringserve-http's command line and config file: values, precedence, and errors that name the
// option or the file, line and key.
#include "gateway/options.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <vector>

namespace ringserve::gateway {
namespace {

std::string parse(std::vector<const char*> args, Options* out) {
  args.insert(args.begin(), "ringserve-http");
  return parse_options(static_cast<int>(args.size()), args.data(), out);
}

TEST(GatewayOptions, Defaults) {
  Options o;
  ASSERT_EQ(parse({"--name", "d"}, &o), "");
  EXPECT_EQ(o.daemon_name, "d");
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.threads, 1u);
  EXPECT_EQ(o.max_body_bytes, 1u << 20);
  EXPECT_EQ(o.max_header_bytes, 16u << 10);
  EXPECT_TRUE(o.api_keys.empty());
}

TEST(GatewayOptions, CommandLineErrorsNameTheOption) {
  Options o;
  EXPECT_NE(parse({}, &o).find("--name"), std::string::npos);
  EXPECT_NE(parse({"--name", "d", "--port", "70000"}, &o).find("--port"), std::string::npos);
  EXPECT_NE(parse({"--name", "d", "--threads", "0"}, &o).find("--threads"), std::string::npos);
  EXPECT_NE(parse({"--name", "d", "--bogus"}, &o).find("--bogus"), std::string::npos);
  EXPECT_NE(parse({"--name"}, &o).find("--name needs a value"), std::string::npos);
  EXPECT_NE(parse({"--name", "d", "--config", "/nonexistent/x"}, &o).find("/nonexistent/x"),
            std::string::npos);
}

TEST(GatewayOptions, ConfigFileKeysAndLineErrors) {
  Options o;
  ASSERT_EQ(parse_config_text("f",
                              "# keys\napi_key = \"k1\"\napi_key=k2\n\nmax_body_bytes = 10\n"
                              "max_header_bytes = 1024\nheader_timeout_ms = 5\n"
                              "max_connections = 3\nport = 9\nhost = ::1\nthreads = 2\n",
                              &o),
            "");
  EXPECT_EQ(o.api_keys, (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(o.max_body_bytes, 10u);
  EXPECT_EQ(o.max_header_bytes, 1024u);
  EXPECT_EQ(o.header_timeout_ms, 5u);
  EXPECT_EQ(o.max_connections, 3u);
  EXPECT_EQ(o.port, 9);
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(parse_config_text("f.conf", "\n\nbogus = 1\n", &o), "f.conf:3: bogus: unknown key");
  EXPECT_EQ(parse_config_text("f", "port 80\n", &o), "f:1: expected 'key = value'");
  EXPECT_EQ(parse_config_text("f", "max_body_bytes = -1\n", &o),
            "f:1: max_body_bytes: '-1' is not a whole number");
  EXPECT_EQ(parse_config_text("f", "api_key = \"x\n", &o),
            "f:1: api_key: unterminated quoted value");
}

TEST(GatewayOptions, CommandLineWinsOverTheFile) {
  const std::string path = "/tmp/ringserve-http-options-" + std::to_string(::getpid()) + ".conf";
  std::ofstream(path) << "port = 9000\nhost = 0.0.0.0\n";
  Options o;
  ASSERT_EQ(parse({"--port", "9001", "--config", path.c_str(), "--name", "d"}, &o), "");
  EXPECT_EQ(o.port, 9001);
  EXPECT_EQ(o.host, "0.0.0.0");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace ringserve::gateway
