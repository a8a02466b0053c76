"""Inflating gzip chunks on threads gives exactly what h5py reads, and declines what it can't do."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from hermes.data._inflate import inflatable_rows_per_chunk, read_inflated
from hermes.data.pcam import _read_rows

ROWS = 53
ROW_SHAPE = (6, 5, 3)


def write(path: Path, **options) -> np.ndarray:
    data = np.random.default_rng(0).integers(0, 256, (ROWS, *ROW_SHAPE), dtype=np.uint8)
    data[::7] = 0  # some chunks compress well, some do not
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=data, **options)
    return data


@pytest.mark.parametrize("rows_per_chunk", [1, 4, 16])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_span_equals_h5py(tmp_path, rows_per_chunk, workers) -> None:
    data = write(tmp_path / "a.h5", chunks=(rows_per_chunk, *ROW_SHAPE), compression="gzip")
    spans = [(0, ROWS), (0, 1), (ROWS - 1, ROWS), (3, 29), (5, 6), (17, 52), (rows_per_chunk, ROWS)]
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert inflatable_rows_per_chunk(f["x"]) == rows_per_chunk
        for first, stop in spans:
            out = np.full((stop - first, *ROW_SHAPE), 7, dtype=np.uint8)
            assert read_inflated(f["x"], first, stop, out, rows_per_chunk, workers)
            np.testing.assert_array_equal(out, data[first:stop], err_msg=f"{first}:{stop}")


def test_row_selections_through_the_pcam_reader_equal_h5py(tmp_path) -> None:
    data = write(tmp_path / "a.h5", chunks=(3, *ROW_SHAPE), compression="gzip", compression_opts=9)
    rng = np.random.default_rng(1)
    selections = [
        np.arange(ROWS),
        np.array([40, 2, 2, 19, 0, 52]),  # unordered, repeated, gaps wider than a read
        np.sort(rng.choice(ROWS, 20, replace=False)),
        rng.integers(0, ROWS, 30),
    ]
    with h5py.File(tmp_path / "a.h5", "r") as f:
        for rows in selections:
            np.testing.assert_array_equal(_read_rows(f["x"], rows), data[rows])


@pytest.mark.parametrize(
    "options",
    [
        {},  # contiguous
        {"chunks": (4, *ROW_SHAPE)},  # chunked, no filter
        {"chunks": (4, 6, 5, 1), "compression": "gzip"},  # a chunk splits a row
        {"chunks": (4, *ROW_SHAPE), "compression": "gzip", "shuffle": True},
        {"chunks": (4, *ROW_SHAPE), "compression": "gzip", "fletcher32": True},
        {"chunks": (4, *ROW_SHAPE), "compression": "lzf"},
    ],
    ids=["contiguous", "no-filter", "split-rows", "shuffle", "fletcher32", "lzf"],
)
def test_other_layouts_are_left_to_h5py_and_still_read_right(tmp_path, options) -> None:
    data = write(tmp_path / "a.h5", **options)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert inflatable_rows_per_chunk(f["x"]) is None
        rows = np.array([3, 4, 5, 30, 1])
        np.testing.assert_array_equal(_read_rows(f["x"], rows), data[rows])


def test_unwritten_chunks_read_as_the_fill_value_like_h5py(tmp_path) -> None:
    with h5py.File(tmp_path / "a.h5", "w") as f:
        x = f.create_dataset(
            "x",
            (ROWS, *ROW_SHAPE),
            np.uint8,
            chunks=(4, *ROW_SHAPE),
            compression="gzip",
            fillvalue=9,
        )
        x[0:8] = 1
    with h5py.File(tmp_path / "a.h5", "r") as f:
        out = np.zeros((12, *ROW_SHAPE), dtype=np.uint8)
        assert not read_inflated(f["x"], 0, 12, out, 4, workers=2)
        assert not out.any()  # untouched when it declines
        np.testing.assert_array_equal(_read_rows(f["x"], np.arange(12)), f["x"][0:12])
        assert _read_rows(f["x"], np.arange(12))[8:].min() == 9


def test_a_chunk_that_does_not_inflate_raises_oserror(tmp_path) -> None:
    write(tmp_path / "a.h5", chunks=(4, *ROW_SHAPE), compression="gzip")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        chunk = f["x"].id.get_chunk_info_by_coord((20, 0, 0, 0))
    with open(tmp_path / "a.h5", "r+b") as f:
        f.seek(chunk.byte_offset + 4)
        f.write(b"\x00\xff" * 16)
    with h5py.File(tmp_path / "a.h5", "r") as f:
        out = np.empty((ROWS, *ROW_SHAPE), dtype=np.uint8)
        with pytest.raises(OSError, match="chunk at row 20"):
            read_inflated(f["x"], 0, ROWS, out, 4, workers=2)


def test_synthetic_pcam_files_take_the_threaded_path(pcam_files) -> None:
    with h5py.File(pcam_files["test"].x, "r") as f:
        assert inflatable_rows_per_chunk(f["x"]) == 1
