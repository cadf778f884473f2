// The chat page at `/` (docs/HTTP.md "The chat page"): the embedded files as HTTP responses,
// with the headers that keep the page to itself (a strict Content-Security-Policy, nosniff).
// Pure; any thread.
#pragma once

#include <string_view>

#include "gateway/http_message.h"
#include "gateway/web_assets.h"

namespace ringserve::gateway {

// The page file served at `path` (no query), or nullptr.
const WebAsset* find_web_asset(std::string_view path);

// Only this origin's scripts, styles and fetches; no inline script or style, no plugins,
// frames, forms posted elsewhere or <base>.
inline constexpr std::string_view kPageSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// A 200 with the file and its headers.
HttpResponse web_response(const WebAsset& asset);

}  // namespace ringserve::gateway
