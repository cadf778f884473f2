#include "gateway/web_page.h"

#include <string>

namespace ringserve::gateway {

const WebAsset* find_web_asset(std::string_view path) {
  for (const WebAsset& asset : web_assets()) {
    if (asset.path == path) return &asset;
  }
  return nullptr;
}

HttpResponse web_response(const WebAsset& asset) {
  HttpResponse r;
  r.content_type = std::string(asset.content_type);
  r.body = std::string(asset.body);
  r.headers = {{"Content-Security-Policy", std::string(kPageSecurityPolicy)},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"},
               // A new binary may bring a new page: revalidate rather than run a stale script.
               {"Cache-Control", "no-cache"}};
  return r;
}

}  // namespace ringserve::gateway
