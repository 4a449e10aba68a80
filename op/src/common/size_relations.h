// Comparisons of and arithmetic on sizes for the host checks, which the
// eager kernels run on plain sizes and the Meta kernels on sizes that may be
// symbolic (torch.compile, torch.export). c10's SymInt comparisons are calls
// into libc10 even for plain sizes (the guard each one ends in, and the whole
// operator where one side is an integer), on every call of every op. These
// decide plain sizes inline and leave symbolic ones to c10, as its operators
// do.
#pragma once

#include <c10/core/SymBool.h>
#include <c10/core/SymInt.h>

#include <cstdint>
#include <optional>

namespace nsa_metadata::sizes {

inline bool holds(const c10::SymBool& relation) {
  if (const std::optional<bool> known = relation.maybe_as_bool()) {
    return *known;
  }
  return relation.guard_bool(__FILE__, __LINE__);
}

inline bool equal(const c10::SymInt& a, const c10::SymInt& b) { return holds(a.sym_eq(b)); }
inline bool at_most(const c10::SymInt& a, const c10::SymInt& b) { return holds(a.sym_le(b)); }
inline bool at_least(const c10::SymInt& a, const c10::SymInt& b) { return holds(a.sym_ge(b)); }

// Arithmetic with an integer operand, which c10 also leaves out of line.
inline c10::SymInt plus(const c10::SymInt& a, int64_t b) { return a + c10::SymInt(b); }
inline c10::SymInt times(const c10::SymInt& a, int64_t b) { return a * c10::SymInt(b); }
inline c10::SymInt ceil_div(const c10::SymInt& a, int64_t b) {
  return (a + c10::SymInt(b - 1)) / c10::SymInt(b);
}

}  // namespace nsa_metadata::sizes
