// Meta kernel of fill_draft_extend_metadata: the host checks without the work,
// which is what FakeTensor, torch.compile and torch.export need to trace a call.
#include "draft_extend/checks.h"
#include "draft_extend/registration.h"

namespace nsa_metadata::draft_extend {
namespace {

void fill_draft_extend_metadata_meta(const Arguments& arguments) {
  check_arguments(arguments);
}

}  // namespace

TORCH_LIBRARY_IMPL(nsa_metadata, Meta, m) {
  register_draft_extend_kernel<&fill_draft_extend_metadata_meta>(m);
}

}  // namespace nsa_metadata::draft_extend
