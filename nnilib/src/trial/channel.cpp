#include "nnilib/trial/channel.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace nnilib {
namespace {

std::vector<ChannelEntry>& registry() {
  static std::vector<ChannelEntry> entries;
  return entries;
}

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), here in lower case.
bool valid_scheme(const std::string& s) {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

}  // namespace

void register_channel(ChannelEntry entry) {
  const std::string& s = entry.scheme;
  if (!valid_scheme(s)) {
    throw std::invalid_argument("register_channel: \"" + s +
                                "\" is not a lower-case URL scheme (a-z, then a-z 0-9 + - .)");
  }
  if (s == "http" || s == "https" || s == "import") {
    throw std::invalid_argument("register_channel: the scheme \"" + s + "\" is NNI's own");
  }
  if (find_channel(s) != nullptr) {
    throw std::invalid_argument("register_channel: the scheme \"" + s + "\" is already registered");
  }
  if (!entry.make) {
    throw std::invalid_argument("register_channel: the channel \"" + s + "\" has no factory");
  }
  registry().push_back(std::move(entry));
}

const std::vector<ChannelEntry>& channel_registry() { return registry(); }

const ChannelEntry* find_channel(const std::string& scheme) {
  for (const ChannelEntry& e : registry())
    if (e.scheme == scheme) return &e;
  return nullptr;
}

std::string url_scheme(const std::string& url) {
  const auto colon = url.find("://");
  if (colon == std::string::npos) return "";
  std::string scheme = url.substr(0, colon);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return valid_scheme(scheme) ? scheme : "";
}

}  // namespace nnilib
