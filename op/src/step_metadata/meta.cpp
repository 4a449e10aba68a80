// Meta kernels of the step-metadata family: the host checks without the
// work, which is what FakeTensor, torch.compile and torch.export need.
#include "step_metadata/checks.h"
#include "step_metadata/registration.h"

namespace nsa_metadata::step_metadata {

TORCH_LIBRARY_IMPL(nsa_metadata, Meta, m) {
  register_step_metadata_kernels<&check_arguments>(m);
}

}  // namespace nsa_metadata::step_metadata
