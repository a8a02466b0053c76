"""Files hermes writes for later runs: atomic writes, and refusing files made with other settings.

- :func:`atomic_path` / :func:`write_atomic`: a file is written under a temporary name in its
  folder, flushed to disk (``fsync``) and renamed onto its name only when complete, so an
  interrupted run never leaves a truncated file behind. It gets the permissions a plain ``open``
  would give it (``0o666`` less the umask).
- :func:`check_unchanged`: what a file was made with (checkpoints, synthetic data sets, cached
  evaluation results) against what a rerun asks for; a difference raises a ``ValueError``
  naming each setting that changed, instead of silently reusing the file.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "settings.json"
    >>> write_atomic(path, b'{"epochs": 3}').read_text()
    '{"epochs": 3}'
    >>> check_unchanged({"epochs": 3}, {"epochs": 5}, "'run' was made with other settings", "delete it")
    Traceback (most recent call last):
    ...
    ValueError: 'run' was made with other settings: epochs 3 (now 5); delete it
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch

__all__ = ["atomic_path", "changed_keys", "check_unchanged", "same_value", "write_atomic"]

_MISSING = object()


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".partial") -> Iterator[Path]:
    """A temporary path next to ``path`` for the block to write; renamed onto ``path`` after it.

    When the block finishes, the temporary file is synced to disk, given the permissions of a
    freshly created file, and renamed onto ``path`` (replacing any file there). When the block
    raises, the temporary file is removed and ``path`` is left as it was.

    Args:
        path: the file to write; its folder must exist.
        suffix: end of the temporary file's name (``.{name}.{random}{suffix}``).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> target = Path(tempfile.mkdtemp()) / "data.bin"
        >>> with atomic_path(target) as partial:
        ...     _ = partial.write_bytes(b"abc")
        ...     target.exists()
        False
        >>> target.read_bytes()
        b'abc'
    """
    path = Path(path)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDWR)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's 0600 would hide it from other users
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` (bytes, or a function writing to a binary file) to ``path`` atomically.

    Example:
        >>> import tempfile, torch
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "t.pt"
        >>> _ = write_atomic(path, lambda file: torch.save(torch.ones(2), file))
        >>> torch.load(path, weights_only=True)
        tensor([1., 1.])
    """
    path = Path(path)
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        if isinstance(data, bytes):
            file.write(data)
        else:
            data(file)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def same_value(a: Any, b: Any) -> bool:
    """Equality of stored settings: same types, tensors by value, NaN equal to NaN.

    Example:
        >>> same_value(float("nan"), float("nan")), same_value(1, 1.0), same_value([1], (1,))
        (True, False, False)
    """
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(torch.equal(a.nan_to_num(), b.nan_to_num()))
            and bool(torch.equal(a.isnan(), b.isnan()))
        )
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_value, a, b))
    if a is _MISSING or b is _MISSING:
        return a is b
    return type(a) is type(b) and a == b


def changed_keys(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The keys whose values differ (a key on one side only counts), sorted.

    Example:
        >>> changed_keys({"seed": 0, "data": "a"}, {"seed": 0, "data": "b", "epochs": 2})
        ['data', 'epochs']
    """
    return [
        key
        for key in sorted(set(stored) | set(current), key=str)
        if not same_value(stored.get(key, _MISSING), current.get(key, _MISSING))
    ]


def check_unchanged(
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    subject: str,
    remedy: str,
    *,
    show_values: bool = True,
) -> None:
    """Raise ``ValueError("{subject}: {changes}; {remedy}")`` if any setting differs.

    Args:
        stored: the settings recorded with the file.
        current: the settings of this run.
        subject: what was made with other settings (``"checkpoint 'm.pt' was trained with other
            settings"``).
        remedy: what the user can do about it.
        show_values: list each change as ``key stored (now current)`` (``(unset)`` for a key on
            one side only); ``False``: the keys only, after ``changed:``.

    Example:
        >>> check_unchanged({"seed": 0}, {"seed": 1}, "cache_dir 'c' holds other results",
        ...                 "use another cache_dir", show_values=False)
        Traceback (most recent call last):
        ...
        ValueError: cache_dir 'c' holds other results (changed: seed); use another cache_dir
    """
    changed = changed_keys(stored, current)
    if not changed:
        return
    if show_values:
        detail = ", ".join(
            f"{key} {stored.get(key, '(unset)')!r} (now {current.get(key, '(unset)')!r})"
            for key in changed
        )
        raise ValueError(f"{subject}: {detail}; {remedy}")
    raise ValueError(f"{subject} (changed: {', '.join(changed)}); {remedy}")
