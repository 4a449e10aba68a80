// Looks up a registered operator once and returns its typed handle, for the
// C++ code that calls our own operators through the dispatcher.
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>

namespace nsa_metadata {

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_operator(const char* qualified_name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(qualified_name, "").typed<Signature>();
}

}  // namespace nsa_metadata
