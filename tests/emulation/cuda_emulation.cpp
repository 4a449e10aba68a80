// The fibers behind cuda_emulation.h: a block's threads are fibers on the
// calling OS thread; a thread that waits at a barrier or a warp exchange
// yields to the next until every thread it waits for has arrived.
#include "cuda_emulation.h"

#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace cuda_emulation {
namespace {

// AddressSanitizer follows each switch between the scheduler's stack and a
// fiber's (its fake stacks and its idea of the stack bounds).
void start_switch([[maybe_unused]] void** fake_stack, [[maybe_unused]] const void* bottom,
                  [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_start_switch_fiber(fake_stack, bottom, size);
#endif
}

void finish_switch([[maybe_unused]] void* fake_stack, [[maybe_unused]] const void** bottom,
                   [[maybe_unused]] size_t* size) {
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(fake_stack, bottom, size);
#endif
}

constexpr size_t kStackBytes = 256 * 1024;
constexpr int kWarpSize = 32;

struct Fiber {
  ucontext_t context;
  std::unique_ptr<char[]> stack;
  unsigned index = 0;
  bool done = false;
  // What the fiber waits for: the generation of its warp's or its block's
  // barrier at which it arrived; it may run again once that has moved on.
  const uint64_t* waiting_on = nullptr;
  uint64_t arrived_at = 0;
  uint64_t received[kWarpSize];
};

struct Barrier {
  uint64_t generation = 0;
  unsigned arrived = 0;
  int offered = 0;  // threads that offered true, this generation
  int result = 0;   // the last completed generation's count
};

struct Warp {
  Barrier barrier;
  uint64_t words[kWarpSize];
};

struct Block {
  uint3 index{0, 0, 0};
  uint3 shape{0, 1, 1};
  uint3 grid{0, 1, 1};
  std::vector<Fiber> fibers;
  std::vector<Warp> warps;
  Barrier barrier;
  ucontext_t scheduler;
  const void* scheduler_stack = nullptr;  // the scheduler's stack, for the sanitizer
  size_t scheduler_stack_size = 0;
  Fiber* current = nullptr;
  const std::function<void()>* kernel = nullptr;
  std::string failure;
};

thread_local Block* running = nullptr;
thread_local uint64_t schedule_seed = 0;

// 0, 1, ..., count - 1 in the schedule's order: as they are for seed 0,
// else shuffled by `random`.
void order(std::vector<unsigned>& indices, unsigned count, std::mt19937_64* random) {
  indices.resize(count);
  std::iota(indices.begin(), indices.end(), 0u);
  if (random != nullptr) {
    std::shuffle(indices.begin(), indices.end(), *random);
  }
}

Block& block() {
  if (running == nullptr) throw std::logic_error("device code called outside a launch");
  return *running;
}

// Threads [first, end) of the block that have not exited.
unsigned live_threads(const Block& b, unsigned first, unsigned end) {
  unsigned live = 0;
  for (unsigned t = first; t < end; ++t) {
    live += b.fibers[t].done ? 0 : 1;
  }
  return live;
}

// Releases the threads waiting at `barrier`.
void complete(Barrier& barrier) {
  barrier.result = barrier.offered;
  barrier.arrived = 0;
  barrier.offered = 0;
  ++barrier.generation;
}

// Arrives at `barrier` of `expected` threads and yields until it completes.
void arrive(Barrier& barrier, unsigned expected, bool predicate) {
  Block& b = block();
  Fiber& self = *b.current;
  barrier.offered += predicate ? 1 : 0;
  if (++barrier.arrived >= expected) {
    complete(barrier);
    return;
  }
  self.waiting_on = &barrier.generation;
  self.arrived_at = barrier.generation;
  void* fake_stack = nullptr;
  start_switch(&fake_stack, b.scheduler_stack, b.scheduler_stack_size);
  swapcontext(&self.context, &b.scheduler);
  finish_switch(fake_stack, &b.scheduler_stack, &b.scheduler_stack_size);
  self.waiting_on = nullptr;
}

void fiber_entry(unsigned low, unsigned high) {
  Block& b = block();
  Fiber& self = *reinterpret_cast<Fiber*>((static_cast<uintptr_t>(high) << 32) | low);
  finish_switch(nullptr, &b.scheduler_stack, &b.scheduler_stack_size);
  try {
    (*b.kernel)();
  } catch (const std::exception& error) {
    if (b.failure.empty()) b.failure = error.what();
  }
  self.done = true;
  // Returning resumes the scheduler (uc_link); this stack is done with.
  start_switch(nullptr, b.scheduler_stack, b.scheduler_stack_size);
}

bool runnable(const Fiber& fiber) {
  return !fiber.done && (fiber.waiting_on == nullptr || *fiber.waiting_on != fiber.arrived_at);
}

void run_block(Block& b, std::mt19937_64* random) {
  std::vector<unsigned> turn;
  for (Fiber& fiber : b.fibers) {
    fiber.done = false;
    fiber.waiting_on = nullptr;
    getcontext(&fiber.context);
    fiber.context.uc_stack.ss_sp = fiber.stack.get();
    fiber.context.uc_stack.ss_size = kStackBytes;
    fiber.context.uc_link = &b.scheduler;
    const auto address = reinterpret_cast<uintptr_t>(&fiber);
    makecontext(&fiber.context, reinterpret_cast<void (*)()>(&fiber_entry), 2,
                static_cast<unsigned>(address & 0xffffffffu), static_cast<unsigned>(address >> 32));
  }
  for (;;) {
    bool ran = false;
    bool all_done = true;
    order(turn, b.shape.x, random);
    for (const unsigned t : turn) {
      Fiber& fiber = b.fibers[t];
      all_done = all_done && fiber.done;
      if (!runnable(fiber)) continue;
      ran = true;
      b.current = &fiber;
      void* fake_stack = nullptr;
      start_switch(&fake_stack, fiber.stack.get(), kStackBytes);
      swapcontext(&b.scheduler, &fiber.context);
      finish_switch(fake_stack, nullptr, nullptr);
      b.current = nullptr;
      if (!b.failure.empty()) throw std::runtime_error(b.failure);
    }
    if (all_done) return;
    if (ran) continue;
    // Nothing can run. A block barrier whose missing threads have exited
    // completes for the survivors, as CUDA counts exited threads there; a
    // warp exchange waiting on an exited lane is a bug in the kernel.
    if (b.barrier.arrived == 0 || b.barrier.arrived < live_threads(b, 0, b.shape.x)) {
      throw std::runtime_error(
          "emulated kernel deadlocked: a warp-wide intrinsic or a barrier waits for "
          "threads that exited or wait elsewhere");
    }
    complete(b.barrier);
  }
}

}  // namespace

uint3 thread_index() { return {block().current->index, 0, 0}; }
uint3 block_index() { return block().index; }
uint3 block_shape() { return block().shape; }
uint3 grid_shape() { return block().grid; }

const uint64_t* exchange_in_warp(uint64_t word) {
  Block& b = block();
  Fiber& self = *b.current;
  const unsigned first = self.index / kWarpSize * kWarpSize;
  Warp& w = b.warps[self.index / kWarpSize];
  const unsigned lanes = kWarpSize;  // launch() takes whole warps only
  if (live_threads(b, first, first + lanes) != lanes) {
    throw std::runtime_error("a warp-wide intrinsic ran while a lane of its warp had exited");
  }
  w.words[self.index % kWarpSize] = word;
  arrive(w.barrier, lanes, false);
  std::memcpy(self.received, w.words, sizeof(self.received));
  arrive(w.barrier, lanes, false);
  return self.received;
}

int barrier(bool predicate) {
  Block& b = block();
  arrive(b.barrier, live_threads(b, 0, b.shape.x), predicate);
  return b.barrier.result;
}

void launch(unsigned blocks, unsigned threads, const std::function<void()>& kernel) {
  if (threads == 0 || threads % kWarpSize != 0) {
    throw std::invalid_argument("emulated blocks are whole warps");
  }
  Block b;
  b.shape = {threads, 1, 1};
  b.grid = {blocks, 1, 1};
  b.kernel = &kernel;
  b.fibers.resize(threads);
  b.warps.resize(threads / kWarpSize);
  for (unsigned t = 0; t < threads; ++t) {
    b.fibers[t].index = t;
    b.fibers[t].stack.reset(new char[kStackBytes]);
  }
  std::mt19937_64 generator(schedule_seed);
  std::mt19937_64* const random = schedule_seed != 0 ? &generator : nullptr;
  std::vector<unsigned> block_order;
  order(block_order, blocks, random);
  Block* const outer = running;
  running = &b;
  try {
    for (const unsigned x : block_order) {
      b.index = {x, 0, 0};
      run_block(b, random);
    }
  } catch (...) {
    running = outer;
    throw;
  }
  running = outer;
}

void set_schedule(uint64_t seed) { schedule_seed = seed; }

}  // namespace cuda_emulation
