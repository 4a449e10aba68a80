#include "common/checked_mode.h"

#include <cstdlib>
#include <cstring>

namespace nsa_metadata {
namespace {

bool checked_mode_in_environment() {
  const char* value = std::getenv("NSA_METADATA_CHECKED");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace

bool checked_mode_enabled() {
  static const bool enabled = checked_mode_in_environment();
  return enabled;
}

}  // namespace nsa_metadata
