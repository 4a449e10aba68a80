#include "draft_extend/checks.h"

#include "common/checks.h"
#include "common/index_vector.h"
#include "common/length_math.h"

#include <c10/util/Exception.h>

#include <array>

namespace nsa_metadata::draft_extend {

void check_arguments(const Arguments& arguments) {
  const auto& [extend_seq_lens, seq_lens, nsa_index_topk, seqlens_expanded, nsa_cache_seqlens,
               num_tokens, index_kpool] = arguments;
  checks::check_index_vector(extend_seq_lens, "extend_seq_lens");
  checks::check_companion_vector(seq_lens, "seq_lens", extend_seq_lens, "extend_seq_lens");
  checks::check_selection(nsa_index_topk, index_kpool);

  checks::check_same_device(seqlens_expanded, "seqlens_expanded", extend_seq_lens,
                            "extend_seq_lens");
  checks::check_int32_buffer(seqlens_expanded, "seqlens_expanded");
  checks::check_same_device(nsa_cache_seqlens, "nsa_cache_seqlens", extend_seq_lens,
                            "extend_seq_lens");
  checks::check_int32_buffer(nsa_cache_seqlens, "nsa_cache_seqlens");
  if (num_tokens.has_value()) {
    checks::check_same_device(*num_tokens, "num_tokens", extend_seq_lens, "extend_seq_lens");
    checks::check_counter(*num_tokens, "num_tokens");
  }
}

void check_no_aliasing(const Arguments& arguments) {
  const std::optional<at::Tensor>& num_tokens = arguments.num_tokens;
  const std::array<checks::NamedTensor, 3> outputs{
      {{&arguments.seqlens_expanded, "seqlens_expanded"},
       {&arguments.nsa_cache_seqlens, "nsa_cache_seqlens"},
       {num_tokens.has_value() ? &*num_tokens : nullptr, "num_tokens"}}};
  const std::array<checks::NamedTensor, 2> inputs{
      {{&arguments.extend_seq_lens, "extend_seq_lens"}, {&arguments.seq_lens, "seq_lens"}}};
  checks::check_no_overlaps(
      c10::ArrayRef<checks::NamedTensor>(outputs.data(), num_tokens.has_value() ? 3 : 2), inputs);
}

int64_t checked_token_total(const Arguments& arguments) {
  const IndexVector extend = index_vector_of(arguments.extend_seq_lens);
  const IndexVector seq = index_vector_of(arguments.seq_lens);
  int64_t total = 0;
  for (int64_t i = 0; i < arguments.extend_seq_lens.size(0); ++i) {
    const int64_t extend_seq_len = extend[i];
    checks::check_request_lengths(i, seq[i], &extend_seq_len, seq[i],
                                  /*top_adds_draft_tokens=*/false);
    total = saturating_add(total, extend_seq_len);
  }
  checks::check_holds_rows(arguments.seqlens_expanded.numel(), "seqlens_expanded", total, 0);
  checks::check_holds_rows(arguments.nsa_cache_seqlens.numel(), "nsa_cache_seqlens", total, 0);
  return total;
}

}  // namespace nsa_metadata::draft_extend
