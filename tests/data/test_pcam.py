"""PCam: layouts, items against the raw HDF5 content, batched reads, workers, subsets, errors."""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from hermes.data import PCam, PCamFiles, stratified_indices
from hermes.errors import DataFileError, RangeError
from tests.data.conftest import SIZES
from tests.data.helpers import write_h5


def expected_image(raw_x: np.ndarray, row: int) -> torch.Tensor:
    """What an item must be: channels first, float32, divided by 255."""
    return torch.from_numpy(raw_x[row]).permute(2, 0, 1).float() / 255


def gzip_file(src: Path, dst: Path) -> Path:
    with open(src, "rb") as fin, gzip.open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


def place(files: PCamFiles, folder: Path, gz: bool) -> PCamFiles:
    """Copy (or gzip) a split's files into ``folder`` under their release names."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in files:
        if gz:
            out.append(gzip_file(path, folder / (path.name + ".gz")))
        else:
            out.append(Path(shutil.copy(path, folder / path.name)))
    return PCamFiles(*out)


# --------------------------------------------------------------------------------------------
# Layouts: every way of pointing at the files gives exactly the raw content.


@pytest.mark.parametrize(
    "layout",
    ["original", "original-gz", "torchvision", "torchvision-gz", "explicit", "explicit-gz"],
)
def test_layouts_round_trip(layout, pcam_files, raw_test, tmp_path) -> None:
    gz = layout.endswith("-gz")
    if layout.startswith("original"):
        place(pcam_files["test"], tmp_path, gz)
        dataset = PCam(tmp_path, "test")
    elif layout.startswith("torchvision"):
        place(pcam_files["test"], tmp_path / "pcam", gz)
        dataset = PCam(tmp_path, "test")
    else:
        placed = place(pcam_files["test"], tmp_path / "elsewhere", gz)
        dataset = PCam(x_path=placed.x, y_path=placed.y, split="test")
    raw_x, raw_y = raw_test
    assert len(dataset) == SIZES["test"]
    for i in range(len(dataset)):
        image, label = dataset[i]
        assert image.dtype == torch.float32 and image.shape == (3, 96, 96)
        torch.testing.assert_close(image, expected_image(raw_x, i), rtol=0, atol=0)
        assert type(label) is int and label == raw_y[i]
    torch.testing.assert_close(dataset.labels, torch.from_numpy(raw_y).long())


def test_gz_is_decompressed_once_next_to_the_download(pcam_files, tmp_path) -> None:
    placed = place(pcam_files["valid"], tmp_path, gz=True)
    PCam(tmp_path, "valid")
    x_h5 = placed.x.with_suffix("")
    assert x_h5.name == "camelyonpatch_level_2_split_valid_x.h5"
    assert x_h5.read_bytes() == pcam_files["valid"].x.read_bytes()
    stamp = x_h5.stat().st_mtime_ns
    PCam(tmp_path, "valid")
    assert x_h5.stat().st_mtime_ns == stamp  # not decompressed again
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in placed] + [p.with_suffix("").name for p in placed]
    )


def test_truncated_gz_leaves_no_partial_h5(pcam_files, tmp_path) -> None:
    placed = place(pcam_files["valid"], tmp_path, gz=True)
    data = placed.x.read_bytes()
    placed.x.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match=r"cannot decompress .*split_valid_x\.h5\.gz"):
        PCam(tmp_path, "valid")
    assert not placed.x.with_suffix("").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_plain_h5_is_preferred_and_first_layout_wins(pcam_files, tmp_path) -> None:
    place(pcam_files["valid"], tmp_path, gz=False)
    place(pcam_files["test"], tmp_path / "pcam", gz=False)
    # test only in root/pcam: found there; valid in root: found there.
    assert PCam(tmp_path, "test").x_path.parent == tmp_path / "pcam"
    assert PCam(tmp_path, "valid").x_path.parent == tmp_path


def test_val_is_torchvisions_name_for_valid(pcam_files) -> None:
    root = pcam_files["valid"].x.parent
    assert PCam(root, "val").split == "valid"
    assert PCam(root, "val").x_path == pcam_files["valid"].x


def test_torchvision_pcam_reads_the_synthetic_files_identically(pcam_files, tmp_path) -> None:
    for split in ("test", "valid"):
        place(pcam_files[split], tmp_path / "pcam", gz=False)
        ours = PCam(tmp_path, split)
        theirs = torchvision.datasets.PCAM(
            tmp_path, split="val" if split == "valid" else split, transform=ToTensor()
        )
        assert len(theirs) == len(ours)
        for i in range(len(ours)):
            image, label = theirs[i]
            torch.testing.assert_close(ours[i][0], image, rtol=0, atol=0)
            assert ours[i][1] == label


# --------------------------------------------------------------------------------------------
# Batched reads


def test_load_matches_items_for_any_index_form(pcam_files, raw_test) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test")
    raw_x, raw_y = raw_test
    orders = {
        "slice": (slice(5, 30), list(range(5, 30))),
        "step": (slice(1, 40, 7), list(range(1, 40, 7))),
        "shuffled+repeats": ([39, 0, 17, 17, 3, 38, 2], [39, 0, 17, 17, 3, 38, 2]),
        # as many rows as a consecutive run, but a repeat stands in for the missing one
        "repeat-in-a-gap": ([2, 0, 2], [2, 0, 2]),
        "sorted-repeat-in-a-gap": ([5, 7, 7, 8], [5, 7, 7, 8]),
        "negative": ([-1, -40], [39, 0]),
        "tensor": (torch.tensor([4, 2, 9]), [4, 2, 9]),
        "numpy": (np.array([30, 31, 32, 33], dtype=np.int32), [30, 31, 32, 33]),
        "gapped": ([0, 3, 25, 26, 39], [0, 3, 25, 26, 39]),
        "range": (range(10, 12), [10, 11]),
    }
    for key, (index, rows) in orders.items():
        images, labels = dataset.load(index)
        expected = torch.stack([expected_image(raw_x, r) for r in rows])
        torch.testing.assert_close(images, expected, rtol=0, atol=0, msg=key)
        assert images.is_contiguous()
        assert labels.dtype == torch.int64
        assert labels.tolist() == raw_y[rows].tolist(), key


def test_load_empty(pcam_files) -> None:
    images, labels = PCam(pcam_files["test"].x.parent, "test").load([])
    assert images.shape == (0, 3, 96, 96) and labels.shape == (0,)


def test_iter_batches_covers_the_dataset_in_order(pcam_files) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test")
    everything = dataset.load(slice(None))
    batches = list(dataset.iter_batches(16))
    assert [len(labels) for _, labels in batches] == [16, 16, 8]
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), everything[0])
    torch.testing.assert_close(torch.cat([b[1] for b in batches]), everything[1])
    assert [len(labels) for _, labels in dataset.iter_batches(16, drop_last=True)] == [16, 16]


class BatchOnly(PCam):
    """Refuses single-item reads: a DataLoader over it must go through ``__getitems__``."""

    def __getitem__(self, index):
        raise AssertionError("per-item read")


def test_dataloader_batches_use_the_batched_path_and_match_items(pcam_files) -> None:
    root = pcam_files["test"].x.parent
    dataset, reference = BatchOnly(root, "test"), PCam(root, "test")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0)).tolist()
    batches = list(DataLoader(dataset, batch_size=8, sampler=order))
    assert len(batches) == 5
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    for position, row in enumerate(order):
        torch.testing.assert_close(images[position], reference[row][0], rtol=0, atol=0)
        assert int(labels[position]) == reference[row][1]


def collect(loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*loader)
    return torch.cat(images), torch.cat(labels)


def test_workers_give_the_same_items_as_the_main_process(pcam_files) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test")
    dataset[0]  # the parent holds an open handle when the workers fork
    serial = collect(DataLoader(dataset, batch_size=7, num_workers=0))
    parallel = collect(DataLoader(dataset, batch_size=7, num_workers=2))
    torch.testing.assert_close(parallel[0], serial[0], rtol=0, atol=0)
    assert parallel[1].tolist() == serial[1].tolist()
    per_item = list(DataLoader(dataset, batch_size=None, num_workers=2))
    torch.testing.assert_close(torch.stack([x for x, _ in per_item]), serial[0], rtol=0, atol=0)
    assert [y for _, y in per_item] == serial[1].tolist()


def test_each_worker_opens_its_own_handle(pcam_files) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test", limit=8)
    dataset[0]
    parent = (os.getpid(), dataset._file.id.id)

    def handle_owner(image: torch.Tensor) -> torch.Tensor:
        # runs after the read, in whichever process read the item
        return torch.tensor([dataset._pid, os.getpid(), dataset._file.id.id])

    dataset.transform = handle_owner
    owners = torch.cat([b[0] for b in DataLoader(dataset, batch_size=2, num_workers=2)])
    assert (owners[:, 0] == owners[:, 1]).all()  # the handle was opened by the reading process
    assert parent[0] not in owners[:, 1].tolist()  # ... which is a worker, not the parent
    assert dataset._pid == parent[0] and dataset._file.id.id == parent[1]  # parent's is untouched


def test_pickles_without_its_file_handle(pcam_files) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test")
    dataset[3]
    assert dataset._file is not None  # the handle is open ...
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone._file is None  # ... and is not part of the pickle
    torch.testing.assert_close(clone[3][0], dataset[3][0], rtol=0, atol=0)
    dataset.close()
    torch.testing.assert_close(dataset[3][0], clone[3][0], rtol=0, atol=0)  # reopens


def test_transform_applies_per_item_everywhere(pcam_files, raw_test) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test", transform=lambda x: x.flip(-1) * 0.5)
    raw_x, _ = raw_test
    expected = expected_image(raw_x, 2).flip(-1) * 0.5
    torch.testing.assert_close(dataset[2][0], expected, rtol=0, atol=0)
    torch.testing.assert_close(dataset.load([7, 2])[0][1], expected, rtol=0, atol=0)
    first_batch = next(iter(DataLoader(dataset, batch_size=4)))[0]
    torch.testing.assert_close(first_batch[2], expected, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# Subsets


def test_limit_takes_the_first_rows(pcam_files, raw_test) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test", limit=5)
    assert len(dataset) == 5 and dataset.rows.tolist() == [0, 1, 2, 3, 4]
    assert dataset.labels.tolist() == raw_test[1][:5].tolist()
    assert len(PCam(pcam_files["test"].x.parent, "test", limit=0)) == 0


def test_indices_select_rows_in_the_given_order(pcam_files, raw_test) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test", indices=[9, 1, 33])
    raw_x, raw_y = raw_test
    for i, row in enumerate([9, 1, 33]):
        torch.testing.assert_close(dataset[i][0], expected_image(raw_x, row), rtol=0, atol=0)
        assert dataset[i][1] == raw_y[row]
    torch.testing.assert_close(dataset.load([2, 0])[0][0], expected_image(raw_x, 33))


def test_stratified_subset_is_seeded_and_stratified(pcam_files, raw_test) -> None:
    root = pcam_files["test"].x.parent
    _, raw_y = raw_test
    share = raw_y.mean()
    a = PCam(root, "test", limit=15, stratify=True, seed=1)
    b = PCam(root, "test", limit=15, stratify=True, seed=1)
    c = PCam(root, "test", limit=15, stratify=True, seed=2)
    assert a.rows.tolist() == b.rows.tolist()
    assert a.rows.tolist() != c.rows.tolist()
    for subset in (a, c):
        assert len(set(subset.rows.tolist())) == 15
        assert subset.labels.tolist() == raw_y[subset.rows].tolist()
        assert abs(int(subset.labels.sum()) - 15 * share) < 1  # class shares kept
    assert a.rows.tolist() == stratified_indices(raw_y, 15, seed=1).tolist()


def test_seed_is_an_int_and_a_generator_goes_to_generator(pcam_files, raw_test) -> None:
    root = pcam_files["test"].x.parent
    _, raw_y = raw_test
    expected = stratified_indices(raw_y, 15, seed=1)
    stream = torch.Generator().manual_seed(1)
    assert stratified_indices(raw_y, 15, generator=stream).tolist() == expected.tolist()
    assert stratified_indices(raw_y, 15, generator=stream).tolist() != expected.tolist()  # advanced
    assert stratified_indices(raw_y, 15, generator=1).tolist() == expected.tolist()
    with pytest.warns(DeprecationWarning, match=r"stratified_indices\(seed=<torch.Generator>\)"):
        legacy = stratified_indices(raw_y, 15, seed=torch.Generator().manual_seed(1))
    assert legacy.tolist() == expected.tolist()
    with pytest.warns(DeprecationWarning, match=r"PCam\(seed=<torch.Generator>\)"):
        dataset = PCam(root, "test", limit=15, stratify=True, seed=torch.Generator().manual_seed(1))
    assert dataset.rows.tolist() == expected.tolist()
    for bad, error in (("1", TypeError), (-1, RangeError), (1.0, TypeError)):
        with pytest.raises(error, match="seed"):
            stratified_indices(raw_y, 15, seed=bad)
        with pytest.raises(error, match="seed"):
            PCam(root, "test", seed=bad)
    with pytest.raises(TypeError, match="generator"):
        stratified_indices(raw_y, 15, generator="1")


def test_stratified_indices_quota_and_uniformity() -> None:
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    picks = stratified_indices(labels, 11, seed=0)
    # quotas 7.7, 2.2, 1.1 -> 7, 2, 1 plus the leftover to the largest remainder (class 0)
    assert np.bincount(labels[picks], minlength=3).tolist() == [8, 2, 1]
    assert (np.diff(picks) > 0).all()
    # each member of a class is equally likely: counts over many seeds are flat
    hits = np.zeros(100)
    for seed in range(300):
        hits[stratified_indices(labels, 50, seed=seed)] += 1
    assert hits[:70].min() > 0.3 * 300 and hits[:70].max() < 0.7 * 300
    assert stratified_indices(labels, 0).size == 0
    # equal remainders (4 * 3/9 twice) tie, and ties go to the smaller class value
    tied = np.array([0] * 4 + [1] * 1 + [2] * 4)
    assert np.bincount(tied[stratified_indices(tied, 3, seed=0)], minlength=3).tolist() == [2, 0, 1]
    with pytest.raises(RangeError, match="n must be at most"):
        stratified_indices(labels, 101)


# --------------------------------------------------------------------------------------------
# Bad arguments: errors name the argument


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"split": "validation"}, ValueError, "split must be one of"),
        ({"limit": -1}, RangeError, "limit must be an integer >= 0; got -1"),
        ({"limit": 41}, RangeError, "limit must be at most the split's 40 patches; got 41"),
        ({"limit": 2.5}, TypeError, "limit must be an integer"),
        ({"indices": [0, 40]}, RangeError, r"indices must hold positions in \[-40, 40\).*got 40"),
        ({"indices": [0.5]}, TypeError, "indices must be a 1-D sequence of ints"),
        ({"indices": [[1, 2]]}, TypeError, "indices must be a 1-D sequence of ints"),
        ({"indices": [1], "limit": 1}, TypeError, "indices cannot be combined"),
        ({"stratify": True}, TypeError, "stratify=True needs limit"),
        ({"stratify": 1, "limit": 2}, TypeError, "stratify must be a bool"),
        ({"transform": "flip"}, TypeError, "transform must be callable"),
    ],
)
def test_bad_arguments(kwargs, error, pattern, pcam_files) -> None:
    with pytest.raises(error, match=pattern):
        PCam(pcam_files["test"].x.parent, **{"split": "test", **kwargs})


def test_bad_path_arguments(pcam_files) -> None:
    files = pcam_files["test"]
    with pytest.raises(TypeError, match=r"root .* or x_path and y_path"):
        PCam()
    with pytest.raises(TypeError, match="y_path is missing"):
        PCam(x_path=files.x)
    with pytest.raises(TypeError, match="not both"):
        PCam(files.x.parent, x_path=files.x, y_path=files.y)
    with pytest.raises(TypeError, match="root must be a path"):
        PCam(3)


def test_bad_read_arguments(pcam_files) -> None:
    dataset = PCam(pcam_files["test"].x.parent, "test")
    with pytest.raises(IndexError, match=r"index 40 is out of range .* 40 patches"):
        dataset[40]
    with pytest.raises(TypeError, match="index must be an int"):
        dataset[1.0]
    with pytest.raises(
        IndexError, match=r"index must hold positions in \[-40, 40\) for 40 patches; got -41"
    ):
        dataset.load([0, -41])
    with pytest.raises(TypeError, match="index must be a slice or a 1-D sequence"):
        dataset.load(3)
    with pytest.raises(TypeError, match="index must be a 1-D sequence of ints"):
        dataset.load(torch.tensor([0.0, 1.0]))
    with pytest.raises(RangeError, match="batch_size must be an integer >= 1"):
        next(dataset.iter_batches(0))
    assert sum(1 for _ in dataset) == 40  # the iteration protocol stops on IndexError


# --------------------------------------------------------------------------------------------
# Bad files: DataFileError naming the file and what is wrong


def test_missing_files_list_every_path_tried_and_where_to_get_pcam(tmp_path) -> None:
    with pytest.raises(DataFileError) as caught:
        PCam(tmp_path, "test")
    message = str(caught.value)
    for folder in (tmp_path, tmp_path / "pcam"):
        for kind in ("x", "y"):
            for suffix in (".h5", ".h5.gz"):
                assert str(folder / f"camelyonpatch_level_2_split_test_{kind}{suffix}") in message
    assert "original release (root/)" in message and "torchvision's layout (root/pcam/)" in message
    assert "github.com/basveeling/pcam" in message and "2546921" in message
    assert "make_synthetic_pcam" in message
    assert isinstance(caught.value, OSError)


def test_one_file_missing_is_reported_as_found_and_missing(pcam_files, tmp_path) -> None:
    shutil.copy(pcam_files["test"].x, tmp_path)
    with pytest.raises(DataFileError) as caught:
        PCam(tmp_path, "test")
    message = str(caught.value)
    assert f"{tmp_path / 'camelyonpatch_level_2_split_test_x.h5'}  (found)" in message
    assert f"{tmp_path / 'camelyonpatch_level_2_split_test_y.h5'}  (missing)" in message


def test_missing_root_says_so(tmp_path) -> None:
    with pytest.raises(DataFileError, match="is not an existing folder"):
        PCam(tmp_path / "nowhere", "train")


def test_explicit_path_missing_or_a_folder(pcam_files, tmp_path) -> None:
    with pytest.raises(DataFileError, match=r"x_path .*nope\.h5' does not exist.*basveeling"):
        PCam(x_path=tmp_path / "nope.h5", y_path=pcam_files["test"].y)
    with pytest.raises(DataFileError, match=r"y_path .* is not a file"):
        PCam(x_path=pcam_files["test"].x, y_path=tmp_path)


def good_arrays(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
    y = (np.arange(n) % 2).astype(np.uint8).reshape(n, 1, 1, 1)
    return x, y


@pytest.mark.parametrize(
    ("broken", "pattern"),
    [
        ("x-key", r"x\.h5' has no dataset key 'x' \(it holds: 'images'\)"),
        ("y-key", r"y\.h5' has no dataset key 'y' \(it holds: 'labels'\)"),
        ("x-group", r"x\.h5' has a group, not a dataset, at key 'x'"),
        (
            "x-channels-first",
            r"x\.h5': dataset 'x' must have shape \(N, 96, 96, 3\).*\(4, 3, 96, 96\)",
        ),
        ("x-size", r"x\.h5': dataset 'x' must have shape \(N, 96, 96, 3\).*\(4, 64, 64, 3\)"),
        ("x-float", r"x\.h5': dataset 'x' must have dtype uint8; got float32"),
        ("y-shape", r"y\.h5': dataset 'y' must have shape \(N, 1, 1, 1\); got \(4, 2\)"),
        ("y-float", r"y\.h5': dataset 'y' must hold integer labels.*float32"),
        ("y-values", r"y\.h5': dataset 'y' must hold labels 0 and 1; found \[2\]"),
        ("lengths", r"x and y disagree in length: .*x\.h5' holds 4 images but .*y\.h5' holds 3"),
        ("x-truncated", r"x\.h5' cannot be read as HDF5 .*truncated"),
        ("y-not-hdf5", r"y\.h5' cannot be read as HDF5"),
    ],
)
def test_bad_files(broken, pattern, tmp_path) -> None:
    x, y = good_arrays()
    xp, yp = tmp_path / "x.h5", tmp_path / "y.h5"
    write_h5(xp, "x", x)
    write_h5(yp, "y", y)
    if broken == "x-key":
        write_h5(xp, "images", x)
    elif broken == "y-key":
        write_h5(yp, "labels", y)
    elif broken == "x-group":
        with h5py.File(xp, "w") as f:
            f.create_group("x")
    elif broken == "x-channels-first":
        write_h5(xp, "x", x.transpose(0, 3, 1, 2).copy())
    elif broken == "x-size":
        write_h5(xp, "x", x[:, :64, :64])
    elif broken == "x-float":
        write_h5(xp, "x", x.astype(np.float32))
    elif broken == "y-shape":
        write_h5(yp, "y", np.zeros((4, 2), np.uint8))
    elif broken == "y-float":
        write_h5(yp, "y", y.astype(np.float32))
    elif broken == "y-values":
        write_h5(yp, "y", y * 2)
    elif broken == "lengths":
        write_h5(yp, "y", y[:3])
    elif broken == "x-truncated":
        data = xp.read_bytes()
        xp.write_bytes(data[: len(data) // 2])
    elif broken == "y-not-hdf5":
        yp.write_text("label\n0\n1\n")
    with pytest.raises(DataFileError, match=pattern):
        PCam(x_path=xp, y_path=yp)


def test_a_corrupt_chunk_is_reported_when_read(pcam_files, tmp_path) -> None:
    files = place(pcam_files["test"], tmp_path, gz=False)
    with h5py.File(files.x, "r") as f:
        chunk = f["x"].id.get_chunk_info_by_coord((17, 0, 0, 0))
    with open(files.x, "r+b") as f:
        f.seek(chunk.byte_offset + 10)
        f.write(b"\xff" * 64)
    dataset = PCam(tmp_path, "test")  # rows 0 and 39, checked when built, are fine
    dataset[16]
    with pytest.raises(DataFileError, match=r"split_test_x\.h5': reading images failed"):
        dataset[17]
    with pytest.raises(DataFileError, match="truncated or corrupt"):
        dataset.load(slice(10, 20))


def test_y_of_shape_n_is_accepted(tmp_path) -> None:
    x, y = good_arrays()
    dataset = PCam(
        x_path=write_h5(tmp_path / "x.h5", "x", x),
        y_path=write_h5(tmp_path / "y.h5", "y", y[:, 0, 0, 0]),
    )
    assert dataset.labels.tolist() == [0, 1, 0, 1]


def test_repr_names_split_and_file(pcam_files) -> None:
    text = repr(PCam(pcam_files["test"].x.parent, "test", limit=3))
    assert "split='test'" in text and "patches=3" in text and "split_test_x.h5" in text
