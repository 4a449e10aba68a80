#include "common/checked_mode.h"

#include <cstdlib>
#include <cstring>

namespace nsa_metadata {

bool checked_mode_enabled() {
  const char* value = std::getenv("NSA_METADATA_CHECKED");
  return value != nullptr && value[0] != '\0' && std::strcmp(value, "0") != 0;
}

}  // namespace nsa_metadata
