// CPU kernel of fill_extend_metadata (docs/extend.md): the step operators'
// host loop (step_metadata/cpu.h) over the extend model. The host sees the
// data here, so bad values raise before the first write; past the checks
// every length and sum fits its int32 output, and every token its buffer.
#include "common/index_vector.h"
#include "extend/checks.h"
#include "extend/engine.h"
#include "extend/registration.h"
#include "step_metadata/cpu.h"

namespace nsa_metadata::extend {
namespace {

void fill_extend_metadata_cpu(const Arguments& arguments) {
  check_arguments(arguments);
  check_no_aliasing(arguments);
  const step_metadata::Sums totals = checked_totals(arguments);
  const step_metadata::Buffers buffers = buffers_of(arguments.outputs);
  const step_metadata::HostPages pages{step_metadata::token_table_of(arguments.req_to_token),
                                       index_vector_of(arguments.req_pool_indices),
                                       Divisor::of(arguments.page_size)};
  step_metadata::write_on_host(model_of(arguments), arguments.seq_lens.size(0), buffers,
                               buffers.has_page_table() ? &pages : nullptr, totals);
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, CPU, m) {
  register_extend_kernel<&fill_extend_metadata_cpu>(m);
}

}  // namespace nsa_metadata::extend
