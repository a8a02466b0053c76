"""Reading rows of a gzip-chunked HDF5 dataset by inflating its chunks on several threads.

HDF5 inflates compressed chunks one after another while holding h5py's lock, so a gzip-compressed
PCam file reads on one core however many the machine has. Here the compressed chunks are fetched
as raw bytes (cheap) and inflated with :mod:`zlib`, which releases the GIL, on a few threads. Only
the simplest layout is taken this way: chunks that hold whole rows, with deflate as the only
filter. Anything else (shuffle, checksums, other codecs, chunks that split a row) returns ``None``
from :func:`inflatable_rows_per_chunk` and is left to h5py.

Example:
    >>> import tempfile, h5py, numpy as np
    >>> tmp = tempfile.TemporaryDirectory()
    >>> data = np.arange(5 * 4 * 3, dtype=np.uint8).reshape(5, 4, 3)
    >>> with h5py.File(f"{tmp.name}/a.h5", "w") as f:
    ...     _ = f.create_dataset("x", data=data, chunks=(2, 4, 3), compression="gzip")
    >>> with h5py.File(f"{tmp.name}/a.h5", "r") as f:
    ...     rows = inflatable_rows_per_chunk(f["x"])
    ...     out = np.empty((3, 4, 3), np.uint8)
    ...     filled = read_inflated(f["x"], 1, 4, out, rows, workers=2)
    >>> rows, filled, bool((out == data[1:4]).all())
    (2, True, True)
    >>> tmp.cleanup()
"""

from __future__ import annotations

import itertools
import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

__all__ = ["inflatable_rows_per_chunk", "read_inflated"]

# Below this many chunks per thread, starting threads costs more than it saves.
_MIN_CHUNKS_PER_WORKER = 8


def inflatable_rows_per_chunk(dataset: h5py.Dataset) -> int | None:
    """Rows per chunk if :func:`read_inflated` can read ``dataset``, else ``None``.

    That is: a chunked dataset whose chunks span whole rows (every axis but the first), whose only
    filter is deflate (gzip), with a fixed-size numeric dtype.
    """
    chunks = dataset.chunks
    if chunks is None or tuple(chunks[1:]) != tuple(dataset.shape[1:]):
        return None
    if dataset.dtype.kind not in "biuf" or dataset.is_virtual:
        return None
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    if filters != [h5py.h5z.FILTER_DEFLATE]:
        return None
    return int(chunks[0])


def read_inflated(
    dataset: h5py.Dataset,
    first: int,
    stop: int,
    out: np.ndarray,
    rows_per_chunk: int,
    workers: int,
) -> bool:
    """Fill ``out`` with ``dataset[first:stop]`` by inflating its chunks on ``workers`` threads.

    Args:
        dataset: a dataset for which :func:`inflatable_rows_per_chunk` gave ``rows_per_chunk``.
        first, stop: the rows to read, ``0 <= first < stop <= len(dataset)``.
        out: a C-contiguous array of shape ``(stop - first, *dataset.shape[1:])`` and the
            dataset's dtype.
        rows_per_chunk: rows per chunk.
        workers: threads to inflate on (1 inflates on the calling thread).

    Returns:
        ``True`` once ``out`` is filled; ``False``, with ``out`` untouched, when a chunk in the
        range was never written (h5py reads those as the fill value: let it).

    Raises:
        OSError: a chunk does not inflate to a whole chunk, as h5py's own reads raise for damaged
            files.
    """
    first_chunk, last_chunk = first // rows_per_chunk, (stop - 1) // rows_per_chunk
    chunk_bytes = rows_per_chunk * out[:1].nbytes
    flat = out.reshape(stop - first, -1)
    starts = range(first_chunk * rows_per_chunk, last_chunk * rows_per_chunk + 1, rows_per_chunk)
    tail = (0,) * (dataset.ndim - 1)
    try:
        compressed = [dataset.id.read_direct_chunk((start, *tail)) for start in starts]
    except RuntimeError:  # "chunk storage is not allocated"
        return False

    def inflate(lo: int, hi: int) -> None:
        for start, (skipped_filters, data) in zip(starts[lo:hi], compressed[lo:hi]):
            try:
                raw = data if skipped_filters & 1 else zlib.decompress(data)
            except zlib.error as error:
                raise OSError(f"the chunk at row {start} does not inflate ({error})") from error
            if len(raw) != chunk_bytes:
                raise OSError(
                    f"the chunk at row {start} inflates to {len(raw)} bytes, not {chunk_bytes}"
                )
            rows = np.frombuffer(raw, dtype=out.dtype).reshape(rows_per_chunk, -1)
            lo_row, hi_row = max(first, start), min(stop, start + rows_per_chunk)
            flat[lo_row - first : hi_row - first] = rows[lo_row - start : hi_row - start]

    workers = max(1, min(workers, len(starts) // _MIN_CHUNKS_PER_WORKER))
    if workers == 1:
        inflate(0, len(starts))
        return True
    bounds = np.linspace(0, len(starts), workers + 1).astype(int).tolist()
    with ThreadPoolExecutor(workers) as pool:
        for job in [pool.submit(inflate, lo, hi) for lo, hi in itertools.pairwise(bounds)]:
            job.result()
    return True
