"""Reading MedMNIST ``.npz`` files: locate, check, and read one array without ``np.load``'s copies.

An ``.npz`` file is a zip archive of ``.npy`` files. A member stored without compression
(``np.savez``) is memory-mapped in place; a deflated one (``np.savez_compressed``, the release's
files) is inflated once, in chunks, straight into its array, and can be turned into float
``[0, 1]`` values chunk by chunk on a second thread while the next chunk inflates (so reading a
split as floats costs little more than inflating it). The ``.npy`` header is parsed with
numpy's own ``numpy.lib.format`` functions.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hermes.data._medmnist_flags import ZENODO_RECORD, file_name
from hermes.errors import DataFileError

__all__ = ["NpzArchive", "download_hint", "download_with_medmnist", "locate"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip local file header (30 bytes)
_CHUNK_BYTES = 1 << 18  # compressed bytes inflated at a time (then converted on another thread)
_HEADER_PROBE = 1 << 12  # enough compressed bytes to hold a .npy header


def download_hint(flag: str, size: int, root: Path) -> str:
    """How to get the file of ``flag`` at ``size`` into ``root``."""
    name = file_name(flag, size)
    return (
        f"Download {name} from the MedMNIST+ release ({ZENODO_RECORD}) into '{root}', or pass "
        "download=True with the medmnist package installed (pip install medmnist). For a "
        f"synthetic stand-in in the same format: hermes.data.make_synthetic_medmnist(root, "
        f"{flag!r}, size={size})."
    )


def locate(root: Any, flag: str, size: int) -> Path:
    """The path of ``{flag}.npz`` / ``{flag}_{size}.npz`` under ``root`` (DataFileError if absent)."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike); got {type(root).__name__}")
    folder = Path(root)
    path = folder / file_name(flag, size)
    if not path.is_file():
        note = "" if folder.is_dir() else f" (root '{folder}' is not an existing folder)"
        raise DataFileError(
            f"MedMNIST file '{path}' not found{note}. {download_hint(flag, size, folder)}"
        )
    return path


def download_with_medmnist(flag: str, size: int, root: Path) -> Path:
    """Fetch the file with the ``medmnist`` package (which checks its MD5); return its path."""
    try:
        import medmnist
    except ImportError as error:
        raise DataFileError(
            "download=True needs the medmnist package (pip install medmnist), which is not "
            f"installed. {download_hint(flag, size, root)}"
        ) from error
    root.mkdir(parents=True, exist_ok=True)
    try:
        dataset_class = getattr(medmnist, medmnist.INFO[flag]["python_class"])
        dataset_class(split="test", root=str(root), size=size, download=True)
    except Exception as error:  # the package raises RuntimeError on any failed download
        raise DataFileError(
            f"medmnist could not download {file_name(flag, size)}: {type(error).__name__}: "
            f"{str(error).strip()[:300]}. {download_hint(flag, size, root)}"
        ) from error
    return locate(root, flag, size)


class NpzArchive:
    """The members of one ``.npz`` file: names, shapes and dtypes, and reading them.

    Args:
        path: the file.

    Raises:
        DataFileError: the file is not a readable zip archive of ``.npy`` files.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise DataFileError(
                f"'{path}' is not a readable .npz file (a zip archive of .npy arrays): {error}"
            ) from error
        self._infos = {
            info.filename.removesuffix(".npy"): info
            for info in infos
            if info.filename.endswith(".npy")
        }

    @property
    def keys(self) -> tuple[str, ...]:
        """The array names in the file."""
        return tuple(self._infos)

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        """``(shape, dtype, fortran_order)`` of member ``key`` from its ``.npy`` header."""
        with self._open(key) as stream:
            return self._read_header(stream, key)

    def read(self, key: str) -> np.ndarray:
        """Member ``key`` as an array: memory-mapped (read-only) if stored, else inflated."""
        info = self._infos[key]
        if info.compress_type == zipfile.ZIP_STORED:
            with open(self.path, "rb") as file:
                start = self._data_offset(file, info)
                file.seek(start)
                shape, dtype, fortran = self._read_header(file, key)
                offset = file.tell()
            if int(np.prod(shape)) == 0:
                return np.empty(shape, dtype, order="F" if fortran else "C")
            return np.memmap(self.path, dtype, "r", offset, shape, order="F" if fortran else "C")
        return self.read_converted(key, None)

    def read_converted(
        self,
        key: str,
        convert: Callable[[np.ndarray, np.ndarray], None] | None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Inflate member ``key`` chunk by chunk; ``convert(rows, out_rows)`` runs on each chunk.

        ``convert`` (for example uint8 to float in ``[0, 1]``) receives whole rows of the array
        as soon as they are inflated and writes them to the matching rows of ``out``; it runs on
        a second thread while the next chunk inflates. Returns the inflated array (``out`` is
        filled as a side effect). With ``convert=None`` only the array is read. A stored
        (uncompressed) member is read in place and converted in one go. The zip CRC-32 is
        checked.
        """
        info = self._infos[key]
        if info.compress_type == zipfile.ZIP_STORED:
            array = self.read(key)
            if convert is not None:
                convert(array, out)
            return array
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise DataFileError(
                f"'{self.path}': array {key!r} uses zip compression method "
                f"{info.compress_type}; .npz files are stored or deflated"
            )
        with open(self.path, "rb") as file:
            file.seek(self._data_offset(file, info))
            compressed = file.read(info.compress_size)
        inflater = zlib.decompressobj(-15)  # raw deflate, as zip stores it
        source = memoryview(compressed)
        try:
            header = inflater.decompress(source[:_HEADER_PROBE])
        except zlib.error as error:
            raise self._corrupt(key, error) from error
        shape, dtype, fortran = self._read_header(io.BytesIO(header), key)
        if fortran and len(shape) > 1:
            raise DataFileError(
                f"'{self.path}': array {key!r} is stored in Fortran order; MedMNIST files hold "
                "C-ordered arrays"
            )
        header_size = info.file_size - int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        array = np.empty(shape, dtype)
        flat = array.reshape(-1).view(np.uint8)
        row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize)
        crc = zlib.crc32(header)
        filled = len(header) - header_size
        if filled > 0:
            flat[:filled] = np.frombuffer(header, np.uint8)[header_size:]
        converted, pending = 0, None
        with ThreadPoolExecutor(1) if convert is not None else _NoPool() as pool:
            for start in range(_HEADER_PROBE, len(source), _CHUNK_BYTES):
                try:
                    chunk = inflater.decompress(source[start : start + _CHUNK_BYTES])
                except zlib.error as error:
                    raise self._corrupt(key, error) from error
                if filled + len(chunk) > flat.size:
                    raise self._corrupt(key, "more data than its header announces")
                crc = zlib.crc32(chunk, crc)
                flat[filled : filled + len(chunk)] = np.frombuffer(chunk, np.uint8)
                filled += len(chunk)
                rows = filled // row_bytes
                if convert is not None and rows > converted:
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(convert, array[converted:rows], out[converted:rows])
                    converted = rows
            if pending is not None:
                pending.result()
        if filled != flat.size or crc != info.CRC:
            raise self._corrupt(key, "size or CRC-32 does not match")
        if convert is not None and (converted < len(array) or not len(shape)):
            convert(array[converted:], out[converted:])
        return array

    def _corrupt(self, key: str, detail: object) -> DataFileError:
        return DataFileError(
            f"'{self.path}': array {key!r} cannot be read ({detail}); the file is truncated or "
            "corrupt: download it again"
        )

    def _open(self, key: str) -> Any:
        try:
            archive = zipfile.ZipFile(self.path)
            return _ClosingStream(archive, archive.open(self._infos[key]))
        except (zipfile.BadZipFile, OSError) as error:
            raise DataFileError(f"'{self.path}': cannot read array {key!r}: {error}") from error

    def _read_header(self, stream: Any, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        except (ValueError, OSError, EOFError) as error:
            raise DataFileError(
                f"'{self.path}': array {key!r} has no valid .npy header: {error}"
            ) from error
        if dtype.hasobject:
            raise DataFileError(
                f"'{self.path}': array {key!r} holds Python objects; MedMNIST files hold numbers"
            )
        return tuple(shape), dtype, bool(fortran)

    def _data_offset(self, file: Any, info: zipfile.ZipInfo) -> int:
        """Where a stored member's bytes start (after its local header, name and extra field)."""
        file.seek(info.header_offset)
        header = file.read(_LOCAL_HEADER.size)
        fields = _LOCAL_HEADER.unpack(header) if len(header) == _LOCAL_HEADER.size else None
        if fields is None or fields[0] != b"PK\x03\x04":
            raise DataFileError(f"'{self.path}': damaged zip entry {info.filename!r}")
        name_length, extra_length = fields[-2], fields[-1]
        return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


class _ClosingStream:
    """A zip member stream that also closes its archive."""

    def __init__(self, archive: zipfile.ZipFile, stream: Any) -> None:
        self.archive, self.stream = archive, stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
            raise DataFileError(
                f"'{self.archive.filename}': reading failed ({error}); the file is truncated "
                "or corrupt"
            ) from error

    def __enter__(self) -> _ClosingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
        self.archive.close()


class _NoPool:
    def __enter__(self) -> _NoPool:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
