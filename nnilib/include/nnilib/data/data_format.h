// Data formats: how a data set's files are found and read, registered by name as tuners
// are. A data set (dataset.h) names its format; a new format is one source file in
// nnilib/src/data/formats/ and one line in the registry, a new data set of a known
// format one row of dataset.cpp's table (docs/architecture.md "A new data format").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "nnilib/data/dataset.h"

namespace nnilib {

/// An entry of the registry.
struct DataFormat {
  std::string name;  ///< DatasetInfo::format, e.g. "idx"
  /// The files of `info` in `dir` (an existing directory): the training split's, then
  /// the test split's. Throws DataError naming the first missing file.
  std::function<DatasetFiles(const DatasetInfo& info, const std::string& dir)> find_files;
  /// Both splits, read and checked against `info`; `cancelled` is asked between files
  /// (true: Interrupted).
  std::function<RawDataset(const DatasetInfo& info, const DatasetFiles& files,
                           const std::function<bool()>& cancelled)>
      read;
  /// For a data set whose shape comes from its files (DatasetInfo::shape_from_files):
  /// its image size and classes, read from `files`; empty when the format cannot.
  std::function<DatasetInfo(DatasetInfo info, const DatasetFiles& files)> shape;
};

/// Every data format, in the registry's order.
const std::vector<DataFormat>& data_formats();

/// The format named `name`; ParamError listing the formats for any other name.
const DataFormat& data_format(const std::string& name);

/// "; point --data-dir at the directory of the mnist files": what to do where a data
/// set's files are missing (Fashion-MNIST: FMNIST_DATA_DIR or Debian's package).
std::string where_to_get(const DatasetInfo& info);

}  // namespace nnilib
