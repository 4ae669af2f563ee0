#include "nnilib/runner/experiment_store.h"

#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <utility>

#include "nnilib/common/error.h"
#include "nnilib/common/json_limits.h"

namespace nnilib {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;

// The schema (documented in docs/runner.md "Database").
constexpr const char* kSchema = R"sql(
CREATE TABLE experiment (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  config      TEXT NOT NULL,            -- ExperimentConfig as JSON (paths resolved)
  seed        INTEGER NOT NULL,
  status      TEXT NOT NULL,            -- RUNNING, DONE, STOPPED, ERROR
  end_reason  TEXT NOT NULL DEFAULT '',
  created_at  REAL NOT NULL,            -- Unix time, seconds
  updated_at  REAL NOT NULL,
  elapsed_s   REAL NOT NULL DEFAULT 0,  -- over every session
  sessions    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE trials (
  trial_id           TEXT PRIMARY KEY,
  sequence           INTEGER NOT NULL UNIQUE,
  parameter_id       TEXT NOT NULL,     -- JSON, as sent in the parameter record
  parameters         TEXT NOT NULL,     -- JSON object, NNI's shape
  status             TEXT NOT NULL,     -- WAITING RUNNING SUCCEEDED FAILED USER_CANCELED EARLY_STOPPED
  attempt            INTEGER NOT NULL DEFAULT 1,
  created_at         REAL NOT NULL,
  started_at         REAL,
  ended_at           REAL,
  pid                INTEGER,
  parameter_sent     INTEGER NOT NULL DEFAULT 0,
  exit_code          INTEGER,
  signal             INTEGER,
  reason             TEXT NOT NULL DEFAULT '',
  interrupted        INTEGER NOT NULL DEFAULT 0,
  final_value        TEXT,              -- JSON
  final_default      REAL,
  intermediate_count INTEGER NOT NULL DEFAULT 0,
  latest_default     REAL
);
CREATE TABLE metrics (
  trial_id      TEXT NOT NULL REFERENCES trials(trial_id),
  type          TEXT NOT NULL,          -- PERIODICAL or FINAL
  sequence      INTEGER NOT NULL,
  value         TEXT NOT NULL,          -- JSON: a number or an object with "default"
  default_value REAL NOT NULL,
  received_at   REAL NOT NULL,
  PRIMARY KEY (trial_id, type, sequence)
);
)sql";

// The dashboard's requests to the runner (ExperimentStore::request_control). Also
// added to a database made before the table existed when a runner opens it: schema
// version 1 either way, older readers ignore the table.
constexpr const char* kControlSchema = R"sql(
CREATE TABLE IF NOT EXISTS control (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  action       TEXT NOT NULL,               -- cancel, stop, limits
  target       TEXT NOT NULL DEFAULT '',    -- cancel: the trial id
  value        TEXT NOT NULL DEFAULT 'null',-- limits: a JSON object
  requested_at REAL NOT NULL,
  applied_at   REAL,                        -- null until the runner handled it
  result       TEXT NOT NULL DEFAULT ''     -- what it did, or why not (one line)
);
)sql";

// A prepared statement with positional binding.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Statement& bind(int i, double v) {
    check(sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Statement& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v ? 1 : 0)); }
  template <class T>
  Statement& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    check(sqlite3_bind_null(stmt_, i));
    return *this;
  }

  /// Steps once; true while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("step");
  }
  void run() {
    while (step()) {
    }
  }

  bool null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const unsigned char* p = sqlite3_column_text(stmt_, c);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p));
  }
  double real(int c) const { return sqlite3_column_double(stmt_, c); }
  std::int64_t integer(int c) const { return sqlite3_column_int64(stmt_, c); }
  std::optional<double> opt_real(int c) const {
    return null(c) ? std::nullopt : std::optional<double>(real(c));
  }
  std::optional<std::int64_t> opt_integer(int c) const {
    return null(c) ? std::nullopt : std::optional<std::int64_t>(integer(c));
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail("bind");
  }
  [[noreturn]] void fail(const char* what) {
    throw IoError(path_ + ": database " + what + " failed: " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  const std::string& path_;
};

json parse_stored(const std::string& text, const std::string& path, const char* what) {
  json j = parse_bounded_json(text);
  if (j.is_discarded()) throw IoError(path + ": corrupt " + std::string(what) + " in the database");
  return j;
}

constexpr const char* kTrialColumns =
    "trial_id, sequence, parameter_id, parameters, status, attempt, created_at, started_at, "
    "ended_at, pid, parameter_sent, exit_code, signal, reason, interrupted, final_value, "
    "final_default, intermediate_count, latest_default";

TrialRecord read_trial(const Statement& s, const std::string& path) {
  TrialRecord t;
  t.trial_id = s.text(0);
  t.sequence = s.integer(1);
  t.parameter_id = parse_stored(s.text(2), path, "parameter_id");
  t.parameters = parse_stored(s.text(3), path, "parameters");
  t.status = s.text(4);
  t.attempt = static_cast<int>(s.integer(5));
  t.created_at = s.opt_real(6);
  t.started_at = s.opt_real(7);
  t.ended_at = s.opt_real(8);
  t.pid = s.opt_integer(9);
  t.parameter_sent = s.integer(10) != 0;
  if (auto v = s.opt_integer(11)) t.exit_code = static_cast<int>(*v);
  if (auto v = s.opt_integer(12)) t.signal = static_cast<int>(*v);
  t.reason = s.text(13);
  t.interrupted = s.integer(14) != 0;
  if (!s.null(15)) t.final_value = parse_stored(s.text(15), path, "final_value");
  t.final_default = s.opt_real(16);
  t.intermediate_count = static_cast<int>(s.integer(17));
  t.latest_default = s.opt_real(18);
  return t;
}

// A transaction: committed by commit(), rolled back when left by an exception.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path) : db_(db), path_(path) {
    // IMMEDIATE: take the write lock now, so a reader never forces a retry midway.
    run("BEGIN IMMEDIATE");
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    run("COMMIT");
    done_ = true;
  }

 private:
  void run(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string message = err != nullptr ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw IoError(path_ + ": database " + sql + " failed: " + message);
    }
  }
  sqlite3* db_;
  const std::string& path_;
  bool done_ = false;
};

}  // namespace

double default_of(const json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_object() && value.contains("default") && value["default"].is_number())
    return value["default"].get<double>();
  return 0;
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double TrialRecord::duration(double now) const {
  if (!started_at) return 0;
  const double end = ended_at ? *ended_at : now;
  return end > *started_at ? end - *started_at : 0;
}

ExperimentStore::ExperimentStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

ExperimentStore::ExperimentStore(ExperimentStore&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

ExperimentStore& ExperimentStore::operator=(ExperimentStore&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

ExperimentStore::~ExperimentStore() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void ExperimentStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string message = err != nullptr ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw IoError(path_ + ": database error: " + message);
  }
}

void ExperimentStore::fail(const std::string& what) const {
  throw IoError(path_ + ": " + what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "?"));
}

namespace {

sqlite3* open_db(const std::string& path, int flags) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    throw IoError(path + ": cannot open the experiment database: " + message);
  }
  // A reader and the runner wait for each other's short transactions.
  sqlite3_busy_timeout(db, 10000);
  return db;
}

}  // namespace

ExperimentStore ExperimentStore::create(const std::string& path,
                                        const ExperimentRecord& experiment) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec))
    throw UsageError(path + ": already exists; not overwriting an experiment database");
  ExperimentStore store(open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), path);
  // WAL: readers (show, export) never block the runner; NORMAL sync: a commit
  // survives a crash or kill -9 of the runner (only a power loss may lose the last ones).
  store.exec("PRAGMA journal_mode=WAL");
  store.exec("PRAGMA synchronous=NORMAL");
  Transaction tx(store.db_, store.path_);
  store.exec(kSchema);
  store.exec(kControlSchema);
  store.exec("PRAGMA user_version=" + std::to_string(kSchemaVersion));
  Statement s(store.db_,
              "INSERT INTO experiment (id, name, config, seed, status, end_reason, created_at, "
              "updated_at, elapsed_s, sessions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              store.path_);
  s.bind(1, experiment.id)
      .bind(2, experiment.name)
      .bind(3, experiment.config.dump())
      .bind(4, static_cast<std::int64_t>(experiment.seed))
      .bind(5, experiment.status)
      .bind(6, experiment.end_reason)
      .bind(7, experiment.created_at)
      .bind(8, experiment.updated_at)
      .bind(9, experiment.elapsed_s)
      .bind(10, experiment.sessions)
      .run();
  tx.commit();
  return store;
}

ExperimentStore ExperimentStore::open(const std::string& path, bool read_only) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw UsageError(path + ": no experiment database here");
  sqlite3* db = nullptr;
  if (read_only) {
    // Read-write handle used read-only: it can join the WAL of a running runner
    // (a pure read-only handle cannot create the shared-memory file). Fall back
    // to a true read-only open for a read-only copy.
    try {
      db = open_db(path, SQLITE_OPEN_READWRITE);
    } catch (const IoError&) {
      db = open_db(path, SQLITE_OPEN_READONLY);
    }
  } else {
    db = open_db(path, SQLITE_OPEN_READWRITE);
  }
  ExperimentStore store(db, path);
  if (read_only) store.exec("PRAGMA query_only=1");
  std::int64_t version = 0;
  try {
    Statement s(db, "PRAGMA user_version", store.path_);
    if (s.step()) version = s.integer(0);
  } catch (const IoError&) {
    throw UsageError(path + ": not an experiment database (not SQLite, or corrupt)");
  }
  if (version == 0) throw UsageError(path + ": not an experiment database of fmnist-nas");
  if (version > kSchemaVersion)
    throw UsageError(path + ": written by a newer fmnist-nas (schema " + std::to_string(version) +
                     ", this one reads " + std::to_string(kSchemaVersion) + ")");
  if (!read_only) {
    store.exec("PRAGMA synchronous=NORMAL");
    store.exec(kControlSchema);
  }
  return store;
}

ExperimentRecord ExperimentStore::experiment() const {
  Statement s(db_,
              "SELECT id, name, config, seed, status, end_reason, created_at, updated_at, "
              "elapsed_s, sessions FROM experiment LIMIT 1",
              path_);
  if (!s.step()) throw IoError(path_ + ": the database holds no experiment");
  ExperimentRecord e;
  e.id = s.text(0);
  e.name = s.text(1);
  const std::string config = s.text(2);
  e.config = parse_bounded_json<nlohmann::ordered_json>(config);
  if (e.config.is_discarded()) throw IoError(path_ + ": corrupt config in the database");
  e.seed = static_cast<std::uint64_t>(s.integer(3));
  e.status = s.text(4);
  e.end_reason = s.text(5);
  e.created_at = s.real(6);
  e.updated_at = s.real(7);
  e.elapsed_s = s.real(8);
  e.sessions = static_cast<int>(s.integer(9));
  return e;
}

std::vector<TrialRecord> ExperimentStore::trials() const {
  // One read transaction: trials and their histories from the same snapshot.
  exec("BEGIN");
  std::vector<TrialRecord> out;
  try {
    Statement s(db_,
                (std::string("SELECT ") + kTrialColumns + " FROM trials ORDER BY sequence").c_str(),
                path_);
    while (s.step()) out.push_back(read_trial(s, path_));
    Statement m(db_,
                "SELECT t.sequence, m.default_value FROM metrics m JOIN trials t USING (trial_id) "
                "WHERE m.type = 'PERIODICAL' ORDER BY t.sequence, m.sequence",
                path_);
    std::size_t i = 0;
    while (m.step()) {
      const std::int64_t seq = m.integer(0);
      while (i < out.size() && out[i].sequence < seq) ++i;
      if (i < out.size() && out[i].sequence == seq) out[i].history.push_back(m.real(1));
    }
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  exec("COMMIT");
  return out;
}

std::optional<TrialRecord> ExperimentStore::trial(const std::string& trial_id) const {
  Statement s(db_,
              (std::string("SELECT ") + kTrialColumns + " FROM trials WHERE trial_id = ?").c_str(),
              path_);
  s.bind(1, trial_id);
  if (!s.step()) return std::nullopt;
  TrialRecord t = read_trial(s, path_);
  Statement m(db_,
              "SELECT default_value FROM metrics WHERE trial_id = ? AND type = 'PERIODICAL' "
              "ORDER BY sequence",
              path_);
  m.bind(1, trial_id);
  while (m.step()) t.history.push_back(m.real(0));
  return t;
}

std::vector<MetricRecord> ExperimentStore::metrics(const std::string& trial_id) const {
  const char* sql =
      trial_id.empty()
          ? "SELECT m.trial_id, m.type, m.sequence, m.value, m.default_value, m.received_at FROM "
            "metrics m JOIN trials t USING (trial_id) ORDER BY t.sequence, m.type DESC, m.sequence"
          : "SELECT trial_id, type, sequence, value, default_value, received_at FROM metrics "
            "WHERE trial_id = ? ORDER BY type DESC, sequence";
  Statement s(db_, sql, path_);
  if (!trial_id.empty()) s.bind(1, trial_id);
  std::vector<MetricRecord> out;
  while (s.step()) {
    MetricRecord m;
    m.trial_id = s.text(0);
    m.type = s.text(1) == "FINAL" ? MetricType::kFinal : MetricType::kPeriodical;
    m.sequence = static_cast<int>(s.integer(2));
    m.value = parse_stored(s.text(3), path_, "metric value");
    m.default_value = s.real(4);
    m.received_at = s.real(5);
    out.push_back(std::move(m));
  }
  return out;
}

void ExperimentStore::update_experiment(const ExperimentRecord& e) {
  Transaction tx(db_, path_);
  Statement s(db_,
              "UPDATE experiment SET status = ?, end_reason = ?, elapsed_s = ?, sessions = ?, "
              "config = ?, updated_at = ?",
              path_);
  s.bind(1, e.status)
      .bind(2, e.end_reason)
      .bind(3, e.elapsed_s)
      .bind(4, e.sessions)
      .bind(5, e.config.dump())
      .bind(6, unix_now())
      .run();
  tx.commit();
}

void ExperimentStore::set_elapsed(double elapsed_s) {
  Transaction tx(db_, path_);
  Statement s(db_, "UPDATE experiment SET elapsed_s = ?, updated_at = ?", path_);
  s.bind(1, elapsed_s).bind(2, unix_now()).run();
  tx.commit();
}

void ExperimentStore::insert_trial(const TrialRecord& t) {
  Transaction tx(db_, path_);
  Statement s(db_,
              "INSERT INTO trials (trial_id, sequence, parameter_id, parameters, status, attempt, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
              path_);
  s.bind(1, t.trial_id)
      .bind(2, t.sequence)
      .bind(3, t.parameter_id.dump())
      .bind(4, t.parameters.dump())
      .bind(5, t.status)
      .bind(6, t.attempt)
      .bind(7, t.created_at.value_or(unix_now()))
      .run();
  tx.commit();
}

void ExperimentStore::trial_started(const std::string& trial_id, std::int64_t pid, double at) {
  Transaction tx(db_, path_);
  Statement s(db_, "UPDATE trials SET status = ?, pid = ?, started_at = ? WHERE trial_id = ?",
              path_);
  s.bind(1, kRunning).bind(2, pid).bind(3, at).bind(4, trial_id).run();
  tx.commit();
}

void ExperimentStore::parameter_sent(const std::string& trial_id) {
  Transaction tx(db_, path_);
  Statement s(db_, "UPDATE trials SET parameter_sent = 1 WHERE trial_id = ?", path_);
  s.bind(1, trial_id).run();
  tx.commit();
}

void ExperimentStore::add_metric(const MetricRecord& m) {
  Transaction tx(db_, path_);
  Statement s(db_,
              "INSERT OR REPLACE INTO metrics (trial_id, type, sequence, value, default_value, "
              "received_at) VALUES (?, ?, ?, ?, ?, ?)",
              path_);
  s.bind(1, m.trial_id)
      .bind(2, to_string(m.type))
      .bind(3, m.sequence)
      .bind(4, m.value.dump())
      .bind(5, m.default_value)
      .bind(6, m.received_at)
      .run();
  if (m.type == MetricType::kFinal) {
    Statement u(db_, "UPDATE trials SET final_value = ?, final_default = ? WHERE trial_id = ?",
                path_);
    u.bind(1, m.value.dump()).bind(2, m.default_value).bind(3, m.trial_id).run();
  } else {
    Statement u(db_,
                "UPDATE trials SET intermediate_count = intermediate_count + 1, latest_default = ? "
                "WHERE trial_id = ?",
                path_);
    u.bind(1, m.default_value).bind(2, m.trial_id).run();
  }
  tx.commit();
}

void ExperimentStore::trial_ended(const TrialRecord& t) {
  Transaction tx(db_, path_);
  Statement s(db_,
              "UPDATE trials SET status = ?, ended_at = ?, exit_code = ?, signal = ?, reason = ?, "
              "interrupted = ? WHERE trial_id = ?",
              path_);
  s.bind(1, t.status)
      .bind(2, t.ended_at.value_or(unix_now()))
      .bind(3, t.exit_code)
      .bind(4, t.signal)
      .bind(5, t.reason)
      .bind(6, t.interrupted)
      .bind(7, t.trial_id)
      .run();
  tx.commit();
}

void ExperimentStore::reset_trial(const std::string& trial_id) {
  Transaction tx(db_, path_);
  Statement d(db_, "DELETE FROM metrics WHERE trial_id = ?", path_);
  d.bind(1, trial_id).run();
  Statement s(db_,
              "UPDATE trials SET status = 'WAITING', attempt = attempt + 1, started_at = NULL, "
              "ended_at = NULL, pid = NULL, parameter_sent = 0, exit_code = NULL, signal = NULL, "
              "reason = '', interrupted = 0, final_value = NULL, final_default = NULL, "
              "intermediate_count = 0, latest_default = NULL WHERE trial_id = ?",
              path_);
  s.bind(1, trial_id).run();
  tx.commit();
}

namespace {

ControlRecord read_control(const Statement& s, const std::string& path) {
  ControlRecord c;
  c.id = s.integer(0);
  c.action = s.text(1);
  c.target = s.text(2);
  c.value = parse_stored(s.text(3), path, "control value");
  c.requested_at = s.real(4);
  c.applied_at = s.opt_real(5);
  c.result = s.text(6);
  return c;
}

constexpr const char* kControlColumns =
    "id, action, target, value, requested_at, applied_at, result";

}  // namespace

std::int64_t ExperimentStore::request_control(const ControlRecord& request) {
  Transaction tx(db_, path_);
  Statement s(db_, "INSERT INTO control (action, target, value, requested_at) VALUES (?, ?, ?, ?)",
              path_);
  s.bind(1, request.action)
      .bind(2, request.target)
      .bind(3, request.value.dump())
      .bind(4, request.requested_at)
      .run();
  const std::int64_t id = sqlite3_last_insert_rowid(db_);
  tx.commit();
  return id;
}

std::vector<ControlRecord> ExperimentStore::pending_controls() const {
  std::vector<ControlRecord> out;
  Statement s(db_,
              (std::string("SELECT ") + kControlColumns +
               " FROM control WHERE applied_at IS NULL ORDER BY id")
                  .c_str(),
              path_);
  while (s.step()) out.push_back(read_control(s, path_));
  return out;
}

void ExperimentStore::control_handled(std::int64_t id, double at, const std::string& result) {
  Transaction tx(db_, path_);
  Statement s(db_, "UPDATE control SET applied_at = ?, result = ? WHERE id = ?", path_);
  s.bind(1, at).bind(2, result).bind(3, id).run();
  tx.commit();
}

std::vector<ControlRecord> ExperimentStore::controls() const {
  std::vector<ControlRecord> out;
  {
    Statement exists(db_, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'control'",
                     path_);
    if (!exists.step()) return out;
  }
  Statement s(db_, (std::string("SELECT ") + kControlColumns + " FROM control ORDER BY id").c_str(),
              path_);
  while (s.step()) out.push_back(read_control(s, path_));
  return out;
}

}  // namespace nnilib
