"""Comparator networks on whole tensors: the engine behind the exact median filter.

A comparator network sorts (or selects from) ``n`` wires with a fixed sequence of
compare-exchange steps, each an elementwise ``torch.minimum`` / ``torch.maximum`` over whole
tensors. Because every step is branch-free and elementwise, one network run filters every pixel
of a batch at once, and the result is always exactly one of the input values.

Networks are built symbolically (:class:`NetworkBuilder`), then compiled to a :class:`Program`
that keeps only the steps an output depends on (a comparator whose maximum is never used costs
one ``torch.minimum``, not two) and frees each intermediate tensor after its last use.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["NetworkBuilder", "Program", "batcher_pairs"]


def batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort on ``n`` wires.

    Built for the next power of two and truncated (the missing wires act as ``+inf``), which
    keeps it a valid sorting network for any ``n``.

    Example:
        >>> batcher_pairs(3)
        [(0, 1), (0, 2), (1, 2)]
    """
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return pairs


@dataclass(frozen=True)
class Program:
    """A compiled network: steps over numbered tensor slots.

    Slots ``0 .. n_inputs - 1`` hold the inputs; step ``s`` writes slot ``n_inputs + s``.

    Attributes:
        n_inputs: number of input tensors.
        steps: ``(is_max, a, b)`` per step: ``maximum`` (or ``minimum``) of slots ``a`` and ``b``.
        frees: per step, the slots whose last use is that step.
        outputs: the slots returned, in order.
        used_inputs: the input slots any output depends on.
    """

    n_inputs: int
    steps: tuple[tuple[bool, int, int], ...]
    frees: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]
    used_inputs: frozenset[int]

    def __call__(self, inputs: list[torch.Tensor | None]) -> list[torch.Tensor]:
        """Run the program; ``inputs[i]`` may be ``None`` when ``i`` is not in ``used_inputs``."""
        slots: list[torch.Tensor | None] = list(inputs) + [None] * len(self.steps)
        for s, ((is_max, a, b), free) in enumerate(zip(self.steps, self.frees)):
            op = torch.maximum if is_max else torch.minimum
            slots[self.n_inputs + s] = op(slots[a], slots[b])
            for slot in free:
                slots[slot] = None
        return [slots[o] for o in self.outputs]  # type: ignore[misc]

    @property
    def cost(self) -> int:
        """Number of elementwise tensor operations per run."""
        return len(self.steps)

    @property
    def max_live(self) -> int:
        """Most intermediate (non-input) tensors held at once during a run."""
        live = peak = 0
        for free in self.frees:
            live += 1
            peak = max(peak, live)
            live -= sum(1 for slot in free if slot >= self.n_inputs)
        return peak


class NetworkBuilder:
    """Record compare-exchange steps symbolically, then :meth:`compile` what an output needs.

    Values are integers: ``0 .. n_inputs - 1`` are the inputs.

    Example:
        >>> import torch
        >>> net = NetworkBuilder(3)
        >>> wires = net.sort([0, 1, 2])
        >>> program = net.compile([wires[1]])          # the median of three
        >>> program.cost
        4
        >>> program([torch.tensor(5.0), torch.tensor(1.0), torch.tensor(3.0)])[0].item()
        3.0
    """

    def __init__(self, n_inputs: int) -> None:
        self.n_inputs = n_inputs
        self._nodes: list[tuple[bool, int, int]] = []

    def _node(self, is_max: bool, a: int, b: int) -> int:
        self._nodes.append((is_max, a, b))
        return self.n_inputs + len(self._nodes) - 1

    def compare(self, a: int, b: int) -> tuple[int, int]:
        """Return the values ``(min(a, b), max(a, b))``."""
        return self._node(False, a, b), self._node(True, a, b)

    def sort(self, wires: list[int]) -> list[int]:
        """Return the values of ``wires`` in ascending order (a Batcher network)."""
        wires = list(wires)
        for i, j in batcher_pairs(len(wires)):
            wires[i], wires[j] = self.compare(wires[i], wires[j])
        return wires

    def merge(self, a: list[int], b: list[int]) -> list[int]:
        """Merge two ascending lists of values (Batcher's odd-even merge, any lengths)."""
        if not a or not b:
            return list(a) + list(b)
        if len(a) == 1 and len(b) == 1:
            return list(self.compare(a[0], b[0]))
        even = self.merge(a[0::2], b[0::2])
        odd = self.merge(a[1::2], b[1::2])
        merged = [even[0]]
        i = 1
        while i < len(even) and i <= len(odd):
            merged += self.compare(odd[i - 1], even[i])
            i += 1
        return merged + even[i:] + odd[i - 1 :]

    def select(self, lists: list[list[int]], rank: int) -> int:
        """The value of 0-based ``rank`` in the union of ascending ``lists``.

        Before each merge, entries that cannot have that rank are dropped: in a list of length
        ``n``, with ``m`` entries in the other lists, position ``i`` has a rank between ``i`` and
        ``i + m``; the shortest lists are merged first.
        """
        lists = [list(values) for values in lists if values]
        while True:
            changed = True
            while changed:
                total = sum(map(len, lists))
                trimmed, below = [], 0
                for values in lists:
                    low = max(0, rank - (total - len(values)))
                    high = min(len(values) - 1, rank)
                    below += low
                    if high >= low:
                        trimmed.append(values[low : high + 1])
                changed = trimmed != lists
                lists, rank = trimmed, rank - below
            if len(lists) == 1:
                return lists[0][rank]
            lists.sort(key=len)
            lists = [self.merge(lists[0], lists[1]), *lists[2:]]

    def compile(self, outputs: list[int]) -> Program:
        """Keep the steps ``outputs`` depend on, number them in order and plan when to free."""
        n = self.n_inputs
        needed: set[int] = set()
        stack = list(outputs)
        while stack:
            value = stack.pop()
            if value in needed:
                continue
            needed.add(value)
            if value >= n:
                _, a, b = self._nodes[value - n]
                stack += [a, b]
        kept = sorted(v for v in needed if v >= n)
        slot = {v: v for v in range(n)}
        slot.update({v: n + s for s, v in enumerate(kept)})
        steps = tuple(
            (self._nodes[v - n][0], slot[self._nodes[v - n][1]], slot[self._nodes[v - n][2]])
            for v in kept
        )
        last_use: dict[int, int] = {}
        for s, (_, a, b) in enumerate(steps):
            last_use[a] = s
            last_use[b] = s
        keep = {slot[o] for o in outputs}
        frees: list[list[int]] = [[] for _ in steps]
        for value, s in last_use.items():
            if value not in keep:
                frees[s].append(value)
        return Program(
            n_inputs=n,
            steps=steps,
            frees=tuple(tuple(f) for f in frees),
            outputs=tuple(slot[o] for o in outputs),
            used_inputs=frozenset(v for v in needed if v < n),
        )
