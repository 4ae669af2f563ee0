#include "nnilib/common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "nnilib/common/error.h"

namespace nnilib {
namespace {

// Writes all of `bytes` to `fd`; false with errno set on failure.
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Writes `bytes` into the existing non-regular file `path` (a device, a pipe).
void write_in_place(const std::string& path, std::string_view bytes, const std::string& what) {
  auto fail = [&](int error) {
    throw IoError(path + ": cannot write " + what + " (" + std::strerror(error) + ")");
  };
  // O_NONBLOCK: a pipe nobody reads is ENXIO at once instead of a hang.
  const int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(errno);
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0 || !write_all(fd, bytes)) {
    const int error = errno;
    ::close(fd);
    fail(error);
  }
  if (::close(fd) != 0) fail(errno);
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& what,
                           bool durable) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    write_in_place(path, bytes, what);
    return;
  }
  const std::string tmp = path + ".tmp";
  auto fail = [&](int error) {
    ::unlink(tmp.c_str());
    throw IoError(path + ": cannot write " + what + " (" + std::strerror(error) + ")");
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    throw IoError(path + ": cannot write " + what + " (" + std::strerror(error) + ")");
  }
  if (!write_all(fd, bytes) || (durable && ::fdatasync(fd) != 0)) {
    const int error = errno;
    ::close(fd);
    fail(error);
  }
  if (::close(fd) != 0) fail(errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > max_bytes) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  // Sized by what the file holds now, one byte more to see it grow past the bound.
  std::string text((ec ? max_bytes : static_cast<std::size_t>(size)) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(max_bytes + 1));
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got > max_bytes) return std::nullopt;
  text.resize(got);
  return text;
}

void check_writable_dir(const std::string& dir) {
  const std::string probe =
      (dir.empty() ? std::string(".") : dir) + "/.write-check-" + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    throw IoError(dir + ": cannot write in the output directory (" + std::strerror(error) + ")");
  }
  // One byte really written: a full disk refuses it even where creating a name works.
  const bool wrote = write_all(fd, "x");
  const int error = errno;
  ::close(fd);
  ::unlink(probe.c_str());
  if (!wrote)
    throw IoError(dir + ": cannot write in the output directory (" + std::strerror(error) + ")");
}

}  // namespace nnilib
