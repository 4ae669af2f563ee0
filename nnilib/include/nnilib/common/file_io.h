// Writing result files so that a failure (a full disk, a read-only directory)
// is one clear IoError and never leaves half a file behind. Free of LibTorch.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace nnilib {

/// Writes `bytes` to `<path>.tmp`, flushes it to disk and renames it over `path`:
/// a reader sees the old file or the whole new one, never a part. On any failure
/// the temporary file is removed and IoError("<path>: cannot write <what> (<why>)")
/// is thrown; `path` keeps its previous content. `durable` false skips the flush to disk
/// (for a file rewritten every few seconds whose loss in a power cut does not matter:
/// the rename still keeps readers from seeing a part). A `path` that exists and is not
/// a regular file (a device such as /dev/stdout or /dev/full, a pipe) cannot be replaced
/// atomically and is never replaced: the bytes are written to it in place, and a failed
/// write (ENOSPC on /dev/full, a pipe without a reader) is the same IoError.
void write_file_atomically(const std::string& path, std::string_view bytes,
                           const std::string& what = "the file", bool durable = true);

/// The whole content of `path` when it can be read and holds at most `max_bytes`;
/// std::nullopt otherwise. For files another process writes (a trial's progress or
/// summary), which must not make the reader hold more than it expects.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes);

/// Throws IoError("<dir>: cannot write in the output directory (<why>)") unless a
/// file can be created in `dir` now (checked by creating and removing one, which
/// also catches read-only mounts and full disks that permission bits do not show).
void check_writable_dir(const std::string& dir);

}  // namespace nnilib
