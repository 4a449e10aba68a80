// fill_draft_extend_metadata as the step-metadata engine sees it
// (step_metadata/request_math.h): request i has extend_seq_lens[i] query
// rows whose last sees seq_lens[i] tokens, and the call asks for the row
// vectors alone, which the CPU kernel and the engine's row-scan kernels
// (step_metadata/row_scan/) write.
#pragma once

#include "draft_extend/arguments.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

namespace nsa_metadata::draft_extend {

step_metadata::Model model_of(const Arguments& arguments);
step_metadata::Buffers buffers_of(const Arguments& arguments);

}  // namespace nsa_metadata::draft_extend
