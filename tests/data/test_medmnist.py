"""MedMNIST: files written with numpy's own savez in the published layout read back exactly."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch.utils.data import DataLoader

from hermes.data import (
    MEDMNIST_FLAGS,
    MedMNIST,
    make_synthetic_medmnist,
    medmnist_info,
    synthetic_medmnist_arrays,
)
from hermes.errors import DataFileError

# Written out by hand from the MedMNIST v2 paper / medmnist 3.0.2's dataset description:
# (task as hermes names it, channels, classes, 3D).
EXPECTED = {
    "pathmnist": ("multiclass", 3, 9, False),
    "chestmnist": ("multilabel", 1, 14, False),
    "dermamnist": ("multiclass", 3, 7, False),
    "octmnist": ("multiclass", 1, 4, False),
    "pneumoniamnist": ("binary", 1, 2, False),
    "retinamnist": ("multiclass", 3, 5, False),
    "breastmnist": ("binary", 1, 2, False),
    "bloodmnist": ("multiclass", 3, 8, False),
    "tissuemnist": ("multiclass", 1, 8, False),
    "organamnist": ("multiclass", 1, 11, False),
    "organcmnist": ("multiclass", 1, 11, False),
    "organsmnist": ("multiclass", 1, 11, False),
    "organmnist3d": ("multiclass", 1, 11, True),
    "nodulemnist3d": ("binary", 1, 2, True),
    "adrenalmnist3d": ("binary", 1, 2, True),
    "fracturemnist3d": ("multiclass", 1, 3, True),
    "vesselmnist3d": ("binary", 1, 2, True),
    "synapsemnist3d": ("binary", 1, 2, True),
}
SPLITS = ("train", "val", "test")


def published_arrays(flag: str, size: int, n: int, seed: int) -> dict[str, np.ndarray]:
    """Random arrays in the release's layout, built from the expected facts above."""
    task, channels, classes, volume = EXPECTED[flag]
    rng = np.random.default_rng(seed)
    if volume:
        shape = (size, size, size)
    else:
        shape = (size, size) if channels == 1 else (size, size, 3)
    arrays = {}
    for i, split in enumerate(SPLITS):
        count = n + i  # different lengths per split
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, *shape), dtype=np.uint8)
        if task == "multilabel":
            labels = rng.integers(0, 2, (count, classes), dtype=np.uint8)
        else:
            labels = rng.integers(0, classes, (count, 1), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels
    return arrays


def channels_first(images: np.ndarray, rgb: bool) -> np.ndarray:
    """The reference conversion: float32 (N, C, ...) = value / 255, channels moved first."""
    scaled = images.astype(np.float32) / np.float32(255)
    return np.transpose(scaled, (0, 3, 1, 2)) if rgb else scaled[:, None]


def write(path: Path, arrays: dict[str, np.ndarray], compressed: bool = True) -> Path:
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def test_flag_table_matches_the_release() -> None:
    assert set(MEDMNIST_FLAGS) == set(EXPECTED)
    for flag, (task, channels, classes, volume) in EXPECTED.items():
        info = medmnist_info(flag)
        assert (info.n_channels, info.num_classes, info.ndim) == (
            channels,
            classes,
            3 if volume else 2,
        )
        assert info.multilabel == (task == "multilabel")
        assert info.sizes == ((28, 64) if volume else (28, 64, 128, 224))
        assert len(info.label_names) == classes
    assert medmnist_info("retinamnist").task == "ordinal-regression"
    assert medmnist_info("pathmnist").n_samples == {"train": 89996, "val": 10004, "test": 7180}


@pytest.mark.parametrize("flag", sorted(EXPECTED))
def test_every_flag_reads_numpys_own_file(tmp_path: Path, flag: str) -> None:
    task, channels, classes, _ = EXPECTED[flag]
    arrays = published_arrays(flag, 28, n=5, seed=sorted(EXPECTED).index(flag))
    write(tmp_path / f"{flag}.npz", arrays)
    for split in SPLITS:
        data = MedMNIST(tmp_path, flag, split)
        raw_images, raw_labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        expected = channels_first(raw_images, rgb=channels == 3)
        images, labels = data.tensors()
        assert images.dtype == torch.float32
        assert images.shape == expected.shape
        np.testing.assert_array_equal(images.numpy(), expected)
        assert (data.task, data.n_channels, data.num_classes) == (task, channels, classes)
        assert len(data) == raw_images.shape[0]
        if task == "multilabel":
            assert labels.dtype == torch.float32 and labels.shape == (len(data), classes)
            np.testing.assert_array_equal(labels.numpy(), raw_labels)
            image, label = data[2]
            assert isinstance(label, torch.Tensor) and label.shape == (classes,)
            np.testing.assert_array_equal(label.numpy(), raw_labels[2])
        else:
            assert labels.dtype == torch.int64 and labels.shape == (len(data),)
            np.testing.assert_array_equal(labels.numpy(), raw_labels[:, 0])
            image, label = data[2]
            assert type(label) is int and label == int(raw_labels[2, 0])
        np.testing.assert_array_equal(image.numpy(), expected[2])
        stored_images, stored_labels = data.arrays()
        np.testing.assert_array_equal(stored_images, raw_images)
        np.testing.assert_array_equal(stored_labels, raw_labels)


@pytest.mark.parametrize(
    "flag, size", [("pathmnist", 64), ("breastmnist", 128), ("nodulemnist3d", 64)]
)
def test_larger_sizes_use_the_size_suffix(tmp_path: Path, flag: str, size: int) -> None:
    arrays = published_arrays(flag, size, n=2, seed=1)
    write(tmp_path / f"{flag}_{size}.npz", arrays)
    data = MedMNIST(tmp_path, flag, "test", size=size)
    assert data.path.name == f"{flag}_{size}.npz"
    assert data[0][0].shape[-1] == size
    with pytest.raises(DataFileError, match=rf"{flag}\.npz"):
        MedMNIST(tmp_path, flag, "test")  # size 28 is another file


def test_uncompressed_and_multi_chunk_files_read_the_same(tmp_path: Path) -> None:
    # Incompressible noise, ~1.9 MB per split: several inflate chunks (and a memory map).
    arrays = published_arrays("pathmnist", 28, n=800, seed=3)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write(tmp_path / "a" / "pathmnist.npz", arrays, compressed=True)
    write(tmp_path / "b" / "pathmnist.npz", arrays, compressed=False)
    expected = channels_first(arrays["train_images"], rgb=True)
    for folder in ("a", "b"):
        data = MedMNIST(tmp_path / folder, "pathmnist", "train")
        np.testing.assert_array_equal(data.tensors()[0].numpy(), expected)
        again = MedMNIST(tmp_path / folder, "pathmnist", "train")
        _ = again[0]  # images read for items first, then converted from memory
        np.testing.assert_array_equal(again.tensors()[0].numpy(), expected)


def test_batched_paths_agree_with_items(tmp_path: Path) -> None:
    make_synthetic_medmnist(tmp_path, "bloodmnist", n_per_split=20, seed=0)
    data = MedMNIST(tmp_path, "bloodmnist", "val")
    images, labels = data.tensors()
    loaded = torch.cat([x for x, _ in DataLoader(data, batch_size=7)])
    assert torch.equal(loaded, images)
    batches = list(data.iter_batches(8))
    assert [len(y) for _, y in batches] == [8, 8, 4]
    assert torch.equal(torch.cat([x for x, _ in batches]), images)
    picked = data.load([5, -1, 0])
    assert torch.equal(picked[0], images[[5, 19, 0]])
    assert torch.equal(picked[1], labels[[5, 19, 0]])
    assert torch.equal(data[-1][0], images[19])
    restored = pickle.loads(pickle.dumps(data))
    assert torch.equal(restored.tensors()[0], images)
    with pytest.raises(IndexError):
        data[20]
    with pytest.raises(TypeError, match="index must be an int"):
        data[1.0]


def test_transform_applies_to_items(tmp_path: Path) -> None:
    make_synthetic_medmnist(tmp_path, "pneumoniamnist", n_per_split=4, seed=0)
    plain = MedMNIST(tmp_path, "pneumoniamnist", "test")
    flipped = MedMNIST(tmp_path, "pneumoniamnist", "test", transform=lambda x: x.flip(-1))
    assert torch.equal(flipped[1][0], plain[1][0].flip(-1))
    assert torch.equal(flipped.load([0, 1])[0], plain.load([0, 1])[0].flip(-1))


@pytest.mark.parametrize("flag", sorted(EXPECTED))
def test_synthetic_files_have_the_published_format(tmp_path: Path, flag: str) -> None:
    task, channels, classes, volume = EXPECTED[flag]
    path = make_synthetic_medmnist(tmp_path, flag, n_per_split={"train": 6, "val": 3, "test": 4})
    assert path == tmp_path / f"{flag}.npz"
    with np.load(path) as stored:
        assert sorted(stored.files) == sorted(
            f"{s}_{k}" for s in SPLITS for k in ("images", "labels")
        )
        for split, n in (("train", 6), ("val", 3), ("test", 4)):
            images, labels = stored[f"{split}_images"], stored[f"{split}_labels"]
            assert images.dtype == np.uint8 and labels.dtype == np.uint8
            if volume:
                assert images.shape == (n, 28, 28, 28)
            else:
                assert images.shape == ((n, 28, 28) if channels == 1 else (n, 28, 28, 3))
            if task == "multilabel":
                assert labels.shape == (n, classes) and set(np.unique(labels)) <= {0, 1}
            else:
                assert labels.shape == (n, 1) and labels.max() < classes
    assert len(MedMNIST(tmp_path, flag, "val")) == 3


def test_synthetic_is_seeded_and_splits_differ() -> None:
    a = synthetic_medmnist_arrays("octmnist", 8, seed=4, split="train")
    b = synthetic_medmnist_arrays("octmnist", 8, seed=4, split="train")
    c = synthetic_medmnist_arrays("octmnist", 8, seed=4, split="test")
    d = synthetic_medmnist_arrays("octmnist", 8, seed=5, split="train")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], d[0])


@pytest.mark.parametrize("flag", ["pathmnist", "chestmnist", "fracturemnist3d"])
def test_synthetic_labels_are_learnable(flag: str) -> None:
    """A linear model on the pixels predicts held-out labels far better than chance."""
    x_train, y_train = synthetic_medmnist_arrays(flag, 300, seed=0, split="train")
    x_test, y_test = synthetic_medmnist_arrays(flag, 150, seed=0, split="test")
    x_train = x_train.reshape(len(x_train), -1) / 255.0
    x_test = x_test.reshape(len(x_test), -1) / 255.0
    if flag == "chestmnist":
        label = 3  # one finding as a binary task; positives are ~25%
        model = LogisticRegression(max_iter=300).fit(x_train, y_train[:, label])
        accuracy = model.score(x_test, y_test[:, label])
        assert accuracy > 0.9
    else:
        model = LogisticRegression(max_iter=300).fit(x_train, y_train[:, 0])
        chance = 1 / medmnist_info(flag).num_classes
        assert model.score(x_test, y_test[:, 0]) > chance + 0.5


def test_bad_arguments_name_themselves(tmp_path: Path) -> None:
    make_synthetic_medmnist(tmp_path, "organmnist3d", n_per_split=2)
    with pytest.raises(ValueError, match=r"flag .*'organmnst3d'.*did you mean 'organmnist3d'"):
        MedMNIST(tmp_path, "organmnst3d", "test")
    with pytest.raises(TypeError, match="flag must be a str"):
        MedMNIST(tmp_path, 3, "test")
    with pytest.raises(ValueError, match=r"size must be one of 28, 64 for the 3D flag .*got 128"):
        MedMNIST(tmp_path, "organmnist3d", "test", size=128)
    with pytest.raises(ValueError, match=r"size must be one of 28, 64, 128, 224 .*got 32"):
        MedMNIST(tmp_path, "pathmnist", "test", size=32)
    with pytest.raises(ValueError, match=r"split must be one of 'train', 'val', 'test'; got 'dev'"):
        MedMNIST(tmp_path, "organmnist3d", "dev")
    assert MedMNIST(tmp_path, "organmnist3d", "valid").split == "val"
    with pytest.raises(TypeError, match="download must be a bool"):
        MedMNIST(tmp_path, "organmnist3d", "test", download=1)
    with pytest.raises(ValueError, match="flag must be a MedMNIST"):
        make_synthetic_medmnist(tmp_path, "mnist")
    with pytest.raises(ValueError, match="n_per_split"):
        make_synthetic_medmnist(tmp_path, "pathmnist", n_per_split={"train": 2})


def test_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataFileError) as caught:
        MedMNIST(tmp_path, "dermamnist", "test", size=64)
    message = str(caught.value)
    assert str(tmp_path / "dermamnist_64.npz") in message
    assert "zenodo.org/records/10519652" in message
    assert "make_synthetic_medmnist" in message
    assert "download=True" in message


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda a: a.pop("test_labels"), "no array 'test_labels'"),
        (lambda a: a.update(test_images=a["test_images"].astype(np.float32)), "must be uint8"),
        (
            lambda a: a.update(test_images=a["test_images"][..., 0]),
            r"must be uint8 \(N, 28, 28, 3\)",
        ),
        (lambda a: a.update(test_labels=a["test_labels"][:-1]), r"must be integer \(4, 1\)"),
        (lambda a: a.update(test_labels=a["test_labels"] + 9), r"values in \[0, 8\]"),
    ],
)
def test_files_in_another_format_are_refused(tmp_path: Path, change, pattern: str) -> None:
    arrays = published_arrays("pathmnist", 28, n=4, seed=0)
    arrays["test_images"] = arrays["test_images"][:4]
    arrays["test_labels"] = arrays["test_labels"][:4]
    change(arrays)
    write(tmp_path / "pathmnist.npz", arrays)
    with pytest.raises(DataFileError, match=pattern):
        MedMNIST(tmp_path, "pathmnist", "test")


def test_damaged_files_raise_data_file_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "pathmnist.npz", published_arrays("pathmnist", 28, n=300, seed=0))
    blob = bytearray(path.read_bytes())
    (tmp_path / "not_zip").mkdir()
    (tmp_path / "not_zip" / "pathmnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFileError, match=r"not a readable \.npz"):
        MedMNIST(tmp_path / "not_zip", "pathmnist", "test")
    # Flip bytes in the middle of the training images: the CRC (or inflate) check catches it.
    middle = len(blob) // 4
    blob[middle : middle + 64] = bytes(64)
    (tmp_path / "flipped").mkdir()
    (tmp_path / "flipped" / "pathmnist.npz").write_bytes(bytes(blob))
    data = MedMNIST(tmp_path / "flipped", "pathmnist", "train")
    with pytest.raises(DataFileError, match="truncated or corrupt"):
        data.tensors()


def test_download_uses_the_medmnist_package(tmp_path: Path, monkeypatch) -> None:
    calls = []

    class FakeDataset:
        def __init__(self, split, root, size, download):
            calls.append((split, root, size, download))
            make_synthetic_medmnist(root, "breastmnist", size=size, n_per_split=3)

    fake = types.SimpleNamespace(
        INFO={"breastmnist": {"python_class": "BreastMNIST"}}, BreastMNIST=FakeDataset
    )
    monkeypatch.setitem(sys.modules, "medmnist", fake)
    with pytest.raises(DataFileError):
        MedMNIST(tmp_path, "breastmnist", "train")  # nothing downloads by default
    assert calls == []
    data = MedMNIST(tmp_path / "new", "breastmnist", "train", size=64, download=True)
    assert calls == [("test", str(tmp_path / "new"), 64, True)]
    assert data.path == tmp_path / "new" / "breastmnist_64.npz"


def test_download_without_the_package_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "medmnist", None)  # import medmnist raises ImportError
    with pytest.raises(DataFileError, match="pip install medmnist"):
        MedMNIST(tmp_path, "breastmnist", "train", download=True)
