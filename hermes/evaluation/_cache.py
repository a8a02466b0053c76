"""Resumable on-disk results of an evaluation, one file per finished (attack, epsilon) unit.

``cache_dir/manifest.json`` records what every unit depends on (model weights, data, defenses,
seed, batch size, threat model). A later run with different values stops with an error naming
what changed instead of mixing results. Units are written atomically, so an interrupted run
never leaves a half-written file, and existing files are never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ResultCache", "describe", "fingerprint_module", "fingerprint_tensors"]


def describe(obj: Any) -> str:
    """A stable text description of a factory or module (memory addresses removed)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def fingerprint_tensors(*tensors: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(str((tuple(t.shape), t.dtype)).encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def fingerprint_module(module: nn.Module) -> str:
    state = module.state_dict()
    return hashlib.sha256(
        (describe(module) + "".join(fingerprint_tensors(v) for v in state.values())).encode()
    ).hexdigest()[:16]


class ResultCache:
    """Unit files under ``directory``, valid only for the ``manifest`` they were written with."""

    def __init__(self, directory: str | Path, manifest: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / "manifest.json"
        if path.exists():
            stored = json.loads(path.read_text())
            changed = sorted(
                k for k in set(stored) | set(manifest) if stored.get(k) != manifest.get(k)
            )
            if changed:
                raise ValueError(
                    f"cache_dir {str(self.directory)!r} holds results of a different evaluation "
                    f"(changed: {', '.join(changed)}); use another cache_dir or delete this one"
                )
        else:
            _atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True).encode())

    def _path(self, unit: dict[str, Any]) -> Path:
        key = hashlib.sha256(json.dumps(unit, sort_keys=True).encode()).hexdigest()[:16]
        return self.directory / f"unit-{key}.pt"

    def load(self, unit: dict[str, Any]) -> dict[str, Any] | None:
        path = self._path(unit)
        if not path.exists():
            return None
        stored = torch.load(path, weights_only=True)
        return stored if stored.get("unit") == json.dumps(unit, sort_keys=True) else None

    def save(self, unit: dict[str, Any], result: dict[str, Any]) -> None:
        path = self._path(unit)
        if path.exists():
            return
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({**result, "unit": json.dumps(unit, sort_keys=True)}, tmp)
        os.replace(tmp, path)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
