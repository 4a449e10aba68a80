// Meta kernel of fill_extend_metadata: the host checks without the work,
// which is what FakeTensor, torch.compile and torch.export need.
#include "extend/checks.h"
#include "extend/registration.h"

namespace nsa_metadata::extend {

TORCH_LIBRARY_IMPL(nsa_metadata, Meta, m) {
  register_extend_kernel<&check_arguments>(m);
}

}  // namespace nsa_metadata::extend
