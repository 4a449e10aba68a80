// fill_extend_metadata as the step-metadata engine sees it (step_metadata/
// request_math.h): request i has extend_seq_lens[i] query rows whose last
// sees seq_lens[i] tokens (draft-extend's model), one page-table row per
// request, and the outputs only extend has.
#pragma once

#include "extend/arguments.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

namespace nsa_metadata::extend {

step_metadata::Model model_of(const Arguments& arguments);
step_metadata::Buffers buffers_of(const Outputs& outputs);

}  // namespace nsa_metadata::extend
