"""Where PCam files live: file names, the layouts searched, and one-time ``.h5.gz`` decompression."""

from __future__ import annotations

import gzip
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

from hermes._files import atomic_path
from hermes._validation import check_choice
from hermes.errors import DataFileError

__all__ = [
    "DOWNLOAD_HINT",
    "SPLITS",
    "check_split",
    "decompress_once",
    "file_name",
    "find_split_files",
    "resolve_path",
]

SPLITS = ("train", "valid", "test")
_ALIASES = {"val": "valid"}  # torchvision's name for the validation split

# (description, sub-folder of root) in the order they are searched.
LAYOUTS = (("the original release (root/)", ""), ("torchvision's layout (root/pcam/)", "pcam"))

DOWNLOAD_HINT = (
    "PatchCamelyon is at https://github.com/basveeling/pcam and on Zenodo "
    "(https://zenodo.org/records/2546921); the .h5.gz files can stay gzipped (hermes decompresses "
    "them once, next to the download). For a synthetic stand-in in the same format, use "
    "hermes.data.make_synthetic_pcam(root, ...)."
)


def check_split(split: Any) -> str:
    """Return the canonical split name (``"val"`` is accepted for ``"valid"``)."""
    if isinstance(split, str) and split in _ALIASES:
        return _ALIASES[split]
    return check_choice(split, "split", (*SPLITS, *_ALIASES))


def file_name(split: str, kind: str) -> str:
    """The release's file name, e.g. ``camelyonpatch_level_2_split_test_x.h5``."""
    return f"camelyonpatch_level_2_split_{split}_{kind}.h5"


def decompress_once(gz_path: Path) -> Path:
    """Decompress ``name.h5.gz`` to ``name.h5`` next to it, unless that file already exists.

    The data go to a temporary name in the same folder and are renamed into place only when
    complete, so an interrupted run never leaves a truncated ``.h5`` behind.
    """
    target = gz_path.with_suffix("")
    if target.exists():
        return target
    try:
        with (
            atomic_path(target) as partial,
            gzip.open(gz_path, "rb") as src,
            open(partial, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 22)
    except (OSError, EOFError, zlib.error) as error:
        if not os.access(target.parent, os.W_OK):
            raise DataFileError(
                f"cannot decompress '{gz_path}': its folder is not writable "
                f"({getattr(error, 'strerror', None) or error}). "
                f"Decompress it elsewhere (gunzip -c '{gz_path}' > somewhere/{target.name}) and "
                "pass x_path= / y_path=, or point root at a writable copy."
            ) from error
        raise DataFileError(
            f"cannot decompress '{gz_path}': {error}. The download is probably truncated or "
            f"corrupt; download it again. {DOWNLOAD_HINT}"
        ) from error
    return target


def resolve_path(path: Any, name: str) -> Path:
    """An explicit ``x_path``/``y_path``: must exist; ``.h5.gz`` is decompressed once."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike); got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise DataFileError(f"{name} '{path}' {what}. {DOWNLOAD_HINT}")
    if path.name.endswith(".h5.gz"):
        return decompress_once(path)
    return path


def find_split_files(root: Any, split: str) -> tuple[Path, Path]:
    """Find a split's ``(x, y)`` files under ``root`` in the layouts people have.

    Searched in order: ``root/`` (the original release) and ``root/pcam/`` (torchvision), each
    for ``name.h5`` and then ``name.h5.gz``. The first folder holding both files wins.

    Raises:
        DataFileError: neither layout holds both files; the message lists every path tried.
    """
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike); got {type(root).__name__}")
    root = Path(root)
    tried: list[Path] = []
    for _, sub in LAYOUTS:
        folder = root / sub if sub else root
        found = []
        for kind in ("x", "y"):
            plain = folder / file_name(split, kind)
            candidates = (plain, plain.with_name(plain.name + ".gz"))
            tried.extend(candidates)
            found.append(next((c for c in candidates if c.is_file()), None))
        if found[0] is not None and found[1] is not None:
            x, y = (decompress_once(p) if p.suffix == ".gz" else p for p in found)
            return x, y
    lines = "\n".join(f"  {p}  ({'found' if p.is_file() else 'missing'})" for p in tried)
    layouts = " and ".join(description for description, _ in LAYOUTS)
    note = "" if root.is_dir() else f" (root '{root}' is not an existing folder)"
    raise DataFileError(
        f"PCam split '{split}' not found under root '{root}'{note}: no folder holds both its x and "
        f"y files. Searched {layouts}:\n{lines}\n"
        f"Pass x_path= and y_path= for files elsewhere. {DOWNLOAD_HINT}"
    )
