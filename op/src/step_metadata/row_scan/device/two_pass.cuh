// expand_kernel's pieces (batches past kSinglePassMaxRequestsWithWorkspace):
// the chunks' token counts read back, and requests taken in pairs of tiles.
#pragma once

#include "step_metadata/row_scan/device/direct_path.cuh"
#include "step_metadata/row_scan/device/general_rows.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::row_scan::cuda {

struct ChunkTokens {
  const int64_t* chunk_tokens;
  __device__ __forceinline__ int64_t operator()(int64_t i) const { return chunk_tokens[i]; }
};

// expand_kernel takes its chunk two tiles at a time, a request of each per
// thread (the thread's "low" request is in the first tile, its "high" one in
// the second), so that a block pays the scan, its barriers and the setup of
// the stores once per 2 * kThreads requests: at a million requests the
// kernel was bound by instruction issue, not by memory.
struct RequestPair {
  Request low;
  Request high;
};

template <typename extend_t, typename seq_t>
struct LoadedPair {
  LoadedRequest<extend_t, seq_t> low;
  LoadedRequest<extend_t, seq_t> high;
};

template <typename extend_t, typename seq_t>
__device__ __forceinline__ LoadedPair<extend_t, seq_t> load_raw_pair(
    const extend_t* __restrict__ extend_seq_lens, const seq_t* __restrict__ seq_lens,
    const Launch& launch, int64_t pair_begin, int64_t end) {
  const int64_t i = pair_begin + threadIdx.x;
  return {load_raw_request(extend_seq_lens, seq_lens, launch, i, end),
          load_raw_request(extend_seq_lens, seq_lens, launch, i + kThreads, end)};
}

// Both clamped lengths of a pair in one int32 for one 32-bit scan: a tile's
// sums of them stay below 2^16, so the halves never carry into each other.
constexpr int kPairShift = 16;
static_assert(kThreads * (kDirectMaxTokens + 1) < (1 << kPairShift),
              "a tile's clamped lengths must sum below 2^16");

struct PairScan {
  int32_t low_first;   // the low request's first row, from the pair's start
  int32_t high_first;  // the high request's first row, from the pair's start
  int32_t rows;        // the pair of tiles' rows, exact when short
  bool short_requests;  // every request of both tiles has at most kDirectMaxTokens
};

__device__ __forceinline__ PairScan pair_scan(const RequestPair& pair,
                                              int4 (&warp_sums)[kWarps]) {
  constexpr int32_t kLowMask = (1 << kPairShift) - 1;
  const int32_t low = small_tokens(pair.low.tokens);
  const int32_t high = small_tokens(pair.high.tokens);
  const DirectScan scan = direct_scan(0, low | (high << kPairShift), 0, max(low, high), warp_sums);
  const int32_t low_rows = scan.tile_rows & kLowMask;
  return {scan.rows_before_request & kLowMask,
          low_rows + (scan.rows_before_request >> kPairShift),
          low_rows + (scan.tile_rows >> kPairShift), scan.most_tokens <= kDirectMaxTokens};
}

// The general path for one tile (of a pair that has a long request): the
// 64-bit saturating scan, then the tile published for write_tile. Returns
// the tile's end row.
__device__ __forceinline__ int64_t publish_long_tile(SharedState& shared, const Request& request,
                                                     int64_t tile_row) {
  int64_t rows_before_request;
  int64_t tile_rows;
  TileScan(shared.cub.tile_scan)
      .ExclusiveScan(request.tokens, rows_before_request, int64_t{0}, SaturatingSum(), tile_rows);
  const int64_t tile_end = saturating_add(tile_row, tile_rows);
  publish_request(shared, request, saturating_add(tile_row, rows_before_request), tile_end);
  return tile_end;
}

__device__ __forceinline__ int tile_requests(int64_t tile_begin, int64_t chunk_end) {
  return static_cast<int>(max_of(0, min_of(kThreads, chunk_end - tile_begin)));
}

}  // namespace nsa_metadata::step_metadata::row_scan::cuda
