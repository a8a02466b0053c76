"""The comparator networks behind the median filter, checked exhaustively on 0-1 inputs.

A comparator network sorts (merges, selects) every input iff it does so for every input of
zeros and ones (Knuth's 0-1 principle), so small sizes can be checked completely.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from hermes.defenses._sorting import NetworkBuilder, batcher_pairs


@pytest.mark.parametrize("n", range(1, 13))
def test_batcher_networks_sort_every_zero_one_input(n: int) -> None:
    pairs = batcher_pairs(n)
    for bits in itertools.product((0, 1), repeat=n):
        wires = list(bits)
        for i, j in pairs:
            assert i < j
            wires[i], wires[j] = min(wires[i], wires[j]), max(wires[i], wires[j])
        assert wires == sorted(bits)


def test_batcher_sizes_are_the_known_ones() -> None:
    # Batcher's odd-even merge sort: 3, 9, 16, 19 and 63 comparators for 3, 5, 7, 8 and 16 wires.
    assert [len(batcher_pairs(n)) for n in (3, 5, 7, 8, 16)] == [3, 9, 16, 19, 63]


@pytest.mark.parametrize(("p", "q"), [(1, 1), (2, 3), (5, 4), (7, 7), (1, 9), (10, 3)])
def test_merge_of_sorted_lists(p: int, q: int) -> None:
    net = NetworkBuilder(p + q)
    merged = net.merge(list(range(p)), list(range(p, p + q)))
    program = net.compile(merged)
    for i in range(p + 1):  # every pair of sorted 0-1 lists
        for j in range(q + 1):
            a = [0] * (p - i) + [1] * i
            b = [0] * (q - j) + [1] * j
            inputs = [torch.tensor(float(v)) for v in a + b]
            assert [float(v) for v in program(inputs)] == sorted(a + b)


def test_select_and_compile_prune_to_what_the_output_needs() -> None:
    g = torch.Generator().manual_seed(0)
    lists = [sorted(torch.rand(n, generator=g).tolist()) for n in (4, 2, 5, 3)]
    flat = [v for values in lists for v in values]
    starts = list(itertools.accumulate([0] + [len(v) for v in lists]))
    for rank in range(len(flat)):
        net = NetworkBuilder(len(flat))
        value = net.select([list(range(s, s + len(v))) for s, v in zip(starts, lists)], rank)
        program = net.compile([value])
        result = program([torch.tensor(v) for v in flat])[0]
        assert float(result) == sorted(flat)[rank]
        assert program.cost < 2 * len(batcher_pairs(len(flat)))  # cheaper than sorting all


def test_program_frees_intermediates_and_reports_liveness() -> None:
    net = NetworkBuilder(5)
    wires = net.sort(list(range(5)))
    median = net.compile([wires[2]])
    everything = net.compile(wires)
    assert median.cost < everything.cost == 2 * 9
    assert median.used_inputs == frozenset(range(5))
    # Liveness worked out from the steps alone: an intermediate lives from the step that makes it
    # to its last use (outputs to the end). Freeing must keep fewer alive than it makes.
    n, steps = median.n_inputs, median.steps
    last = {n + s: s for s in range(len(steps))}
    for s, (_, a, b) in enumerate(steps):
        last.update({v: s for v in (a, b) if v >= n})
    last.update({o: len(steps) - 1 for o in median.outputs})
    peak = max(sum(1 for v, end in last.items() if v - n <= s <= end) for s in range(len(steps)))
    assert median.max_live == peak < median.cost
    values = torch.rand(5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(median(list(values))[0], values.median(dim=0).values)
