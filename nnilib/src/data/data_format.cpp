#include "nnilib/data/data_format.h"

#include "nnilib/common/named_entry.h"

namespace nnilib {

// The registry: one line per format, each defined as DataFormat <name>_format() in
// nnilib/src/data/formats/<name>_format.cpp.
#define NNILIB_DATA_FORMATS(X) \
  X(idx)                       \
  X(cifar10)                   \
  /* a new format: one line above this one */

#define NNILIB_DECLARE_DATA_FORMAT(name) DataFormat name##_format();
NNILIB_DATA_FORMATS(NNILIB_DECLARE_DATA_FORMAT)
#undef NNILIB_DECLARE_DATA_FORMAT

const std::vector<DataFormat>& data_formats() {
#define NNILIB_DATA_FORMAT_ENTRY(name) name##_format(),
  static const std::vector<DataFormat> formats = {NNILIB_DATA_FORMATS(NNILIB_DATA_FORMAT_ENTRY)};
#undef NNILIB_DATA_FORMAT_ENTRY
  return formats;
}

const DataFormat& data_format(const std::string& name) {
  return find_named(data_formats(), name, "data format");
}

std::string where_to_get(const DatasetInfo& info) {
  return info.name == "fashion-mnist"
             ? "; set --data-dir or FMNIST_DATA_DIR, or install Debian's dataset-fashion-mnist"
             : "; point --data-dir at the directory of the " + info.name + " files";
}

}  // namespace nnilib
