// `fmnist-nas report --html`: the dashboard as one self-contained HTML file. Free of
// LibTorch.
#pragma once

#include <string>
#include <vector>

namespace nnilib {

/// A self-contained HTML page of the dashboard for `experiment_dirs`: the pages,
/// Chart.js and the experiments' data (every trial's detail, output tails cut to 2 KiB)
/// inlined; it loads nothing and needs no server. Throws UsageError naming a bad
/// directory.
std::string dashboard_report_html(const std::vector<std::string>& experiment_dirs);

}  // namespace nnilib
