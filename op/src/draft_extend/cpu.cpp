// CPU kernel of fill_draft_extend_metadata: the step-metadata operators' host
// loop (step_metadata/cpu.h) asked for row vectors only. The host sees the
// data here, so bad values (a negative length, a KV length past int32, a
// batch larger than a buffer) raise instead of getting the device's defined
// result.
#include "draft_extend/checks.h"
#include "draft_extend/engine.h"
#include "draft_extend/registration.h"
#include "step_metadata/cpu.h"

#include <ATen/core/Tensor.h>

namespace nsa_metadata::draft_extend {
namespace {

void fill_draft_extend_metadata_cpu(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  // Validates every value before the first write, so an error leaves the
  // caller's buffers as they were.
  const int64_t total = checked_token_total(arguments);

  step_metadata::write_on_host(model_of(arguments), arguments.extend_seq_lens.size(0),
                               buffers_of(arguments), nullptr, {total, 0, 0});
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  register_draft_extend_kernel<&fill_draft_extend_metadata_cpu>(m);
}

}  // namespace nsa_metadata::draft_extend
