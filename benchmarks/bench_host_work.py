"""Host work per call: the instructions the CUDA operators' own host code runs
on every call, which the benchmarks' floor (an op of the same schema whose
kernel does nothing) does not run: the argument checks, the check that no
output shares memory with another tensor, the engine's model and buffers, and
its plan. Both take their tensors off the dispatcher's stack and release them
alike, so this is what a call costs the host beyond the floor's, less the
launch itself.

    python3 benchmarks/bench_host_work.py --build build [--calls 100] [--markdown out.md]

Counted by callgrind (valgrind) over the CPU emulation of the CUDA operators
(tests/emulation, built with the tests): the same checks, model, buffers and
plan as op/src/*/cuda.cu and step_metadata/launch.cu, compiled for the host,
around an emulated launch; no GPU needed. Each case runs in its own process
under callgrind (a minute or two each, mostly importing torch). Figures are
inclusive instructions per call of the named functions; "plan" is the rest
of the emulated operator's body less its launch, so it also holds the
emulation's own launch wrapper (about 0.2K).
"""
import argparse
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))

# name: (what it is, batch size)
CASES = {
    "decode": ("decode, every output", 1),
    "target_verify": ("target-verify (N = 4), every output", 8),
    "draft_extend": ("draft-extend with per-request lengths, every output", 8),
    "extend": ("extend, every output", 8),
    "fill_draft_extend": ("fill_draft_extend_metadata, with num_tokens", 8),
}
# Column: patterns of the functions it sums, and of those it subtracts.
CHECKS = [r"nsa_metadata::\w+::check_arguments\("]
NO_OVERLAP = [r"nsa_metadata::\w+::check_no_aliasing\("]
BUFFERS_AND_MODEL = [r"nsa_metadata::\w+::buffers_of\(", r"nsa_metadata::\w+::model_of\("]
PARTS = {
    "checks": (CHECKS, []),
    "no overlap": (NO_OVERLAP, []),
    "buffers and model": (BUFFERS_AND_MODEL, []),
    # The emulated operator's body less the parts above and the launch.
    "plan": ([r"nsa_metadata::emulation::\(anonymous namespace\)::fill_\w+_emulated\("],
             [*CHECKS, *NO_OVERLAP, *BUFFERS_AND_MODEL, r"cuda_emulation::launch\(",
              r"schedule_from_environment\("]),
}
LINE = re.compile(r"^\s*([\d,]+) \([^)]*\)\s+\S*?:(.*)$")


def emulated_ops(build):
    """torch.ops.nsa_metadata_emulated: the step and extend operators' schemas
    over the emulation library's kernels (as test_emulated_kernels.py)."""
    import torch
    torch.ops.load_library(str(build / "op" / "libnsa_metadata.so"))
    torch.ops.load_library(str(build / "tests" / "emulation" / "libnsa_metadata_emulation.so"))
    from helpers import define_like_ours
    library = torch.library.Library("nsa_metadata_emulated", "DEF")
    define_like_ours(library, ("fill_decode_metadata", "fill_target_verify_metadata",
                               "fill_draft_extend_metadata_full", "fill_extend_metadata",
                               "fill_draft_extend_metadata"))
    return torch.ops.nsa_metadata_emulated, library


def drive(build, name, calls):
    """Makes `calls` calls of case `name` (the process callgrind watches)."""
    import torch
    import extend_cases
    import step_cases
    ops, _library = emulated_ops(build)
    batch_size = CASES[name][1]
    if name == "fill_draft_extend":
        from inputs import draft_batch
        extend_seq_lens, seq_lens = draft_batch(batch_size, 1, 4, torch.Generator().manual_seed(0))
        capacity = 4 * batch_size
        arguments = (extend_seq_lens, seq_lens, 2048, torch.zeros(capacity, dtype=torch.int32),
                     torch.zeros(capacity, dtype=torch.int32))
        num_tokens = torch.zeros(1, dtype=torch.int64)
        for _ in range(calls):
            ops.fill_draft_extend_metadata(*arguments, num_tokens=num_tokens)
        return
    if name == "extend":
        case = extend_cases.random_extend_case(batch_size, 0, longest_prefix=200, width=256)
        outputs = extend_cases.poisoned_outputs(case)
    else:
        case = step_cases.random_step_case(name, batch_size, 0, width=256)
        names = step_cases.outputs_of(name)
        if name == "target_verify":
            names += ("paged_mqa_context_lens",)
        outputs = step_cases.poisoned_outputs(
            case, "cpu", names=names,
            num_tokens_dtype=torch.int64 if name == "draft_extend" else None)
    for _ in range(calls):
        case.call(namespace=ops, **outputs)


def inclusive_counts(profile):
    """Function name -> inclusive instructions, from callgrind_annotate."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
                          check=True, capture_output=True, text=True).stdout
    counts = {}
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            counts[match.group(2)] = int(match.group(1).replace(",", ""))
    return counts


def summed(counts, patterns):
    return sum(count for function, count in counts.items()
               if any(re.search(pattern, function) for pattern in patterns))


def measure(build, name, calls):
    """Per-call instructions of each part of PARTS for case `name`."""
    with tempfile.TemporaryDirectory() as folder:
        profile = os.path.join(folder, "callgrind.out")
        run = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}",
                              sys.executable, __file__, "--build", str(build), "--calls",
                              str(calls), "--drive", name], capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"{name}: the driven calls failed under callgrind:\n"
                             + run.stderr[-3000:])
        counts = inclusive_counts(profile)
    parts = {}
    for part, (added, subtracted) in PARTS.items():
        found = summed(counts, added)
        if found == 0:
            raise SystemExit(f"{name}: no function matches {added} in the profile")
        parts[part] = (found - summed(counts, subtracted)) / calls
    return parts


def table(results):
    header = ["case", "bs", *PARTS, "all"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, parts in results.items():
        what, batch_size = CASES[name]
        cells = [f"{parts[part] / 1000:.1f}K" for part in PARTS]
        lines.append(f"| {what} | {batch_size} | " + " | ".join(cells) +
                     f" | {sum(parts.values()) / 1000:.1f}K |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=pathlib.Path, default=HERE.parent / "build")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--markdown", type=pathlib.Path)
    parser.add_argument("--drive", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    build = args.build.resolve()
    if args.drive:
        drive(build, args.drive, args.calls)
        return
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        futures = {name: pool.submit(measure, build, name, args.calls) for name in CASES}
        results = {name: future.result() for name, future in futures.items()}
    output = ("Host instructions per call (callgrind over the CPU emulation of the CUDA "
              f"operators, {args.calls} calls a case)\n\n" + table(results))
    print(output)
    if args.markdown:
        args.markdown.write_text(output + "\n")


if __name__ == "__main__":
    main()
