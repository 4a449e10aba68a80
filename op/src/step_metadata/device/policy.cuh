// Tuning constants of the step-metadata kernel, each with why it has its
// value. The launcher (step_metadata/cuda.cu) plans the grid from these and
// the shapes alone.
#pragma once

#include "common/device_math.cuh"
#include "common/row_groups.cuh"

#include <cstdint>

namespace nsa_metadata::step_metadata::cuda {

using nsa_metadata::cuda::aligned_16;
using nsa_metadata::cuda::inclusive_warp_scan;
using nsa_metadata::cuda::kFullWarp;
using nsa_metadata::cuda::kWarpSize;
using nsa_metadata::cuda::Plus;

// Threads per block, for both kinds of block: the vector blocks scan a tile
// of this many requests at once; the page blocks run kWarps copy warps.
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;

// Vector blocks ("chunks") each reduce every request before their own, so
// their number bounds the redundant reads: 64 keeps them to a few MB at a
// million requests.
constexpr int64_t kMaxChunks = 64;

// Requests each vector-block thread loads per round when it reduces the
// batch before its chunk: up to 2048 requests cost one wait on memory.
constexpr int kReduceLoadsInFlight = 8;

// A chunk's rows are shared by as many vector blocks as give each about this
// many (the rows of a chunk's requests are unbounded for extend: thousands
// per request), at most the blocks the GPU holds at once. Eight a thread:
// each row costs a few instructions and a share of a few 16-byte stores, so
// a block's scan of its chunk stays a small part of its work.
constexpr int64_t kRowsPerVectorBlock = int64_t{kThreads} * 8;

// Where every request of a tile has at most this many rows (decode,
// target-verify, draft steps), a vector-block thread writes its own
// request's rows one after the other, with no search and the sums running
// along them; on an H200 that took the vector blocks of decode, target-verify
// and draft-extend at bs 64-256 from 4.1-5.5 us to 2.9-4.2 (together with
// summing only what the outputs read). Longer requests would make a thread's
// chain long, so they share their rows over the block instead.
constexpr int64_t kDirectRows = 16;

// A vector-block lane writes this many consecutive rows at once
// (common/row_groups.cuh): one 16-byte store per row vector.
using nsa_metadata::cuda::kRowsPerGroup;

// A page block loads this many requests' shapes per tile (a few per thread,
// one scan per tile), so that a batch of up to kPageTile requests costs one
// round trip to memory before the copies start.
constexpr int kRequestsPerThread = 2;
constexpr int kPageTile = kThreads * kRequestsPerThread;

// One unit of page-copy work is unit_columns<V> columns of one request's
// req_to_token prefix: each lane loads V 16-byte vectors, then stores them
// into every row of the request.
// - kVectorsPerLane for the page blocks, and for warp-batch calls whose units
//   would not fit one pass of the page warps: long contexts, where bytes in
//   flight set the time. 8 rather than 4: on an H200, decode at bs 256 with
//   contexts up to 163840 took 50.0 us instead of 57.3 (target-verify at
//   bs 128: 69.6 against 66.8).
// - kShortVectorsPerLane for the other warp-batch calls, whose time is the
//   chain of one warp's unit: in one H200 run of a decode probe (contexts
//   1K-8K, bs 1-32), units of 256 columns took 1.5-1.7 us where units of
//   1024 took 2.3-2.7.
constexpr int kVectorsPerLane = 8;
constexpr int kShortVectorsPerLane = 2;
constexpr int kColumnsPerVector = 4;  // int32 columns in 16 bytes
template <int kVectors>
constexpr int64_t unit_columns = int64_t{kWarpSize} * kVectors * kColumnsPerVector;

// Batches of at most this many requests take the warp-batch kernel
// (warp_batch.cuh): one request per lane, so a warp holds the batch...
constexpr int64_t kWarpBatch = kWarpSize;
// ...when every row position (the tables' and the row vectors') is below
// this bound too: then a warp's 32 clamped row counts add up in 32 bits.
constexpr int64_t kWarpBatchRowLimit = int64_t{1} << 26;
// There, up to this many warps share the rows of a request (log2): the
// rows' stores are the longest chain of a small batch, 4 rows for N = 4. On
// an H200, target-verify at bs 1 (contexts 1K-8K) went from 5.4 to 3.4 us of
// GPU time with this and, in the same change, one real_page_table read per
// unit and shifts for power-of-two page sizes (decode, one row: 3.1 to 3.0).
constexpr int kMaxRowGroupShift = 2;

// Decode, target-verify and draft-extend calls of the warp-batch size whose
// rows and row vectors (rows and tails) hold at most this many positions
// take the small-batch kernel (small_batch.cuh): one warp writes them, each
// lane at most kSmallBatchRowsPerLane rows side by side; each page warp
// copies one unit into one row. Its page size is at least
// kSmallBatchPageSize, so that a unit's real_page_table columns are one per
// lane at most.
constexpr int64_t kSmallBatchRows = 128;
// Its first two warps write the vectors side by side, the first the
// per-request ones, the second the row vectors: two chains of one scan each
// rather than one of two, each waiting for fewer lines of the parameters.
constexpr int64_t kRequestVectorWarp = 0;
constexpr int64_t kSmallBatchVectorWarps = 2;
constexpr int kSmallBatchRowsPerLane = static_cast<int>(kSmallBatchRows / kWarpSize);
// Its page warps' units are as wide as the warp-batch kernel's short ones,
// held as 16-byte vectors or 4-byte words (small_batch.cuh, UnitForm).
constexpr int64_t kSmallUnitColumns = unit_columns<kShortVectorsPerLane>;
constexpr int kSmallUnitWords = static_cast<int>(kSmallUnitColumns / kWarpSize);
constexpr int64_t kSmallBatchPageSize = kSmallUnitWords;

// Resident blocks per multiprocessor the grid aims at for the page copies:
// the block kernel's registers (up to 128 a thread at 256 threads) fit two,
// as do the warp-batch kernel's.
constexpr int64_t kBlocksPerSM = 2;
// The small-batch kernel's fit three (its launch bounds hold it to 80
// registers), and where a call's units do not fit one pass of its page
// warps, their copy is bounded by bytes in flight: on an H200, contexts up
// to 163840 at bs 32 took 6.7-6.8 us instead of 7.3-7.6 for decode and
// 19.0-19.3 instead of 20.6 for static draft-extend with three. (The block
// kernel held to 80 registers spills: 0.8-1.7 us slower at 1K-8K bs 128-256,
// 1-9% at contexts up to 163840 (H100; docs/step_metadata.md).
// The warp-batch kernel, which serves extend's small batches, was no faster
// with three in the one benchmark run that had it: extend at bs 32, mixed,
// 4.3 us against 3.6 in the run before; not compared side by side.)
constexpr int kSmallBatchBlocksPerSM = 3;
// The block kernel's launch bounds hold the step operators' instance to
// kBlocksPerSM blocks (128 registers): left to itself the compiler chose 128
// and 16 bytes of stack, and once, for a longer page path, 158 (one block,
// 1.2-2.0x slower at 1K-8K bs 64-256). Held, it has no stack, and 1K-8K bs
// 128-256 took 2-3% less (H100). Extend's instances are left to the compiler
// (0: no minimum; it chooses 128): held, prefill at bs 128-256 took 1-2% longer.
// The warp-batch kernel's bounds name its block size alone: held to two
// blocks, extend's small batches took 16-20% longer.
template <bool kExtend>
constexpr int64_t kBlockKernelMinBlocks = kExtend ? 0 : kBlocksPerSM;

}  // namespace nsa_metadata::step_metadata::cuda
