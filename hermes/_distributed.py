"""What hermes needs from ``torch.distributed``, in one place for training and evaluation.

hermes never starts a process group itself: the user's script (``dist.init_process_group``) or
``torchrun`` does. Every helper here also works without one, as a single process of rank 0 in a
world of 1, so code written with them runs unchanged with and without ``torchrun``:

- :func:`get_rank`, :func:`get_world_size`, :func:`get_local_rank`, :func:`is_main_process`;
- :func:`rank_device`: the device a rank should compute on (``cuda:LOCAL_RANK`` under NCCL);
- :func:`barrier`, :func:`all_gather_object`, :func:`broadcast_object` and :func:`main_first`
  (rank 0 does something, such as writing a file, before the others): object collectives set
  the CUDA device NCCL needs, so they work on both backends;
- :func:`patient_group`: a CPU (gloo) group whose collectives wait hours, not the default
  process group's minutes, for ranks that finish their share of a long job early;
- :func:`balanced_split` / :func:`shard`: a deterministic split of work items by their cost;
- :func:`distributed_sampler` and :func:`wrap_model` for training with
  ``DistributedDataParallel``.

Example:
    >>> get_rank(), get_world_size(), is_main_process()  # no process group: one process
    (0, 1, True)
    >>> shard(["a", "b", "c"])
    ['a', 'b', 'c']
    >>> balanced_split([5.0, 1.0, 4.0, 2.0], 2)
    [[0, 1], [2, 3]]
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch
from torch import nn

from hermes._validation import check_positive_int

__all__ = [
    "all_gather_object",
    "balanced_split",
    "barrier",
    "broadcast_object",
    "distributed_sampler",
    "get_local_rank",
    "get_rank",
    "get_world_size",
    "is_distributed",
    "is_main_process",
    "main_first",
    "patient_group",
    "rank_device",
    "shard",
    "wrap_model",
]

T = TypeVar("T")


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is initialised in this process.

    Example:
        >>> is_distributed()
        False
    """
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank: 0 without a process group.

    Example:
        >>> get_rank()
        0
    """
    return torch.distributed.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """How many processes take part: 1 without a process group.

    Example:
        >>> get_world_size()
        1
    """
    return torch.distributed.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Whether this is rank 0, the process that writes shared files and logs.

    Example:
        >>> is_main_process()
        True
    """
    return get_rank() == 0


def get_local_rank() -> int:
    """This process's rank on its machine: ``LOCAL_RANK`` (which ``torchrun`` sets), else the
    global rank modulo the visible CUDA devices (0 without CUDA or without a process group).

    Raises:
        ValueError: ``LOCAL_RANK`` is set but not an integer >= 0.

    Example:
        >>> import os
        >>> "LOCAL_RANK" in os.environ or get_local_rank() == 0
        True
    """
    text = os.environ.get("LOCAL_RANK")
    if text is None:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return get_rank() % count if count else 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"environment variable LOCAL_RANK must be an integer >= 0; got {text!r}")
    return value


def _uses_nccl() -> bool:
    return is_distributed() and "nccl" in str(torch.distributed.get_backend()).lower()


def rank_device() -> torch.device:
    """The device this rank computes on by default.

    Under an NCCL process group: the CUDA device bound with ``init_process_group(device_id=...)``
    if any, else ``cuda:LOCAL_RANK`` (modulo the visible devices, so one GPU made visible per
    process with ``CUDA_VISIBLE_DEVICES`` is ``cuda:0``). Otherwise (gloo, or no process group):
    the CPU.

    Example:
        >>> rank_device()
        device(type='cpu')
    """
    if not _uses_nccl():
        return torch.device("cpu")
    bound = getattr(torch.distributed.group.WORLD, "bound_device_id", None)
    if bound is not None:
        return torch.device(bound)
    return torch.device("cuda", get_local_rank() % max(torch.cuda.device_count(), 1))


@contextlib.contextmanager
def _collective_device() -> Iterator[None]:
    """Make this rank's GPU the current CUDA device for the block when NCCL carries object
    collectives (they stage pickled objects on ``torch.cuda.current_device()``; left at its
    default every rank would use ``cuda:0``)."""
    if _uses_nccl():
        with torch.cuda.device(rank_device()):
            yield
    else:
        yield


def barrier() -> None:
    """Wait until every rank gets here; nothing to wait for without a process group.

    Example:
        >>> barrier()
    """
    if get_world_size() == 1:
        return
    if _uses_nccl():
        torch.distributed.barrier(device_ids=[rank_device().index or 0])
    else:
        torch.distributed.barrier()


def all_gather_object(obj: T, group: Any = None) -> list[T]:
    """Every rank's ``obj`` (any picklable object), in rank order, on every rank.

    Tensors inside ``obj`` should be on the CPU: they are pickled, sent and unpickled.

    Args:
        obj: this rank's object.
        group: a process group of all ranks (such as :func:`patient_group`'s); default: the
            default group.

    Example:
        >>> all_gather_object({"units": [1, 2]})
        [{'units': [1, 2]}]
    """
    if get_world_size() == 1:
        return [obj]
    gathered: list[Any] = [None] * get_world_size()
    if group is not None:
        torch.distributed.all_gather_object(gathered, obj, group=group)
        return gathered
    with _collective_device():
        torch.distributed.all_gather_object(gathered, obj)
    return gathered


@contextlib.contextmanager
def patient_group(timeout: timedelta = timedelta(hours=24)) -> Iterator[Any]:
    """A gloo process group of all ranks whose collectives wait up to ``timeout``.

    The default process group gives up on a collective after minutes (10 for NCCL, 30 for gloo,
    unless ``init_process_group(timeout=...)`` says otherwise). A rank that finishes its share of
    an hours-long job early waits that long for the others, so gather the results through this
    group. It carries CPU objects (no CUDA device involved) and is destroyed after the block.
    Every rank must enter the block. Yields ``None`` in a single process.

    Example:
        >>> with patient_group() as group:
        ...     all_gather_object("done", group)
        ['done']
    """
    if get_world_size() == 1:
        yield None
        return
    group = torch.distributed.new_group(backend="gloo", timeout=timeout)
    try:
        yield group
    finally:
        torch.distributed.destroy_process_group(group)


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (the other ranks' ``obj`` is ignored).

    Example:
        >>> broadcast_object("from rank 0")
        'from rank 0'
    """
    if get_world_size() == 1:
        return obj
    box = [obj]
    with _collective_device():
        torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def main_first(function: Callable[[], T]) -> T:
    """Call ``function`` on rank 0, then on the other ranks; return each rank's own result.

    For work whose result the other ranks read, such as writing a file they then open. If it
    raises on rank 0, the other ranks raise a ``RuntimeError`` carrying rank 0's message instead
    of calling it (and instead of waiting forever).

    Example:
        >>> main_first(lambda: 42)
        42
    """
    if get_world_size() == 1:
        return function()
    failure = None
    if is_main_process():
        try:
            result = function()
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"
            broadcast_object(failure)
            raise
        broadcast_object(failure)
        return result
    failure = broadcast_object(failure)
    if failure is not None:
        raise RuntimeError(f"rank 0 failed, so rank {get_rank()} stops too: {failure}")
    return function()


def balanced_split(costs: Sequence[float], parts: int) -> list[list[int]]:
    """Split item indices into ``parts`` groups of about equal total cost, deterministically.

    Longest processing time first: items in order of decreasing cost (ties: lower index first)
    each go to the group with the least cost so far (ties: the lower group). The largest group
    costs at most 4/3 of the best possible split. Each group lists its indices in increasing
    order; with equal costs this is a round robin.

    Args:
        costs: the cost of each item, finite and ``>= 0``.
        parts: the number of groups (ranks), ``>= 1``.

    Returns:
        ``parts`` lists of indices into ``costs``; together they hold every index once.

    Raises:
        ValueError: a cost is negative or not finite, or ``parts < 1``.

    Example:
        >>> balanced_split([1, 1, 1, 1, 1], 2)
        [[0, 2, 4], [1, 3]]
        >>> balanced_split([1, 8, 1, 1], 2)
        [[1], [0, 2, 3]]
    """
    parts = check_positive_int(parts, "parts")
    values = []
    for i, cost in enumerate(costs):
        value = float(cost)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"costs[{i}] must be a finite number >= 0; got {cost!r}")
        values.append(value)
    loads = [0.0] * parts
    groups: list[list[int]] = [[] for _ in range(parts)]
    for i in sorted(range(len(values)), key=lambda i: (-values[i], i)):
        target = min(range(parts), key=lambda p: (loads[p], p))
        loads[target] += values[i]
        groups[target].append(i)
    return [sorted(group) for group in groups]


def shard(items: Sequence[T], costs: Sequence[float] | None = None) -> list[T]:
    """This rank's share of ``items`` under :func:`balanced_split` (equal costs by default).

    Every rank must pass the same ``items`` and ``costs``; the shares of all ranks together hold
    each item once.

    Example:
        >>> shard(range(4), costs=[3, 1, 1, 1])
        [0, 1, 2, 3]
    """
    if costs is None:
        costs = [1.0] * len(items)
    elif len(costs) != len(items):
        raise ValueError(
            f"costs must have one entry per item ({len(items)}); got {len(costs)} entries"
        )
    return [items[i] for i in balanced_split(costs, get_world_size())[get_rank()]]


def distributed_sampler(
    dataset: Any, *, shuffle: bool = True, seed: int = 0, drop_last: bool = False
) -> torch.utils.data.Sampler | None:
    """A ``DistributedSampler`` giving this rank its share of ``dataset``, or ``None`` without a
    process group of more than one rank (then let the ``DataLoader`` shuffle as usual).

    Call ``sampler.set_epoch(epoch)`` at the start of every epoch so each epoch is shuffled
    anew (the same way on every rank).

    Example:
        >>> distributed_sampler(list(range(10))) is None
        True
    """
    if get_world_size() == 1:
        return None
    return torch.utils.data.DistributedSampler(
        dataset,
        num_replicas=get_world_size(),
        rank=get_rank(),
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )


def wrap_model(model: nn.Module, **ddp_options: Any) -> nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` for training under a process group of more
    than one rank; ``model`` itself otherwise. Move the model to :func:`rank_device` first.

    Example:
        >>> from torch import nn
        >>> model = nn.Linear(2, 1)
        >>> wrap_model(model) is model
        True
    """
    if get_world_size() == 1:
        return model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type == "cuda":
        ddp_options.setdefault("device_ids", [device.index])
    return nn.parallel.DistributedDataParallel(model, **ddp_options)
