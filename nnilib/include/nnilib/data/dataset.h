// Data sets as data (no torch): what the trainer and the model builder need to know
// about one (image shape, channels, classes, normalization), where its files are and
// how they are read. fmnist-trial's --dataset; the tensors are data.h's.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nnilib/data/dataset_options.h"
#include "nnilib/data/idx.h"
#include "nnilib/model/model_spec.h"

namespace nnilib {

/// One data set.
struct DatasetInfo {
  std::string name;
  std::string format = "idx";  ///< how its files are stored (data_format.h): idx, cifar10
  /// IDX file names start with it ("emnist-balanced-train-images-idx3-ubyte").
  std::string idx_prefix;
  int channels = 1, height = 28, width = 28;
  int classes = 10;  ///< labels are 0 .. classes-1
  /// Where Debian installs it; "" when --data-dir must say.
  std::string default_dir;
  /// Per-channel mean and standard deviation of the pixels (scaled to [0, 1]) used to
  /// normalize; empty: computed from the training split when loaded.
  std::vector<float> mean, std;
  /// The name of each class, label order; empty where the data set does not say.
  std::vector<std::string> class_names;
  /// "idx": the image size and the classes are read from the files.
  bool shape_from_files = false;

  ModelInput model_input() const { return {channels, height, width, classes}; }
};

/// The data sets --dataset names (one row each in dataset.cpp's table): fashion-mnist
/// (the default), mnist, kmnist, emnist-balanced, emnist-byclass, emnist-bymerge,
/// emnist-digits, emnist-letters, emnist-mnist, cifar10, and idx (any IDX set: size and
/// classes from its files). Throws ParamError listing them for another name.
DatasetInfo dataset_info(const std::string& name);

/// "fashion-mnist, mnist, ...": the names dataset_info() takes.
std::string dataset_names();

/// The data directory of `info`: `flag` if not empty; for fashion-mnist then
/// $FMNIST_DATA_DIR, then Debian's dataset-fashion-mnist; for another data set its
/// default_dir, else ParamError asking for --data-dir.
std::string resolve_data_dir(const DatasetInfo& info, const std::string& flag);

/// The files of a data set in `dir`: for IDX the train images and labels, then the test
/// images and labels (t10k-* or test-*; each .gz or raw); for CIFAR-10 the five training
/// batches, then the test batch (in `dir` or its cifar-10-batches-bin/). Throws DataError
/// naming the first missing file.
struct DatasetFiles {
  std::vector<std::string> train, test;
};
DatasetFiles find_dataset_files(const DatasetInfo& info, const std::string& dir);

/// For "idx": the image size from the training images' header and the classes from
/// the largest label (train and test labels are read, the images are not); other data
/// sets come back as they are. Throws DataError naming a file.
DatasetInfo resolve_shape(DatasetInfo info, const DatasetFiles& files);

/// Both splits as read and checked against `info` (image size, channels, labels in
/// 0 .. classes-1): images [N, H, W] (IDX) or [N, C, H, W] (CIFAR-10).
struct RawDataset {
  LabeledImages train, test;
};
/// `cancelled`: as DataOptions::cancelled.
RawDataset read_dataset(const DatasetInfo& info, const DatasetFiles& files,
                        const std::function<bool()>& cancelled = {});

/// What options.dataset is, as far as a model needs to know (image shape, classes):
/// a named set without reading anything, "idx" from its files' headers and labels.
DatasetInfo dataset_for_model(const DataOptions& options);

}  // namespace nnilib
