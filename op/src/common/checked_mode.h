// Opt-in checked mode for the CUDA kernels, a debugging aid in the spirit of
// CUDA_LAUNCH_BLOCKING: with NSA_METADATA_CHECKED=1 in the environment, a CUDA
// call synchronizes after its launch and raises the error the CPU kernel
// would raise for the same data, instead of writing the device's defined
// result silently. It costs a host synchronization per call and cannot be
// used while a CUDA graph is being captured.
#pragma once

namespace nsa_metadata {

// Read once, at the first call that asks: a getenv costs up to ~0.5 us on a
// host with a large environment (measured on the H100 machine), half of what
// a call may add over an empty launch. Set the variable before the process
// makes its first call.
bool checked_mode_enabled();

}  // namespace nsa_metadata
