// NNI's grid walk (gridsearch_tuner.py) and the GridSearch tuner built on it.
#include <cmath>

#include "tuner/tuner_detail.h"

namespace nnilib::tuner_detail {

// ---- GridWalker -----------------------------------------------------------------

namespace {

// Values walked one by one: choice and randint (as NNI), and - unlike NNI - the
// bounded q-types quniform and qloguniform when they have at most a million
// values. NNI divides those like continuous ranges, and its bisection, which
// adds a midpoint only when both halves give different values, never reaches
// some of them (quniform [0, 10, 5] only ever yields 5).
std::size_t enumerated(const Dimension& d) {
  if (const std::size_t n = categorical_size(d)) return n;
  constexpr std::uint64_t kMaxValues = 1000000;
  if (d.finite() && d.cardinality() <= kMaxValues) return static_cast<std::size_t>(d.cardinality());
  return 0;
}

}  // namespace

GridWalker::GridWalker(const SearchSpace& space)
    : space_(&space),
      grid_(space.dimensions().size()),
      divisions_(space.dimensions().size()),
      epoch_bar_(space.dimensions().size(), 0) {
  const auto& dims = space.dimensions();
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (const std::size_t n = enumerated(dims[i])) {
      for (std::size_t k = 0; k < n; ++k) grid_[i].push_back(static_cast<double>(k));
      continue;
    }
    grid_[i] = {0.5};
    if (less(0, 0.5, i)) divisions_[i].emplace_back(0, 0.5);
    if (less(0.5, 1, i)) divisions_[i].emplace_back(0.5, 1);
  }
}

double GridWalker::cdf_inverse(double x, std::size_t dim) const {
  const Dimension& d = space_->dimensions()[dim];
  if (d.normal_distributed()) return d.mu + d.sigma * normal_quantile(x);
  const auto [lo, hi] = internal_bounds(d);
  return lo + (hi - lo) * x;
}

bool GridWalker::less(double x, double y, std::size_t dim) const {
  const Dimension& d = space_->dimensions()[dim];
  // Compare the values a trial would get (after exp, rounding to q and clipping).
  auto real = [&](double f) {
    const double v = cdf_inverse(f, dim);
    return std::isinf(v) ? v : to_slot(d, v);
  };
  return real(x) < real(y);
}

Point GridWalker::current() const {
  const auto& dims = space_->dimensions();
  Point point(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (!space_->active(i, point)) continue;
    const double x = grid_[i][(*vector_)[i]];
    if (!enumerated(dims[i]))
      point[i] = to_slot(dims[i], cdf_inverse(x, i));
    else if (categorical_size(dims[i]))
      point[i] = to_slot(dims[i], x);
    else
      point[i] = dims[i].grid_slot(static_cast<std::uint64_t>(x));
  }
  return point;
}

void GridWalker::next_vector() {
  if (!vector_) {
    vector_ = std::vector<std::size_t>(grid_.size(), 0);
    return;
  }
  // Only the dimensions the current point uses move; the last one fastest.
  const Point point = current();
  for (std::size_t i = grid_.size(); i-- > 0;) {
    if (!point[i]) continue;
    if ((*vector_)[i] + 1 < grid_[i].size()) {
      ++(*vector_)[i];
      return;
    }
    (*vector_)[i] = 0;
  }
  vector_.reset();
}

void GridWalker::next_grid() {
  bool updated = false;
  for (std::size_t i = 0; i < grid_.size(); ++i) {
    epoch_bar_[i] = grid_[i].size();
    if (enumerated(space_->dimensions()[i])) continue;
    std::vector<double> values;
    std::vector<std::pair<double, double>> divisions;
    for (const auto& [l, r] : divisions_[i]) {
      const double mid = (l + r) / 2;
      const bool diff_l = less(l, mid, i);
      const bool diff_r = less(mid, r, i);
      if (diff_l && diff_r) {
        values.push_back(mid);
        updated = true;
      }
      if (diff_l) divisions.emplace_back(l, mid);
      if (diff_r) divisions.emplace_back(mid, r);
    }
    grid_[i].insert(grid_[i].end(), values.begin(), values.end());
    divisions_[i] = std::move(divisions);
  }
  if (!updated) exhausted_ = true;
}

std::optional<Point> GridWalker::next() {
  for (;;) {
    if (exhausted_) return std::nullopt;
    next_vector();
    if (!vector_) {  // end of this epoch: subdivide and walk again
      next_grid();
      continue;
    }
    bool old = true;  // every coordinate existed in an earlier epoch: already walked
    for (std::size_t i = 0; i < grid_.size() && old; ++i) old = (*vector_)[i] < epoch_bar_[i];
    if (old) continue;
    return current();
  }
}

// ---- GridSearch -------------------------------------------------------------------

namespace {

class GridSearchTuner : public Tuner {
 public:
  GridSearchTuner(const SearchSpace& space, std::optional<OptimizeMode> mode)
      : space_(space), walker_(space_), mode_(mode) {}
  std::string name() const override { return "GridSearch"; }
  std::optional<OptimizeMode> optimize_mode() const override { return mode_; }

  std::optional<nlohmann::json> generate_parameters(std::int64_t /*parameter_id*/) override {
    for (;;) {
      const std::optional<Point> point = walker_.next();
      if (!point) return std::nullopt;
      nlohmann::json params = space_.to_parameters(*point);
      if (history_.insert(canonical(params)).second) return params;
    }
  }

  void receive_trial_result(std::int64_t /*parameter_id*/, const nlohmann::json& parameters,
                            double /*value*/) override {
    // Results do not steer a grid; parameters from elsewhere are not generated again.
    history_.insert(canonical(space_.to_parameters(space_.from_parameters(parameters))));
  }

 private:
  SearchSpace space_;
  GridWalker walker_;
  std::optional<OptimizeMode> mode_;
  std::set<std::string> history_;
};

}  // namespace

namespace {

const std::vector<std::string> kGridSearchArgs{"optimize_mode"};

std::unique_ptr<Tuner> make_grid_search(const nlohmann::json& args, const SearchSpace& space,
                                        std::uint64_t /*seed*/) {
  // NNI's GridSearch has no arguments; optimize_mode is accepted like elsewhere: it does not
  // steer the grid, but the runner ranks the trials by it.
  const ClassArgs a("tuner", "GridSearch", args, kGridSearchArgs);
  std::optional<OptimizeMode> mode;
  if (a.has("optimize_mode")) mode = a.optimize_mode(OptimizeMode::kMaximize);
  if (space.dimensions().empty()) throw ParamError("tuner GridSearch: the search space is empty");
  return std::make_unique<GridSearchTuner>(space, mode);
}

}  // namespace

TunerEntry grid_search_entry() {
  return {"GridSearch", "NNI's grid search: every point of a finite grid, numbers by halving",
          kGridSearchArgs, make_grid_search};
}

}  // namespace nnilib::tuner_detail
