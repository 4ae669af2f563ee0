// The dashboard's files, embedded in the binary at build time
// (cmake/EmbedAssets.cmake): index.html, app.js, app.css from assets/, and chart.js,
// Debian's libjs-chart.js.
#pragma once

#include <string_view>

namespace nnilib {

/// The file `name` ("index.html", "app.js", "app.css", "chart.js"), or "" when
/// there is none of that name.
std::string_view dashboard_asset(std::string_view name);

}  // namespace nnilib
