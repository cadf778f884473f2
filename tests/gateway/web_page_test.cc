// The chat page's embedded files (gateway/web/, compiled in by gateway/embed_web.cmake) and the
// headers they are served with.
#include "gateway/web_page.h"

#include <gtest/gtest.h>

#include <string>

namespace ringserve::gateway {
namespace {

std::string header(const HttpResponse& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

TEST(WebPage, EveryFileIsEmbeddedWhole) {
  const WebAsset* index = find_web_asset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(index->body.substr(0, 15), "<!DOCTYPE html>");
  EXPECT_EQ(index->body.substr(index->body.size() - 8), "</html>\n");
  const WebAsset* script = find_web_asset("/app.js");
  ASSERT_NE(script, nullptr);
  EXPECT_EQ(script->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(script->body.find("showModel();\n"), std::string::npos);
  ASSERT_NE(find_web_asset("/style.css"), nullptr);
  EXPECT_EQ(find_web_asset("/index.html"), nullptr);
  EXPECT_EQ(find_web_asset("/v1/models"), nullptr);
  EXPECT_EQ(find_web_asset(""), nullptr);
}

TEST(WebPage, ServedWithAStrictPolicy) {
  const HttpResponse r = web_response(*find_web_asset("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(r, "Content-Security-Policy"), kPageSecurityPolicy);
  EXPECT_EQ(header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(std::string(kPageSecurityPolicy).find("unsafe"), std::string::npos);
  // The page's only script is a file of this origin: no inline code for the policy to allow.
  EXPECT_EQ(r.body.find("<script>"), std::string::npos);
  EXPECT_NE(r.body.find("<script src=\"/app.js\""), std::string::npos);
}

}  // namespace
}  // namespace ringserve::gateway
