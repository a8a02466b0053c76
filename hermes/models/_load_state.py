"""Loading a backbone's weights into a model whose classification head may differ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from hermes.errors import WeightsError

__all__ = ["load_keeping_fresh_head"]


def load_keeping_fresh_head(
    model: nn.Module, state: Mapping[str, Any], head_prefix: str, target: str, source: str
) -> None:
    """Load ``state`` into ``model``; keep the model's fresh head when the given one does not fit.

    The head is every entry whose key starts with ``head_prefix`` (e.g. ``"fc."``). When the
    stored head has other shapes (another number of classes) it is dropped and the model keeps its
    own. Every other key must match: missing, unexpected or mis-shaped entries raise a
    :class:`~hermes.errors.WeightsError` naming ``source`` and ``target``. BatchNorm step counters
    (``num_batches_tracked``) may be absent, as in torchvision's older weight files; BatchNorm
    fills them in, as torchvision's own strict loading does.

    Example:
        >>> layer = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 3))
        >>> state = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 5)).state_dict()
        >>> load_keeping_fresh_head(layer, state, "1.", "a small net", "a test")
        >>> bool((layer[0].weight == state["0.weight"]).all())
        True
    """
    own = model.state_dict()
    state = dict(state)
    head_keys = [k for k in own if k.startswith(head_prefix)]
    if not all(k in state and state[k].shape == own[k].shape for k in head_keys):
        for key in [k for k in state if k.startswith(head_prefix)]:
            state.pop(key)
    missing = [
        k
        for k in own
        if k not in state and k not in head_keys and not k.endswith("num_batches_tracked")
    ]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                problems.append(f"{len(keys)} {label} key(s) such as {keys[:3]}")
        if mismatched:
            problems.append(f"{len(mismatched)} shape mismatch(es) such as {mismatched[:3]}")
        raise WeightsError(f"weights from {source} do not fit {target}: {'; '.join(problems)}")
    model.load_state_dict(state, strict=False)
