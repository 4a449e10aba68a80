"""nsa-metadata from Python, the way a serving engine uses it.

A module owns the per-step buffers (allocated once, for the largest batch:
CUDA-graph replay needs fixed addresses) and refills them every step. It runs
eagerly, under torch.compile, and inside a captured CUDA graph when a GPU is
present; then it is saved for C++ in both forms C++ users load:

  <out>/draft_extend.ts        TorchScript (torch.jit.script + save)
  <out>/draft_extend.pt2       AOTInductor package of torch.export's program
  <out>/plain.ts               a TorchScript model that calls no nsa_metadata op
  <out>/cases.pt               demo inputs with the reference's outputs, so that
                               the C++ demo checks against the same reference
  <out>/step_metadata.ts       decode, target-verify and draft-extend metadata
  <out>/step_metadata.pt2      with page tables, and extend metadata
  <out>/step_cases.pt          (step_metadata_model.py): TorchScript, an
                               AOTInductor package, the reference's outputs

    python python_demo/demo.py --out build/demo     (with the package installed)
    python python_demo/demo.py --library build/op/libnsa_metadata.so --out build/demo
"""
import argparse
import importlib.util
import os
import pathlib
import sys
import warnings

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
import reference  # noqa: E402  (the one reference every test uses)
import step_metadata_model  # noqa: E402

NSA_INDEX_TOPK = 2048  # DeepSeek-V3.2
MAX_BATCH, MAX_DRAFT_TOKENS = 8, 4
CAPACITY = MAX_BATCH * MAX_DRAFT_TOKENS

# Steps of a speculative-decoding loop: (extend_seq_lens, seq_lens).
STEPS = [
    ([4, 4, 4], [3000, 17, 2]),  # the last row is a padded one: seq_len < extend
    ([1, 3, 2, 4, 1], [1, 2500, 40, 9000, 77]),
    ([4] * 8, [5000, 4, 3, 2, 1, 4100, 2049, 2047]),
]


class DraftExtendMetadata(torch.nn.Module):
    """Refills the draft-extend step's buffers in place and returns them."""

    def __init__(self, capacity: int = CAPACITY, nsa_index_topk: int = NSA_INDEX_TOPK):
        super().__init__()
        self.nsa_index_topk = nsa_index_topk
        self.register_buffer("seqlens_expanded", torch.zeros(capacity, dtype=torch.int32))
        self.register_buffer("nsa_cache_seqlens", torch.zeros(capacity, dtype=torch.int32))
        self.register_buffer("num_tokens", torch.zeros(1, dtype=torch.int64))

    def forward(self, extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor):
        torch.ops.nsa_metadata.fill_draft_extend_metadata(
            extend_seq_lens, seq_lens, self.nsa_index_topk, self.seqlens_expanded,
            self.nsa_cache_seqlens, num_tokens=self.num_tokens)
        return self.seqlens_expanded, self.nsa_cache_seqlens, self.num_tokens


class FunctionalDraftExtendMetadata(torch.nn.Module):
    """The functional form, which torch.export and AOTInductor prefer."""

    def __init__(self, capacity: int = CAPACITY, nsa_index_topk: int = NSA_INDEX_TOPK):
        super().__init__()
        self.capacity = capacity
        self.nsa_index_topk = nsa_index_topk

    def forward(self, extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor):
        return torch.ops.nsa_metadata.draft_extend_metadata(
            extend_seq_lens, seq_lens, self.nsa_index_topk, self.capacity)


class PlainModel(torch.nn.Module):
    """Calls no nsa_metadata op: what a C++ app must recognise and refuse."""

    def forward(self, extend_seq_lens: torch.Tensor, seq_lens: torch.Tensor):
        return extend_seq_lens + seq_lens


def step_inputs(step, device):
    extend, seq = STEPS[step]
    return (torch.tensor(extend, dtype=torch.int32, device=device),
            torch.tensor(seq, dtype=torch.int64, device=device))


def check(name, step, outputs):
    """Prints a step's outputs and whether they match the reference."""
    extend, seq = STEPS[step]
    want_expanded, want_cache, want_total = reference.fill_draft_extend_metadata(
        extend, seq, NSA_INDEX_TOPK, CAPACITY, CAPACITY)
    seqlens_expanded, nsa_cache_seqlens = outputs[0].tolist(), outputs[1].tolist()
    matches = seqlens_expanded == want_expanded and nsa_cache_seqlens == want_cache
    if len(outputs) > 2:
        matches = matches and outputs[2].item() == want_total
    total = sum(extend)
    print(f"[{name}] step {step}: extend_seq_lens={extend} seq_lens={seq}")
    print(f"    seqlens_expanded[:{total}]  = {seqlens_expanded[:total]}")
    print(f"    nsa_cache_seqlens[:{total}] = {nsa_cache_seqlens[:total]}")
    print(f"    {'matches' if matches else 'DOES NOT MATCH'} the reference")
    return matches


def run_eager(device):
    model = DraftExtendMetadata().to(device)
    return all(check("eager", step, model(*step_inputs(step, device)))
               for step in range(len(STEPS)))


def run_compiled(device):
    model = DraftExtendMetadata().to(device)
    compiled = torch.compile(model, fullgraph=True, dynamic=True)
    return all(check("torch.compile", step, compiled(*step_inputs(step, device)))
               for step in range(len(STEPS)))


def run_cuda_graph():
    """Captures one step at the largest batch, then replays it for each step
    with new values copied into the same input buffers; shorter batches are
    padded with rows that add no tokens."""
    model = DraftExtendMetadata().to("cuda")
    static_extend = torch.zeros(MAX_BATCH, dtype=torch.int32, device="cuda")
    static_seq = torch.zeros(MAX_BATCH, dtype=torch.int64, device="cuda")
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outputs = model(static_extend, static_seq)
    matches = True
    for step in range(len(STEPS)):
        extend, seq = step_inputs(step, "cuda")
        static_extend.zero_()
        static_seq.fill_(1)
        static_extend[:extend.numel()].copy_(extend)
        static_seq[:seq.numel()].copy_(seq)
        graph.replay()
        matches &= check("CUDA graph replay", step, outputs)
    return matches


def save_for_cpp(out):
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # torch 2.14 marks TorchScript deprecated (a FutureWarning) but runs it.
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(DraftExtendMetadata()).save(str(out / "draft_extend.ts"))
        torch.jit.script(PlainModel()).save(str(out / "plain.ts"))
        step_metadata_model.save(out)
    print(f"saved TorchScript: {out / 'draft_extend.ts'}")

    cases = []
    for step in range(len(STEPS)):
        extend, seq = STEPS[step]
        want_expanded, want_cache, want_total = reference.fill_draft_extend_metadata(
            extend, seq, NSA_INDEX_TOPK, CAPACITY, CAPACITY)
        cases.append({
            "extend_seq_lens": torch.tensor(extend, dtype=torch.int32),
            "seq_lens": torch.tensor(seq, dtype=torch.int64),
            "nsa_index_topk": torch.tensor(NSA_INDEX_TOPK),
            "seqlens_expanded": torch.tensor(want_expanded, dtype=torch.int32),
            "nsa_cache_seqlens": torch.tensor(want_cache, dtype=torch.int32),
            "num_tokens": torch.tensor([want_total], dtype=torch.int64),
        })
    torch.save(cases, out / "cases.pt")
    print(f"saved reference cases: {out / 'cases.pt'}")


def save_aoti_package(out, device):
    """torch.export with a dynamic batch, then an AOTInductor package for C++
    (this module's draft-extend model, then the step-metadata model)."""
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(
        FunctionalDraftExtendMetadata().to(device), step_inputs(0, device),
        dynamic_shapes=({0: batch}, {0: batch}))
    for step in range(len(STEPS)):
        if not check("torch.export", step, program.module()(*step_inputs(step, device))):
            return False
    path = torch._inductor.aoti_compile_and_package(
        program, package_path=str(out / "draft_extend.pt2"))
    loaded = torch._inductor.aoti_load_package(path)
    matches = all(check("AOTInductor (Python)", step, loaded(*step_inputs(step, device)))
                  for step in range(len(STEPS)))
    print(f"saved AOTInductor package ({device}): {path}")
    return step_metadata_model.save_aoti_package(out, device) and matches


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", help="a build tree's libnsa_metadata.so instead of the "
                        "installed package's (development)")
    parser.add_argument("--out", default=str(REPO / "build" / "demo"),
                        help="where the models for the C++ demo go")
    parser.add_argument("--no-aoti", action="store_true",
                        help="skip the AOTInductor packages (their compile takes a minute)")
    args = parser.parse_args()
    if args.library:
        os.environ["NSA_METADATA_LIBRARY"] = os.path.abspath(args.library)
        if importlib.util.find_spec("nsa_metadata") is None:
            sys.path.insert(0, str(REPO / "python"))  # the package's source
    import nsa_metadata  # loads the operators
    print(f"nsa_metadata {nsa_metadata.__version__}, library {nsa_metadata.library_path()}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, device {device}")

    matches = run_eager(device) and run_compiled(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript, as in save_for_cpp
        matches = step_metadata_model.run(device) and matches
    if device == "cuda":
        matches = run_cuda_graph() and matches
    out = pathlib.Path(args.out)
    save_for_cpp(out)
    if not args.no_aoti:
        matches = save_aoti_package(out, device) and matches
    print("python demo:", "all outputs match the reference" if matches else "MISMATCH")
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
