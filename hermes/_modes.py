"""Temporarily switch a module to eval mode and restore every submodule's own mode after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the ``with`` block, then restore each submodule's flag.

    Submodules may have been in mixed modes (e.g. a frozen backbone kept in eval inside a model
    in train mode); each one gets its own flag back, even if the block raises.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train()
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, flag in flags:
            m.training = flag
