// Plain types shared by the cores' codecs and the file edges.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chunkex {

// The lines of a small key-value text file: key, rest of line.
using TextFields = std::vector<std::pair<std::string, std::string>>;

// The value of the first field named `key`, if any.
inline std::optional<std::string> field_value(const TextFields& fields, const std::string& key) {
  for (const auto& [name, value] : fields) {
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace chunkex
