// The host loop of every operator's CPU kernel: the rows of the step-metadata
// model (request_math.h) written in request order into the given buffers,
// after the kernel's checks. The step operators, fill_extend_metadata and
// fill_draft_extend_metadata (which asks for row vectors only) all run it,
// so the CPU writes every mode one way.
#pragma once

#include "common/divisor.h"
#include "common/index_vector.h"
#include "step_metadata/buffers.h"
#include "step_metadata/request_math.h"

#include <cstdint>

namespace nsa_metadata::step_metadata {

// Where the page tables come from, when a call fills them.
struct HostPages {
  TokenTable tokens;
  IndexVector pool_indices;
  Divisor page_size;
};

// Row `row`'s page_table_1 and real_page_table columns (those `buffers`
// holds) for a row of KV length kv, from req_to_token's row pool_index.
void write_page_rows(const Buffers& buffers, const TokenTable& tokens, const Divisor& page_size,
                     int64_t row, int32_t kv, int64_t pool_index);

// Writes every output in `buffers` (absent ones have null pointers) for a
// batch whose data passed the checks; `total` sums the batch, from those
// checks. Pages may be null when no page table is asked for.
void write_on_host(const Model& model, int64_t batch_size, const Buffers& buffers,
                   const HostPages* pages, const Sums& total);

}  // namespace nsa_metadata::step_metadata
