"""Resumable on-disk results of an evaluation, one file per finished (attack, epsilon) unit.

``cache_dir/manifest.json`` records what every unit depends on (model weights, data, defenses,
seed, batch size, threat model). A later run with different values stops with an error naming
what changed instead of mixing results. Units are written atomically, so an interrupted run
never leaves a half-written file, and existing files are never overwritten.

Under ``torch.distributed`` a unit may be split into parts (runs of batches) computed by several
ranks; each part is kept as ``part-*.pt`` until the whole unit is written, so a rerun that
splits the same way reuses finished parts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hermes._files import check_unchanged, write_atomic
from hermes.errors import CacheError

__all__ = [
    "ResultCache",
    "describe",
    "factory_identity",
    "fingerprint_module",
    "fingerprint_tensors",
]

_PLAIN = (int, float, complex, str, bytes, bool, type(None))
_MAX_DEPTH = 5


def describe(obj: Any) -> str:
    """A stable text description of a factory or module (memory addresses removed)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def factory_identity(obj: Any, _depth: int = 0) -> str:
    """Text that tells apart attack factories that would compute different attacks.

    ``repr`` is not enough: every lambda reads ``<function <lambda>>``, and closures made by one
    function look alike whatever they captured. For a function this covers its name, its
    bytecode and constants (nested functions included), its default arguments, what its closure
    cells hold and the plain values (numbers, strings) of the globals it reads; for a
    ``functools.partial``, its function and arguments; for an object with the default ``repr``,
    its attributes. Memory addresses never enter it.

    Example:
        >>> f, g = (lambda m, e: (m, e, 1)), (lambda m, e: (m, e, 2))
        >>> factory_identity(f) == factory_identity(g), describe(f) == describe(g)
        (False, True)
    """
    if _depth > _MAX_DEPTH:
        return describe(obj)
    deeper = functools.partial(factory_identity, _depth=_depth + 1)
    if isinstance(obj, _PLAIN) or isinstance(obj, type):
        return repr(obj)
    if isinstance(obj, (list, tuple)):
        return f"{type(obj).__name__}({', '.join(deeper(v) for v in obj)})"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{deeper(k)}: {deeper(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, functools.partial):
        keywords = ", ".join(f"{k}={deeper(v)}" for k, v in sorted(obj.keywords.items()))
        return f"partial({deeper(obj.func)}; {deeper(obj.args)}; {keywords})"
    if isinstance(obj, types.MethodType):
        return f"method({deeper(obj.__func__)} of {deeper(obj.__self__)})"
    if isinstance(obj, types.FunctionType):
        code = obj.__code__
        cells = [_cell(c, deeper) for c in obj.__closure__ or ()]
        plain_globals = sorted(
            f"{name}={obj.__globals__[name]!r}"
            for name in _global_names(code)
            if name in obj.__globals__ and isinstance(obj.__globals__[name], _PLAIN)
        )
        return (
            f"function({obj.__module__}.{obj.__qualname__}; code {_code_digest(code)}; "
            f"defaults {deeper(obj.__defaults__)}; {deeper(obj.__kwdefaults__)}; "
            f"closure {', '.join(cells)}; globals {', '.join(plain_globals)})"
        )
    text = describe(obj)
    if type(obj).__repr__ is object.__repr__ and hasattr(obj, "__dict__"):
        text += " " + deeper(dict(sorted(vars(obj).items())))
    return text


def _cell(cell: Any, deeper: Any) -> str:
    try:
        return deeper(cell.cell_contents)
    except ValueError:  # a cell not yet filled
        return "<empty>"


def _code_digest(code: types.CodeType) -> str:
    digest = hashlib.sha256(code.co_code)
    digest.update(repr(code.co_names).encode())
    for const in code.co_consts:
        text = _code_digest(const) if isinstance(const, types.CodeType) else repr(const)
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


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
        text = json.dumps(manifest, indent=1, sort_keys=True)
        if path.exists():
            check_unchanged(
                _read_manifest(path),
                json.loads(text),  # compared as stored: tuples as lists, float subclasses as floats
                f"cache_dir {str(self.directory)!r} holds results of a different evaluation",
                "use another cache_dir or delete this one",
                show_values=False,
            )
        else:
            write_atomic(path, text.encode())

    def _path(self, unit: dict[str, Any]) -> Path:
        key = hashlib.sha256(json.dumps(unit, sort_keys=True).encode()).hexdigest()[:16]
        return self.directory / f"{'part' if 'batches' in unit else 'unit'}-{key}.pt"

    def load(
        self, unit: dict[str, Any], part: tuple[int, int] | None = None
    ) -> dict[str, Any] | None:
        """The stored result of ``unit`` (of its batches ``part[0]`` to ``part[1] - 1`` when
        ``part`` is given), or None when it must be computed.

        A unit file that cannot be read (truncated by a crash of the machine, edited) or that
        holds another unit is removed with a warning, so the unit is recomputed and written anew:
        every unit can be recomputed from the manifest's inputs, so nothing is lost.
        """
        unit = _with_part(unit, part)
        path = self._path(unit)
        if not path.exists():
            return None
        try:
            stored = torch.load(path, weights_only=True)
            valid = isinstance(stored, dict) and stored.get("unit") == json.dumps(
                unit, sort_keys=True
            )
            problem = "holds another unit or no unit at all"
        except Exception as error:  # a damaged file: torch raises RuntimeError, EOFError, ...
            first_line = (str(error).strip().splitlines() or [""])[0]
            valid, problem = False, f"cannot be read ({type(error).__name__}: {first_line})"
        if valid:
            return stored
        warnings.warn(
            f"cache_dir unit file {str(path)!r} {problem}; recomputing that unit",
            RuntimeWarning,
            stacklevel=3,
        )
        path.unlink(missing_ok=True)
        return None

    def save(
        self, unit: dict[str, Any], result: dict[str, Any], part: tuple[int, int] | None = None
    ) -> None:
        unit = _with_part(unit, part)
        path = self._path(unit)
        if path.exists():
            return
        stored = {**result, "unit": json.dumps(unit, sort_keys=True)}
        write_atomic(path, lambda file: torch.save(stored, file))

    def remove(self, unit: dict[str, Any], part: tuple[int, int] | None = None) -> None:
        """Delete the stored result of ``unit`` (or of its ``part``), if any."""
        self._path(_with_part(unit, part)).unlink(missing_ok=True)

    def prune_parts(self, units: list[dict[str, Any]]) -> None:
        """Delete every part file of these (finished) units, whatever its batches: parts left by
        an interrupted run that the rerun split another way. Unreadable part files go too."""
        wanted = {json.dumps(unit, sort_keys=True) for unit in units}
        for path in self.directory.glob("part-*.pt"):
            try:
                stored = json.loads(torch.load(path, weights_only=True)["unit"])
                stored.pop("batches")
                stale = json.dumps(stored, sort_keys=True) in wanted
            except Exception:  # damaged: of no use to any run
                stale = True
            if stale:
                path.unlink(missing_ok=True)


def _with_part(unit: dict[str, Any], part: tuple[int, int] | None) -> dict[str, Any]:
    return unit if part is None else {**unit, "batches": [int(part[0]), int(part[1])]}


def _read_manifest(path: Path) -> dict[str, Any]:
    """The stored manifest, or a CacheError naming the file and what to do when it is damaged."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        stored, reason = None, f"{type(error).__name__}: {error}"
    else:
        reason = f"a JSON {type(stored).__name__}, not an object"
    if not isinstance(stored, dict):
        raise CacheError(
            f"cache_dir manifest {str(path)!r} is damaged ({reason}); it says which evaluation "
            f"every unit file in {str(path.parent)!r} belongs to, so delete that folder (or use "
            "another cache_dir) and run again"
        )
    return stored
