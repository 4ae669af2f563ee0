#include "nnilib/deploy/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "nnilib/common/error.h"
#include "nnilib/common/file_io.h"
#include "nnilib/model/block_kind.h"

namespace nnilib {
namespace {

// LibTorch's BatchNorm2d default.
constexpr float kBatchNormEpsilon = 1e-5f;
// LibTorch's leaky_relu slope, as model.cpp uses it.
constexpr float kLeakySlope = 0.01f;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void set_ints(onnx::NodeProto* node, const char* name, const std::vector<int64_t>& values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* node, const char* name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto* node, const char* name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

// Builds the graph node by node: weights become initializers (taken from `weights` by
// their model.pt names, each checked for shape and used once), values get unique names.
class GraphBuilder {
 public:
  GraphBuilder(onnx::GraphProto* graph, const ModelWeights& weights)
      : graph_(graph), weights_(weights) {}

  // An initializer from the weight `name`, which must have `shape`.
  std::string weight(const std::string& name, const std::vector<int64_t>& shape) {
    const auto it = weights_.find(name);
    if (it == weights_.end())
      throw ParamError("weight " + name + " " + shape_text(shape) +
                       " is missing: the weights are not those of this architecture");
    const WeightTensor& w = it->second;
    int64_t count = 1;
    for (int64_t d : w.shape) count *= d;
    if (w.shape != shape || count != static_cast<int64_t>(w.values.size()))
      throw ParamError("weight " + name + " has shape " + shape_text(w.shape) + " (" +
                       std::to_string(w.values.size()) + " values); this architecture needs " +
                       shape_text(shape));
    used_.insert(name);
    return initializer(name, w.shape, w.values);
  }

  // A constant [1, C, 1, 1] or a scalar.
  std::string constant(const std::string& name, const std::vector<int64_t>& shape,
                       const std::vector<float>& values) {
    return initializer(name, shape, values);
  }

  // Adds a node; returns its (single) output's name.
  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::string& output_hint) {
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(fresh(output_hint + "/" + op));
    for (const std::string& in : inputs) n->add_input(in);
    n->add_output(fresh(output_hint));
    return n;
  }

  static const std::string& out(const onnx::NodeProto* n) { return n->output(0); }

  // The first weight given that the graph did not use (weights of another architecture).
  void check_all_used() const {
    for (const auto& [name, w] : weights_)
      if (used_.count(name) == 0)
        throw ParamError("weight " + name + " " + shape_text(w.shape) +
                         " is not part of this architecture");
  }

 private:
  std::string initializer(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<float>& values) {
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : shape) t->add_dims(d);
    // raw_data is little-endian, as floats are on every machine LibTorch runs on.
    static_assert(sizeof(float) == 4, "float32");
    t->set_raw_data(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    names_.insert(name);
    return name;
  }

  std::string fresh(const std::string& hint) {
    std::string name = hint;
    for (int i = 1; !names_.insert(name).second; ++i) name = hint + "_" + std::to_string(i);
    return name;
  }

  onnx::GraphProto* graph_;
  const ModelWeights& weights_;
  std::set<std::string> used_;
  std::set<std::string> names_;
};

// Writes the network of model.cpp, node for node.
class CnnGraph {
 public:
  CnnGraph(GraphBuilder& g, const ModelSpec& spec) : g_(g), spec_(spec) {}

  std::string normalize(std::string x, const OnnxExportOptions& o) {
    const int c = spec_.in_channels;
    x = GraphBuilder::out(
        g_.node("Sub", {x, g_.constant("input_mean", {1, c, 1, 1}, o.mean)}, "normalized"));
    // (x - mean) / std as LibTorch computes it (normalize_images divides).
    return GraphBuilder::out(
        g_.node("Div", {x, g_.constant("input_std", {1, c, 1, 1}, o.std)}, "normalized"));
  }

  std::string block(std::string x, int index, const ConvBlockSpec& b, int in_channels) {
    const std::string prefix = "blocks." + std::to_string(index) + ".";
    const BlockLayout layout = layout_of(b, in_channels);
    std::string y = x;
    for (std::size_t u = 0; u < layout.chain.size(); ++u) {
      y = unit(y, prefix, layout.chain[u], b.batch_norm);
      if (u + 1 < layout.chain.size()) y = activate(y, b.activation, prefix + layout.chain[u].name);
    }
    if (layout.skip) {
      const std::string s = layout.shortcut ? unit(x, prefix, *layout.shortcut, b.batch_norm) : x;
      y = GraphBuilder::out(g_.node("Add", {y, s}, prefix + "sum"));
    }
    if (layout.activation_after) y = activate(y, b.activation, prefix + "out");
    return pool(y, b, prefix);
  }

  std::string head(std::string x, const FeatureShape& last) {
    int64_t features = 0;
    if (spec_.head == Head::kGlobalAvg) {
      x = GraphBuilder::out(g_.node("GlobalAveragePool", {x}, "head"));
      features = last.channels;
    } else {
      // model.cpp flattens in (height, width, channel) order.
      onnx::NodeProto* t = g_.node("Transpose", {x}, "head");
      set_ints(t, "perm", {0, 2, 3, 1});
      x = GraphBuilder::out(t);
      features = int64_t{last.channels} * last.height * last.width;
    }
    onnx::NodeProto* f = g_.node("Flatten", {x}, "features");
    set_int(f, "axis", 1);
    x = GraphBuilder::out(f);
    if (spec_.hidden_units > 0) {
      x = linear(x, "hidden", features, spec_.hidden_units);
      x = activate(x, spec_.hidden_activation, "hidden");
      features = spec_.hidden_units;
    }
    return linear(x, "output", features, spec_.num_classes);  // dropout: identity here
  }

 private:
  // A ConvUnit: [depthwise k x k] conv [batch norm], with model.cpp's module names.
  std::string unit(std::string x, const std::string& prefix, const BlockUnit& u, bool batch_norm) {
    const std::string name = prefix + u.name;
    const int64_t k = u.kernel_size;
    if (u.separable) {
      x = conv(x, name + ".depthwise", u.in_channels, u.in_channels, k, u.padding, u.in_channels,
               /*bias=*/false);
      x = conv(x, name + ".pointwise", u.in_channels, u.out_channels, 1, 0, 1, !batch_norm);
    } else {
      x = conv(x, name + ".conv", u.in_channels, u.out_channels, k, u.padding, u.groups,
               !batch_norm);
    }
    if (!batch_norm) return x;
    const std::vector<int64_t> c = {u.out_channels};
    onnx::NodeProto* n = g_.node(
        "BatchNormalization",
        {x, g_.weight(name + ".norm.weight", c), g_.weight(name + ".norm.bias", c),
         g_.weight(name + ".norm.running_mean", c), g_.weight(name + ".norm.running_var", c)},
        name + ".norm");
    set_float(n, "epsilon", kBatchNormEpsilon);
    return GraphBuilder::out(n);
  }

  std::string conv(const std::string& x, const std::string& name, int64_t in, int64_t out,
                   int64_t k, int64_t padding, int64_t groups, bool bias) {
    std::vector<std::string> inputs = {x, g_.weight(name + ".weight", {out, in / groups, k, k})};
    if (bias) inputs.push_back(g_.weight(name + ".bias", {out}));
    onnx::NodeProto* n = g_.node("Conv", inputs, name);
    set_ints(n, "kernel_shape", {k, k});
    set_ints(n, "pads", {padding, padding, padding, padding});
    set_ints(n, "strides", {1, 1});
    set_int(n, "group", groups);
    return GraphBuilder::out(n);
  }

  std::string linear(const std::string& x, const std::string& name, int64_t in, int64_t out) {
    onnx::NodeProto* n = g_.node(
        "Gemm", {x, g_.weight(name + ".weight", {out, in}), g_.weight(name + ".bias", {out})},
        name);
    set_int(n, "transB", 1);
    return GraphBuilder::out(n);
  }

  std::string activate(const std::string& x, Activation a, const std::string& hint) {
    const std::string name = hint + "." + to_string(a);
    switch (a) {
      case Activation::kRelu:
        return GraphBuilder::out(g_.node("Relu", {x}, name));
      case Activation::kLeakyRelu: {
        onnx::NodeProto* n = g_.node("LeakyRelu", {x}, name);
        set_float(n, "alpha", kLeakySlope);
        return GraphBuilder::out(n);
      }
      case Activation::kSilu: {  // x * sigmoid(x)
        const std::string s = GraphBuilder::out(g_.node("Sigmoid", {x}, name));
        return GraphBuilder::out(g_.node("Mul", {x, s}, name));
      }
      case Activation::kGelu: {  // exact GELU, as LibTorch's default: x/2 (1 + erf(x / sqrt 2))
        // (The Gelu operator needs opset 20.)
        std::string v =
            GraphBuilder::out(g_.node("Div", {x, scalar("sqrt2", std::sqrt(2.0f))}, name));
        v = GraphBuilder::out(g_.node("Erf", {v}, name));
        v = GraphBuilder::out(g_.node("Add", {v, scalar("one", 1.0f)}, name));
        v = GraphBuilder::out(g_.node("Mul", {x, v}, name));
        return GraphBuilder::out(g_.node("Mul", {v, scalar("half", 0.5f)}, name));
      }
    }
    throw std::logic_error("unknown activation");
  }

  std::string pool(const std::string& x, const ConvBlockSpec& b, const std::string& prefix) {
    if (b.pool == Pool::kNone) return x;
    onnx::NodeProto* n =
        g_.node(b.pool == Pool::kMax ? "MaxPool" : "AveragePool", {x}, prefix + "pool");
    set_ints(n, "kernel_shape", {b.pool_size, b.pool_size});
    set_ints(n, "strides", {b.pool_size, b.pool_size});  // LibTorch: stride = kernel
    return GraphBuilder::out(n);
  }

  std::string scalar(const std::string& name, float value) {
    if (scalars_.insert(name).second) g_.constant(name, {}, {value});
    return name;
  }

  GraphBuilder& g_;
  const ModelSpec& spec_;
  std::set<std::string> scalars_;
};

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name,
                     const std::vector<int64_t>& dims) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("batch");
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}

void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* p = m.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

std::string floats_text(const std::vector<float>& v) {
  std::ostringstream s;
  s.precision(9);
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

void check_options(const ModelSpec& spec, const OnnxExportOptions& o) {
  const auto per_channel = [&](const std::vector<float>& v, const char* what) {
    if (static_cast<int>(v.size()) != spec.in_channels)
      throw ParamError(std::string("ONNX export: ") + what + " has " + std::to_string(v.size()) +
                       " values; the model's input has " + std::to_string(spec.in_channels) +
                       " channels");
  };
  per_channel(o.mean, "the input mean");
  per_channel(o.std, "the input standard deviation");
  for (float s : o.std)
    if (!(s > 0) || !std::isfinite(s))
      throw ParamError("ONNX export: a standard deviation of " + std::to_string(s) +
                       " (must be positive)");
  if (!o.class_names.empty() && static_cast<int>(o.class_names.size()) != spec.num_classes)
    throw ParamError("ONNX export: " + std::to_string(o.class_names.size()) + " class names for " +
                     std::to_string(spec.num_classes) + " classes");
}

}  // namespace

std::string onnx_model_bytes(const ModelSpec& spec, const ModelWeights& weights,
                             const OnnxExportOptions& options) {
  const CostEstimate cost = estimate_cost(spec);  // validates the spec (ParamError)
  check_options(spec, options);

  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.set_producer_name("nnilib");
  m.set_producer_version(options.producer_version);
  m.set_doc_string(describe(spec));
  onnx::OperatorSetIdProto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = m.mutable_graph();
  graph->set_name("nnilib_cnn");

  set_tensor_type(graph->add_input(), kOnnxInputName,
                  {spec.in_channels, spec.in_height, spec.in_width});
  graph->mutable_input(0)->set_doc_string(
      "pixels scaled to [0, 1] (bytes / 255); the graph normalizes them with the metadata's "
      "mean and std");
  set_tensor_type(graph->add_output(), kOnnxOutputName, {spec.num_classes});
  graph->mutable_output(0)->set_doc_string("unnormalized class scores (softmax: probabilities)");

  GraphBuilder g(graph, weights);
  CnnGraph cnn(g, spec);
  std::string x = cnn.normalize(kOnnxInputName, options);
  int in_channels = spec.in_channels;
  for (std::size_t i = 0; i < spec.blocks.size(); ++i) {
    x = cnn.block(x, static_cast<int>(i), spec.blocks[i], in_channels);
    in_channels = spec.blocks[i].out_channels;
  }
  const FeatureShape last = cost.shapes.empty()
                                ? FeatureShape{spec.in_channels, spec.in_height, spec.in_width}
                                : cost.shapes.back();
  x = cnn.head(x, last);
  // The last node writes the graph's output.
  graph->mutable_node(graph->node_size() - 1)->set_output(0, kOnnxOutputName);
  g.check_all_used();

  add_metadata(m, "architecture", describe(spec));
  add_metadata(m, "input",
               "float32 [batch, " + std::to_string(spec.in_channels) + ", " +
                   std::to_string(spec.in_height) + ", " + std::to_string(spec.in_width) +
                   "]: pixels scaled to [0, 1] (bytes / 255)");
  add_metadata(m, "normalization", "(input - mean) / std per channel, inside the graph");
  add_metadata(m, "mean", floats_text(options.mean));
  add_metadata(m, "std", floats_text(options.std));
  add_metadata(m, "classes", std::to_string(spec.num_classes));
  std::string names;
  for (const std::string& n : options.class_names) names += (names.empty() ? "" : "\n") + n;
  if (!names.empty()) add_metadata(m, "class_names", names);
  for (const auto& [key, value] : options.metadata) add_metadata(m, key, value);

  // Checked as any ONNX consumer would: the checker, then strict shape inference, whose
  // result must agree with the declared output [batch, classes].
  try {
    onnx::checker::check_model(m);
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(/*check_type=*/true,
                                                                   /*strict_mode=*/1));
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw std::logic_error("ONNX export of " + describe(spec) +
                           " fails ONNX's checks: " + what.substr(0, what.find('\n')));
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes))
    throw std::logic_error("ONNX export: the model cannot be serialized (over 2 GiB?)");
  return bytes;
}

void write_onnx_model(const std::string& path, const ModelSpec& spec, const ModelWeights& weights,
                      const OnnxExportOptions& options) {
  write_file_atomically(path, onnx_model_bytes(spec, weights, options), "the ONNX model");
}

}  // namespace nnilib
