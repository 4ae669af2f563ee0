#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/common/json_limits.h"

namespace nnilib {
namespace {

constexpr const char* kFormat = "nnilib-checkpoint-1";

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
                     torch::optim::Optimizer& optimizer, const torch::Device& device) {
  torch::serialize::OutputArchive archive;
  const nlohmann::json header = {{"format", kFormat},
                                 {"identity", meta.identity},
                                 {"epoch", meta.epoch},
                                 {"step", meta.step},
                                 {"curve", meta.curve}};
  archive.write("meta", c10::IValue(header.dump()));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("model", weights);
  torch::serialize::OutputArchive state;
  optimizer.save(state);
  archive.write("optimizer", state);
  archive.write("rng_cpu", generator_of(torch::kCPU).get_state());
  if (!device.is_cpu()) archive.write("rng_device", generator_of(device).get_state());
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomically(path, bytes.str(), "the checkpoint");
}

CheckpointMeta load_checkpoint(const std::string& path, const nlohmann::json& identity, Cnn& model,
                               torch::optim::Optimizer& optimizer, const torch::Device& device) {
  const std::string where = path + ": ";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ParamError(where + "no such checkpoint file");
  nlohmann::json header;
  torch::serialize::InputArchive archive;
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
  const std::string differs = first_difference(identity, header["identity"]);
  if (!differs.empty())
    throw ParamError(where + "made for another run, cannot continue it: " + differs);
  CheckpointMeta meta;
  meta.identity = header["identity"];
  meta.epoch = header.value("epoch", 0);
  meta.step = header.value("step", int64_t{0});
  meta.curve = header.value("curve", nlohmann::json::array());
  try {
    torch::serialize::InputArchive weights;
    archive.read("model", weights);
    model->load(weights);
    torch::serialize::InputArchive state;
    archive.read("optimizer", state);
    optimizer.load(state);
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
