"""Timing helpers shared by every benchmark of the repo.

Conventions (docs/benchmarks.md): inputs are fresh random data rotated among
several sets (never zeros, never one buffer timed over and over); every figure
is a median; device work is timed with CUDA events or after a synchronize.
"""
import statistics
import time

import torch


def median_us(samples_s):
    return statistics.median(samples_s) * 1e6


# Decided once: asking whether CUDA is available costs host time, which would
# be added to every timed call.
_synchronize = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)


# Calls are timed in turns of several calls each: TURN_SETTLE untimed calls,
# then TURN_TIMED timed ones. Turns rather than single calls alternating:
# right after a heavy peer (the engine loop allocates and syncs hundreds of
# times per call), the next calls find the host cold, which measures the peer
# before them, not the call. On the GPU machine ours took 57, 17, 16, 15,
# 14.5, 14.4, 14.1, 13.8 us in the calls after an engine-loop turn, against
# 14.0 in steady state. Turns still alternate
# every few milliseconds, so drift of the host over a run (up to 2x on the
# GPU machine) hits all the calls alike.
TURN_SETTLE = 8
TURN_TIMED = 15


def _turns(calls, round_index):
    """The calls in the order of one round; the order flips every round so
    that no call always runs right after the same other one."""
    turns = list(calls.items())
    return turns if round_index % 2 == 0 else turns[::-1]


def _timed_in_turns(calls, input_sets, repeats, warmup, time_one, after_turn, settle, timed):
    """Median of `repeats` samples of time_one(call, inputs) for each of
    `calls` (name -> callable), taken in turns of `settle` untimed and `timed`
    timed calls (see TURN_SETTLE). after_turn(n) runs after the n-th turn."""
    for k in range(warmup):
        for call in calls.values():
            call(*input_sets[k % len(input_sets)])
    _synchronize()
    samples = {name: [] for name in calls}
    k = 0
    turn_count = 0
    round_index = 0
    while min(len(times) for times in samples.values()) < repeats:
        for name, call in _turns(calls, round_index):
            for i in range(settle + timed):
                seconds = time_one(call, input_sets[k % len(input_sets)])
                k += 1
                if i >= settle:
                    samples[name].append(seconds)
            turn_count += 1
            after_turn(turn_count)
        round_index += 1
    return {name: median_us(times[:repeats]) for name, times in samples.items()}


def latency_s(call, inputs):
    """Wall time of one call followed by a synchronize, in seconds."""
    start = time.perf_counter()
    call(*inputs)
    _synchronize()
    return time.perf_counter() - start


def _issue_s(call, inputs):
    start = time.perf_counter()
    call(*inputs)
    return time.perf_counter() - start


def latencies_with_sync(calls, input_sets, repeats=300, warmup=30, settle=TURN_SETTLE,
                        timed=TURN_TIMED):
    """Median wall time of one call followed by a synchronize, for each of
    `calls` (name -> callable), timed in turns so that how they compare is
    not at the mercy of when each was measured. Calls that leave the host as
    they found it can take turns call by call (settle=0, timed=1), which
    follows the host's drift most closely."""
    return _timed_in_turns(calls, input_sets, repeats, warmup, latency_s, lambda _: None,
                           settle, timed)


def latency_with_sync(call, input_sets, repeats=300, warmup=30):
    """Median wall time of one call followed by a synchronize."""
    return latencies_with_sync({"call": call}, input_sets, repeats, warmup)["call"]


def issue_costs(calls, input_sets, repeats=300, warmup=30, settle=TURN_SETTLE, timed=TURN_TIMED):
    """Median host time to issue one call, without synchronizing after it, for
    each of `calls`, timed in turns like latencies_with_sync.

    The queue is drained (outside the timed region) every few turns, so that
    a full launch queue never blocks the host inside the measurement.
    """
    def drain_every_32_turns(turn_count):
        if turn_count % 32 == 0:
            _synchronize()

    return _timed_in_turns(calls, input_sets, repeats, warmup, _issue_s, drain_every_32_turns,
                           settle, timed)


def _graph_of_launches(call, inputs, launches):
    """`launches` calls captured in one CUDA graph (after a warm-up call)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        call(*inputs)  # warm-up outside the capture
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(launches):
            call(*inputs)
    return graph


def gpu_time_in_graph(call, inputs, launches=100, replays=20):
    """GPU time of one call: `launches` calls captured in one CUDA graph, the
    graph replayed between CUDA events, the median replay divided by `launches`."""
    return _median_replay_us(_graph_of_launches(call, inputs, launches), replays) / launches


# GPU times of peers are taken in rounds: each round replays every peer's
# graph a few times, in an order that flips every round. A small call's GPU
# time moves by up to 10% over seconds (clocks, the other tenants of the
# host); timed one peer after the other, that drift lands on whichever peer
# ran then, while in rounds it lands on all of them alike.
GPU_ROUNDS = 8
GPU_REPLAYS_PER_TURN = 4


def gpu_times_in_graphs(calls, inputs, launches=20, rounds=GPU_ROUNDS,
                        replays=GPU_REPLAYS_PER_TURN):
    """GPU time of one call for each of `calls` (name -> callable), as
    gpu_time_in_graph measures it, the peers' replays taken in rounds: the
    median of rounds * replays replays, divided by `launches`."""
    graphs = {name: _graph_of_launches(call, inputs, launches) for name, call in calls.items()}
    for graph in graphs.values():
        graph.replay()
    torch.cuda.synchronize()
    samples = {name: [] for name in graphs}
    for round_index in range(rounds):
        for name, graph in _turns(graphs, round_index):
            samples[name] += _event_times_s(graph.replay, replays)
    return {name: median_us(times) / launches for name, times in samples.items()}


def graph_replay_cost(call, inputs, replays=200):
    """Median time of replaying a graph that holds one call (events around it)."""
    graph = torch.cuda.CUDAGraph()
    call(*inputs)
    torch.cuda.synchronize()
    with torch.cuda.graph(graph):
        call(*inputs)
    return _median_replay_us(graph, replays)


def _median_replay_us(graph, replays):
    graph.replay()
    torch.cuda.synchronize()
    return median_us(_event_times_s(graph.replay, replays))


def _event_times_s(work, repeats):
    """Seconds each of `repeats` runs of work() took on the GPU, timed with
    CUDA events recorded around it on the current stream."""
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e-3)
    return samples


def device_copy_bandwidth(nbytes=2 * 1024**3, repeats=20):
    """Device-to-device copy bandwidth, counting bytes read plus bytes written."""
    source = torch.empty(nbytes // 4, dtype=torch.int32, device="cuda").random_()
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    return 2 * nbytes / statistics.median(_event_times_s(lambda: target.copy_(source), repeats))


def fan_out_copy_us(read_elements, written_elements):
    """GPU time of a plain kernel moving a traffic mix with nothing to gather:
    nsa_metadata_bench.copy_fan_out (benchmarks/peers/peers.cu, whose library
    the benchmark has loaded) reading `read_elements` int32s once and writing
    `written_elements`, each rounded up to whole 16-byte vectors."""
    read = -(-max(read_elements, 1) // 4) * 4
    written = max(-(-written_elements // 4) * 4, read)
    source = torch.randint(0, 1 << 24, (read,), dtype=torch.int32, device="cuda")
    destination = torch.empty(written, dtype=torch.int32, device="cuda")
    time_us = gpu_time_in_graph(torch.ops.nsa_metadata_bench.copy_fan_out,
                                (source, destination), launches=20)
    del source, destination
    torch.cuda.empty_cache()
    return time_us


def format_table(headers, rows):
    """A Markdown table, columns padded so it reads in a terminal too."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[c]) for row in cells) for c in range(len(headers))]
    lines = ["| " + " | ".join(v.rjust(w) for v, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)
