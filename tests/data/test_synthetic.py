"""The synthetic PCam generator: file format, determinism, the label rule, balance, difficulty."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hermes.data import (
    PCamFiles,
    generate_synthetic_patches,
    make_synthetic_pcam,
    synthetic_pcam_arrays,
)
from hermes.errors import RangeError
from tests.data.helpers import read_raw


@pytest.fixture(scope="module")
def patches():
    """Two full blocks of test-split patches (each block is exactly class-balanced)."""
    return generate_synthetic_patches(512, seed=5, split="test")


def distance_to_centre_square() -> np.ndarray:
    """(96, 96) Euclidean distance of each pixel to the central square [32, 63]^2."""
    rows, cols = np.mgrid[:96, :96]
    dy = np.clip(np.maximum(32 - rows, rows - 63), 0, None)
    dx = np.clip(np.maximum(32 - cols, cols - 63), 0, None)
    return np.hypot(dy, dx)


# --------------------------------------------------------------------------------------------
# Files


def test_files_have_exactly_the_release_format(tmp_path) -> None:
    root = tmp_path / "new" / "folder"
    files = make_synthetic_pcam(root, n_train=5, n_valid=3, n_test=4, seed=0)
    assert list(files) == ["train", "valid", "test"]
    sizes = {"train": 5, "valid": 3, "test": 4}
    for split, paths in files.items():
        assert isinstance(paths, PCamFiles)
        assert paths.x == root / f"camelyonpatch_level_2_split_{split}_x.h5"
        assert paths.y == root / f"camelyonpatch_level_2_split_{split}_y.h5"
        with h5py.File(paths.x, "r") as fx, h5py.File(paths.y, "r") as fy:
            assert list(fx.keys()) == ["x"] and list(fy.keys()) == ["y"]
            x, y = fx["x"], fy["y"]
            assert x.shape == (sizes[split], 96, 96, 3) and x.dtype == np.uint8
            assert y.shape == (sizes[split], 1, 1, 1) and y.dtype == np.uint8
            assert x.compression == "gzip" and y.compression == "gzip"
            assert set(np.unique(y[()]).tolist()) <= {0, 1}
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [*(p.name for paths in files.values() for p in paths), "hermes_synthetic.json"]
    )  # no temporary files left behind; the record of the arguments (for reuse=True)


def test_files_hold_the_in_memory_patches(tmp_path) -> None:
    files = make_synthetic_pcam(tmp_path, n_train=6, n_valid=3, n_test=4, seed=11)
    for split, n in (("train", 6), ("valid", 3), ("test", 4)):
        x, y = synthetic_pcam_arrays(n, seed=11, split=split)
        raw_x, raw_y = read_raw(files[split])
        np.testing.assert_array_equal(raw_x, x)
        np.testing.assert_array_equal(raw_y, y[:, 0, 0, 0])


def test_uncompressed_files_hold_the_same_patches(tmp_path) -> None:
    gz = make_synthetic_pcam(tmp_path / "gz", 2, 2, 5, seed=4)
    plain = make_synthetic_pcam(tmp_path / "plain", 2, 2, 5, seed=4, compression=None)
    with h5py.File(plain["test"].x, "r") as fx, h5py.File(plain["test"].y, "r") as fy:
        assert fx["x"].compression is None and fx["x"].chunks is None  # contiguous
        assert fy["y"].compression is None
    for got, expected in zip(read_raw(plain["test"]), read_raw(gz["test"])):
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="compression must be one of 'gzip', None; got 'lzf'"):
        make_synthetic_pcam(tmp_path / "lzf", 1, 1, 1, compression="lzf")


def test_rewriting_replaces_the_files(tmp_path) -> None:
    make_synthetic_pcam(tmp_path, 3, 3, 3, seed=0)
    files = make_synthetic_pcam(tmp_path, 3, 3, 2, seed=1)
    np.testing.assert_array_equal(
        read_raw(files["test"])[0], synthetic_pcam_arrays(2, 1, split="test")[0]
    )


def test_reuse_keeps_a_set_written_with_the_same_arguments(tmp_path) -> None:
    files = make_synthetic_pcam(tmp_path, 3, 3, 2, seed=0, reuse=True)
    stamps = {p: p.stat().st_mtime_ns for pair in files.values() for p in pair}
    assert make_synthetic_pcam(tmp_path, 3, 3, 2, seed=0, reuse=True) == files
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # not written again
    with pytest.raises(ValueError, match=r"other arguments: n_test 2 \(now 4\), seed 0 \(now 1\)"):
        make_synthetic_pcam(tmp_path, 3, 3, 4, seed=1, reuse=True)
    make_synthetic_pcam(tmp_path, 3, 3, 4, seed=1)  # without reuse: rewritten, then reusable
    assert make_synthetic_pcam(tmp_path, 3, 3, 4, seed=1, reuse=True)["test"] == files["test"]


def test_reuse_never_takes_files_it_did_not_write(tmp_path) -> None:
    files = make_synthetic_pcam(tmp_path, 3, 3, 2, seed=0)
    (tmp_path / "hermes_synthetic.json").unlink()  # as if they were the real release
    with pytest.raises(ValueError, match="did not finish writing"):
        make_synthetic_pcam(tmp_path, 3, 3, 2, seed=0, reuse=True)
    assert files["test"].x.exists()  # left alone


# --------------------------------------------------------------------------------------------
# Determinism


def test_seeded_and_split_specific() -> None:
    a, _ = synthetic_pcam_arrays(6, seed=0)
    b, _ = synthetic_pcam_arrays(6, seed=0)
    c, _ = synthetic_pcam_arrays(6, seed=1)
    d, _ = synthetic_pcam_arrays(6, seed=0, split="valid")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_whole_blocks_do_not_depend_on_the_total(patches) -> None:
    first = generate_synthetic_patches(256, seed=5, split="test")
    np.testing.assert_array_equal(first.x, patches.x[:256])
    np.testing.assert_array_equal(first.y, patches.y[:256])


def test_global_rngs_are_untouched() -> None:
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the legacy global RNG itself)
    synthetic_pcam_arrays(3, seed=0)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


def test_empty_draw() -> None:
    empty = generate_synthetic_patches(0)
    assert empty.x.shape == (0, 96, 96, 3) and empty.y.shape == (0, 1, 1, 1)


# --------------------------------------------------------------------------------------------
# The label rule and the ground truth


def test_label_is_tumour_in_the_centre(patches) -> None:
    in_centre = patches.tumour_mask[:, 32:64, 32:64].any(axis=(1, 2))
    np.testing.assert_array_equal(patches.clean_y, in_centre.astype(np.uint8))


def test_positives_have_a_dense_cluster_touching_the_centre(patches) -> None:
    positive = patches.clean_y == 1
    assert (patches.tumour_nuclei[positive] >= 4).all()
    assert (patches.tumour_mask[positive].sum(axis=(1, 2)) >= 100).all()
    # every tumour pixel of a positive lies near the others (one cluster, not scattered cells)
    distance = distance_to_centre_square()
    for mask in patches.tumour_mask[positive]:
        assert distance[mask].min() == 0
        rows, cols = np.nonzero(mask)
        assert np.hypot(rows - rows.mean(), cols - cols.mean()).max() < 32


def test_negatives_have_no_tumour_in_the_centre_but_some_just_outside(patches) -> None:
    negative = patches.clean_y == 0
    outside = negative & patches.cluster_outside
    plain = negative & ~patches.cluster_outside
    assert not patches.tumour_mask[plain].any() and (patches.tumour_nuclei[plain] == 0).all()
    assert 0.2 < outside.sum() / negative.sum() < 0.4
    distance = distance_to_centre_square()
    nearest = [distance[mask].min() for mask in patches.tumour_mask[outside] if mask.any()]
    assert len(nearest) >= 0.9 * outside.sum()
    assert min(nearest) > 0 and max(nearest) <= 20  # outside the centre, but close to it
    assert not patches.cluster_outside[patches.clean_y == 1].any()


def test_atypical_large_nuclei_appear_in_both_classes(patches) -> None:
    negative = patches.clean_y == 0
    assert 0.2 < (patches.atypical_nuclei[negative] > 0).mean() < 0.5
    assert 0.1 < (patches.atypical_nuclei[~negative] > 0).mean() < 0.3


def test_the_tumour_mask_is_what_the_image_shows(patches) -> None:
    luminance = patches.x.astype(np.float64).mean(axis=-1)
    for image, mask in zip(
        luminance[patches.clean_y == 1], patches.tumour_mask[patches.clean_y == 1]
    ):
        assert image[mask].mean() < image.mean() - 40  # tumour nuclei are dark


def test_classes_are_balanced_and_a_few_labels_are_flipped(patches) -> None:
    assert patches.clean_y.sum() == 256  # exactly half per block of 256
    flipped = (patches.y[:, 0, 0, 0] != patches.clean_y).mean()
    assert 0.01 < flipped < 0.06  # label_noise=0.03
    clean = generate_synthetic_patches(64, seed=2, label_noise=0.0)
    np.testing.assert_array_equal(clean.y[:, 0, 0, 0], clean.clean_y)
    noisy = generate_synthetic_patches(64, seed=2, label_noise=0.5)
    assert 0.3 < (noisy.y[:, 0, 0, 0] != noisy.clean_y).mean() < 0.7
    np.testing.assert_array_equal(noisy.x, clean.x)  # label noise changes labels only


# --------------------------------------------------------------------------------------------
# Looks and difficulty


def test_colours_are_h_and_e_like(patches) -> None:
    pixels = patches.x.astype(np.float64)
    red, green, blue = pixels.mean(axis=(0, 1, 2))
    assert red > green + 20 and blue > green + 20  # pink/purple, not grey or green
    positive = patches.clean_y == 1
    nuclei = pixels[positive][patches.tumour_mask[positive]]
    assert nuclei[:, 2].mean() > nuclei[:, 0].mean()  # haematoxylin: blue-purple nuclei
    assert (pixels.mean(axis=(1, 2)).std(axis=0) > 5).all()  # stain varies between patches


def test_a_simple_feature_separates_the_classes_but_not_perfectly(patches) -> None:
    darkness = 255 - patches.x[:, 32:64, 32:64].astype(np.float64).mean(axis=(1, 2, 3))
    auroc = roc_auc_score(patches.y[:, 0, 0, 0], darkness)
    assert 0.75 < auroc < 0.97


# --------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"n": -1}, RangeError, "n must be an integer >= 0; got -1"),
        ({"n": 2.0}, TypeError, "n must be an integer"),
        ({"seed": -3}, RangeError, "seed must be an integer >= 0; got -3"),
        ({"seed": None}, TypeError, "seed must be an integer"),
        ({"split": "dev"}, ValueError, "split must be one of"),
        ({"label_noise": 0.7}, RangeError, "label_noise must be <= 0.5; got 0.7"),
        ({"label_noise": -0.1}, RangeError, "label_noise must be >= 0"),
    ],
)
def test_bad_generator_arguments(kwargs, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        generate_synthetic_patches(**{"n": 2, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"n_train": 0}, RangeError, "n_train must be an integer >= 1; got 0"),
        ({"n_valid": -2}, RangeError, "n_valid must be an integer >= 1"),
        ({"n_test": 1.5}, TypeError, "n_test must be an integer"),
        ({"seed": -1}, RangeError, "seed must be an integer >= 0"),
        ({"label_noise": 1.0}, RangeError, "label_noise must be <= 0.5"),
    ],
)
def test_bad_writer_arguments(kwargs, error, pattern, tmp_path) -> None:
    with pytest.raises(error, match=pattern):
        make_synthetic_pcam(tmp_path, **{"n_train": 1, "n_valid": 1, "n_test": 1, **kwargs})
    assert not list(tmp_path.iterdir())  # nothing written
    with pytest.raises(TypeError, match="root must be a path"):
        make_synthetic_pcam(None)


def test_renderer_and_writer_live_apart_and_the_old_imports_work() -> None:
    import hermes.data.synthetic
    import hermes.data.tissue

    for name in ("SyntheticPatches", "generate_synthetic_patches", "synthetic_pcam_arrays"):
        assert getattr(hermes.data.synthetic, name) is getattr(hermes.data.tissue, name)
        assert name in hermes.data.synthetic.__all__
    assert not hasattr(hermes.data.tissue, "make_synthetic_pcam")
    assert hermes.data.synthetic.make_synthetic_pcam is make_synthetic_pcam
