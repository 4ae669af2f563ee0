#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (run it again after changing it
or the repository files it copies). Seeds are small valid inputs; the fuzzer mutates
them, scripts/fuzz.sh works on a copy under build-fuzz/corpus/."""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def copy(target, name, path):
    with open(os.path.join(ROOT, path), "rb") as f:
        out(target, name, f.read())


for t in ("fuzz_space", "fuzz_params", "fuzz_config", "fuzz_metric", "fuzz_idx"):
    shutil.rmtree(os.path.join(HERE, "corpus", t), ignore_errors=True)

# fuzz_space: the repository's spaces, every type, a nested choice, a duplicate key.
copy("fuzz_space", "search_space.json", "search_space.json")
copy("fuzz_space", "seed_space.json", "examples/seed/search_space.json")
out("fuzz_space", "all_types.json", json.dumps({
    "c": {"_type": "choice", "_value": [1, "a", True, 2.5]},
    "r": {"_type": "randint", "_value": [0, 10]},
    "u": {"_type": "uniform", "_value": [-1, 1]},
    "qu": {"_type": "quniform", "_value": [0, 1, 0.25]},
    "lu": {"_type": "loguniform", "_value": [1e-4, 1e-1]},
    "qlu": {"_type": "qloguniform", "_value": [1, 100, 5]},
    "n": {"_type": "normal", "_value": [0, 1]},
    "qn": {"_type": "qnormal", "_value": [0, 1, 0.5]},
    "ln": {"_type": "lognormal", "_value": [0, 1]},
    "qln": {"_type": "qlognormal", "_value": [0, 1, 0.5]}}))
out("fuzz_space", "nested.json", json.dumps({
    "block": {"_type": "choice", "_value": [
        {"_name": "a", "inner": {"_type": "choice", "_value": [
            {"_name": "x", "k": {"_type": "randint", "_value": [1, 4]}},
            {"_name": "y"}]}},
        {"_name": "b", "lr": {"_type": "qloguniform", "_value": [0.001, 1, 0.001]}}]}}))
out("fuzz_space", "duplicate.json", '{"a": {"_type": "choice", "_value": [1]}, "a": 2}')
out("fuzz_space", "empty.json", "{}")

# fuzz_params: --params texts from the README and examples/.
copy("fuzz_params", "residual-93.json", "examples/residual-93.json")
out("fuzz_params", "empty.json", "{}")
out("fuzz_params", "seed.json", '{"filter_size_c1": 128, "kernel_size_c1": 5, "nb_units": 120}')
out("fuzz_params", "blocks.json", '{"num_blocks": 3, "conv2_type": "residual", "schedule": "cosine"}')
out("fuzz_params", "separable.json", json.dumps({
    "num_blocks": 5, "block_type": "separable_residual", "conv1_channels": 16,
    "conv5_kernel": 5, "conv4_pool": "none", "activation": "leaky_relu", "head": "flatten",
    "hidden_units": 256, "optimizer": {"_name": "sgd", "momentum": 0.9}, "augment_erasing": 0.25,
    "TRIAL_BUDGET": 2.5}))

# fuzz_config: the repository's configs and one with the space inline.
copy("fuzz_config", "config.yml", "config.yml")
copy("fuzz_config", "seed_config.yml", "examples/seed/config.yml")
copy("fuzz_config", "remote_config.yml", "examples/remote/config.yml")
out("fuzz_config", "inline.yml", """experimentName: inline
searchSpace:
  x: {_type: uniform, _value: [0, 1]}
  c: {_type: choice, _value: [{_name: a, k: {_type: randint, _value: [1, 3]}}, {_name: b}]}
trialCommand: echo hi
trialConcurrency: 2
maxTrialNumber: 5
maxExperimentDuration: 1.5h
maxTrialDuration: 90s
tuner: {name: Evolution, classArgs: {optimize_mode: minimize, population_size: 8}}
assessor: {name: Medianstop, classArgs: {start_step: 2}}
trainingService: {platform: local}
""")
out("fuzz_config", "anchors.yml", """tuner: &t {name: Random, classArgs: {seed: 3}}
searchSpaceFile: search_space.json
trialCommand: "true"
experimentWorkingDirectory: ~/nni-experiments
logLevel: debug
trainingService: {platform: local}
""")

# fuzz_metric: what trials send (one metric per line) and what managers send.
def metric(type_, seq, value):
    return json.dumps({"parameter_id": 0, "trial_job_id": "S1i7C", "type": type_,
                       "sequence": seq, "value": json.dumps(value)})

out("fuzz_metric", "number", "0.9")
out("fuzz_metric", "object", '{"default":0.9,"val_loss":0.3}')
out("fuzz_metric", "periodical_final",
    "\n".join([metric("PERIODICAL", 0, 0.5), metric("PERIODICAL", 1, {"default": 0.7, "val_loss": 0.3}),
               metric("FINAL", 0, 0.9)]))
out("fuzz_metric", "command", json.dumps({"type": "metric", "metric": metric("FINAL", 0, 0.91)}))
out("fuzz_metric", "record", '{"parameter_id": 3, "parameter_source": "algorithm", '
    '"parameters": {"lr": 0.01, "conv": {"_name": "plain", "k": 3}}, "parameter_index": 0}')
out("fuzz_metric", "parameter_command", json.dumps({"type": "parameter", "parameter": json.dumps(
    {"parameter_id": "2_0_7", "parameters": {"TRIAL_BUDGET": 3}})}))
out("fuzz_metric", "nan", metric("FINAL", 0, "NaN").replace('"\\"NaN\\""', '"NaN"'))

# fuzz_idx: first byte = mode (bit 0 gzip, bits 1-2 dims-1, bit 3 pair); then IDX bytes.
def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)

labels = idx([3], [1, 9, 0])
images = idx([3, 2, 2], range(12))
out("fuzz_idx", "labels_raw", bytes([0 << 1]) + labels)
out("fuzz_idx", "labels_gzip_wrapped", bytes([1 | 0 << 1]) + labels)
out("fuzz_idx", "labels_gzip_file", bytes([0]) + gzip.compress(labels, mtime=0))
out("fuzz_idx", "images_raw", bytes([2 << 1]) + images)
out("fuzz_idx", "matrix_raw", bytes([1 << 1]) + idx([2, 3], range(6)))
out("fuzz_idx", "truncated", bytes([2 << 1]) + images[:-1])
out("fuzz_idx", "pair_raw", bytes([8, len(images) & 255, len(images) >> 8, 2]) + images + labels)
out("fuzz_idx", "pair_gzip", bytes([9, len(images) & 255, len(images) >> 8, 2]) + images + labels)


# Dictionaries (libFuzzer -dict): tokens the parsers look for.
def dictionary(target, tokens):
    d = os.path.join(HERE, "dict")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, target + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary for %s, written by fuzz/make_seeds.py\n" % target)
        for t in tokens:  # libFuzzer's escapes: \\, \" and \xHH
            f.write('"%s"\n' % "".join(
                "\\" + c if c in '\\"' else c if " " <= c <= "~" else "\\x%02X" % ord(c)
                for c in t))


JSON = ["{", "}", "[", "]", ",", ":", '""', "\\u0000", "\\ud800", "true", "false", "null",
        "-0", "1e308", "1e309", "-1e309", "NaN", "Infinity", "-Infinity", "0.5", "-1",
        "9223372036854775807", "18446744073709551616", "4294967296", "2147483648"]
SPACE = ['"_type"', '"_value"', '"_name"'] + ['"%s"' % t for t in (
    "choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal",
    "qnormal", "lognormal", "qlognormal")]
N = [str(i) for i in range(1, 6)]
PARAMS = ['"%s"' % p for p in (
    "filter_size_c1", "filter_size_c2", "kernel_size_c1", "kernel_size_c2", "nb_units",
    "num_blocks", "block_type", "kernel_size", "batch_norm", "activation", "pool", "head",
    "hidden_units", "dropout", "optimizer", "learning_rate", "weight_decay", "momentum",
    "batch_size", "epochs", "schedule", "label_smoothing", "augment_crop", "augment_flip",
    "augment_erasing", "TRIAL_BUDGET", "plain", "residual", "separable", "separable_residual",
    "relu", "gelu", "silu", "leaky_relu", "max", "avg", "none", "gap", "flatten", "adam",
    "adamw", "sgd", "constant", "cosine", "one_cycle")]
PARAMS += ['"conv%s"' % n for n in N]
PARAMS += ['"conv%s_%s"' % (n, s) for n in N
           for s in ("type", "channels", "kernel", "batch_norm", "activation", "pool")]
METRIC = ['"%s"' % k for k in (
    "parameter_id", "trial_job_id", "type", "sequence", "value", "PERIODICAL", "FINAL",
    "S1i7C", "default", "metric", "request_parameter", "parameter", "parameters",
    "parameter_source", "parameter_index", "algorithm", "2_0_7")] + ['\\"', '"\\"0.9\\""']
CONFIG = [k + ":" for k in (
    "experimentName", "experimentType", "searchSpaceFile", "searchSpace", "trialCommand",
    "trialCodeDirectory", "trialConcurrency", "trialGpuNumber", "maxExperimentDuration",
    "maxTrialDuration", "maxTrialNumber", "nniManagerIp", "useAnnotation", "debug", "logLevel",
    "experimentWorkingDirectory", "tunerGpuIndices", "tuner", "assessor", "advisor",
    "trainingService", "platform", "reuseMode", "useActiveGpu", "maxTrialNumberPerGpu",
    "gpuIndices", "sharedStorage", "name", "classArgs", "className", "codeDirectory",
    "optimize_mode", "tpe_args", "n_startup_jobs", "n_ei_candidates", "linear_forgetting",
    "prior_weight", "gamma", "constant_liar_type", "population_size", "seed", "start_step",
    "_type", "_value", "_name")] + [
    "TPE", "Random", "GridSearch", "Evolution", "Medianstop", "Hyperband", "BOHB", "local",
    "remote", "maximize", "minimize", "hpo", "true", "false", "null", "~", "&a", "*a", "<<",
    "!!str", "!!binary", "!!map", "---", "...", "- ", "? ", ": ", "|", ">", "{", "}", "[", "]",
    "90s", "30m", "2h", "1d", "1.5h", "1e309h", "search_space.json", "\t", "'", "\"", "#"]
dictionary("fuzz_space", JSON + SPACE)
dictionary("fuzz_params", JSON + PARAMS + ['"_name"'])
dictionary("fuzz_metric", JSON + METRIC)
dictionary("fuzz_config", CONFIG)
dictionary("fuzz_idx", ["\x00\x00\x08\x01", "\x00\x00\x08\x03", "\x1f\x8b\x08\x00",
                        "\xff\xff\xff\xff", "\x00\x00\x00\x1c", "\x00\x00\xea\x60"])
