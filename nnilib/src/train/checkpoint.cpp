#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"

namespace nnilib {
namespace {

constexpr const char* kFormat = "nnilib-checkpoint-1";

// The header of a checkpoint file, or ParamError naming the file.
nlohmann::json read_header(const std::string& path, const torch::Device& device,
                           torch::serialize::InputArchive& archive);

// The generator that the random ops on `device` draw from.
at::Generator generator_of(const torch::Device& device) {
  return at::globalContext().defaultGenerator(device.is_cpu() ? c10::Device(c10::kCPU) : device);
}

// The first line of an exception's message, at most 120 characters.
std::string first_line(const std::exception& e) {
  const std::string what = e.what();
  return what.substr(0, std::min<std::size_t>(what.find('\n'), 120));
}

std::string short_json(const nlohmann::json& j) {
  std::string s = j.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// The first key whose value differs between two identities ("" when equal).
std::string first_difference(const nlohmann::json& want, const nlohmann::json& got) {
  for (auto it = want.begin(); it != want.end(); ++it) {
    if (!got.contains(it.key())) return it.key() + " (missing)";
    if (got[it.key()] != it.value()) {
      if (it.value().is_object() && got[it.key()].is_object()) {
        const std::string inner = first_difference(it.value(), got[it.key()]);
        if (!inner.empty()) return it.key() + "." + inner;
      }
      return it.key() + ": " + short_json(got[it.key()]) + " in the checkpoint, " +
             short_json(it.value()) + " now";
    }
  }
  for (auto it = got.begin(); it != got.end(); ++it)
    if (!want.contains(it.key())) return it.key() + " (only in the checkpoint)";
  return "";
}

}  // namespace

void save_checkpoint(const std::string& path, const CheckpointMeta& meta, Cnn& model,
                     torch::optim::Optimizer& optimizer, const torch::Device& device,
                     const std::vector<torch::Tensor>* average) {
  torch::serialize::OutputArchive archive;
  const nlohmann::json header = {{"format", kFormat},   {"identity", meta.identity},
                                 {"epoch", meta.epoch}, {"step", meta.step},
                                 {"curve", meta.curve}, {"position", meta.position},
                                 {"seen", meta.seen}};
  archive.write("meta", c10::IValue(header.dump()));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("model", weights);
  torch::serialize::OutputArchive state;
  optimizer.save(state);
  archive.write("optimizer", state);
  if (average != nullptr) {
    torch::serialize::OutputArchive averaged;
    for (std::size_t i = 0; i < average->size(); ++i)
      averaged.write(std::to_string(i), (*average)[i], /*is_buffer=*/true);
    archive.write("weight_average", averaged);
  }
  if (meta.position > 0) {
    archive.write("epoch_perm", meta.perm.to(torch::kCPU));
    archive.write("epoch_loss_sum", meta.loss_sum.to(torch::kCPU));
    archive.write("epoch_correct", meta.correct.to(torch::kCPU));
  }
  archive.write("rng_cpu", generator_of(torch::kCPU).get_state());
  if (!device.is_cpu()) archive.write("rng_device", generator_of(device).get_state());
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(path, bytes.str(), "the checkpoint");
}

namespace {

nlohmann::json read_header(const std::string& path, const torch::Device& device,
                           torch::serialize::InputArchive& archive) {
  const std::string where = path + ": ";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ParamError(where + "no such checkpoint file");
  nlohmann::json header;
  try {
    archive.load_from(path, device);
    c10::IValue text;
    archive.read("meta", text);
    header = parse_bounded_json(text.toStringRef());
  } catch (const std::exception& e) {
    throw ParamError(where + "not a readable fmnist-trial checkpoint (" + first_line(e) + ")");
  }
  if (!header.is_object() || header.value("format", "") != kFormat)
    throw ParamError(where + "not an fmnist-trial checkpoint (format " +
                     short_json(header.value("format", nlohmann::json())) + ", expected " +
                     kFormat + ")");
  if (!header.contains("identity") || !header["identity"].is_object())
    throw ParamError(where + "not an fmnist-trial checkpoint (no identity)");
  return header;
}

}  // namespace

std::optional<std::string> checkpoint_precision(const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    const nlohmann::json header = read_header(path, torch::kCPU, archive);
    const auto it = header["identity"].find("precision");
    if (it != header["identity"].end() && it->is_string()) return it->get<std::string>();
  } catch (const ParamError&) {
  }
  return std::nullopt;
}

CheckpointMeta load_checkpoint(const std::string& path, const nlohmann::json& identity, Cnn& model,
                               torch::optim::Optimizer& optimizer, const torch::Device& device,
                               std::vector<torch::Tensor>* average) {
  const std::string where = path + ": ";
  torch::serialize::InputArchive archive;
  const nlohmann::json header = read_header(path, device, archive);
  // Checkpoints written before the precision was part of a run's identity continue in
  // whatever precision this run chose.
  nlohmann::json want = identity;
  if (!header["identity"].contains("precision")) want.erase("precision");
  const std::string differs = first_difference(want, header["identity"]);
  if (!differs.empty())
    throw ParamError(where + "made for another run, cannot continue it: " + differs);
  CheckpointMeta meta;
  meta.identity = header["identity"];
  meta.epoch = header.value("epoch", 0);
  meta.step = header.value("step", int64_t{0});
  meta.curve = header.value("curve", nlohmann::json::array());
  meta.position = header.value("position", int64_t{0});
  meta.seen = header.value("seen", int64_t{0});
  if (!meta.curve.is_array() || meta.epoch < 0 || meta.step < 0 || meta.position < 0 ||
      meta.seen < 0)
    throw ParamError(where + "corrupt checkpoint (negative counts or no curve)");
  try {
    if (meta.position > 0) {
      archive.read("epoch_perm", meta.perm);
      archive.read("epoch_loss_sum", meta.loss_sum);
      archive.read("epoch_correct", meta.correct);
    }
    torch::serialize::InputArchive weights;
    archive.read("model", weights);
    model->load(weights);
    torch::serialize::InputArchive state;
    archive.read("optimizer", state);
    optimizer.load(state);
    if (average != nullptr) {
      torch::serialize::InputArchive averaged;
      archive.read("weight_average", averaged);
      for (std::size_t i = 0; i < average->size(); ++i) {
        torch::Tensor t;
        averaged.read(std::to_string(i), t, /*is_buffer=*/true);
        if (!t.sizes().equals((*average)[i].sizes()))
          throw std::runtime_error("averaged weight " + std::to_string(i) + " has another shape");
        torch::NoGradGuard no_grad;
        (*average)[i].copy_(t);
      }
    }
    torch::Tensor rng;
    archive.read("rng_cpu", rng);
    generator_of(torch::kCPU).set_state(rng.to(torch::kCPU));
    if (!device.is_cpu()) {
      archive.read("rng_device", rng);
      generator_of(device).set_state(rng.to(torch::kCPU));
    }
  } catch (const std::exception& e) {
    throw ParamError(where + "corrupt checkpoint (" + first_line(e) + ")");
  }
  return meta;
}

}  // namespace nnilib
