"""Image folders and in-memory arrays as hermes data, checked against Pillow and numpy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from torch import nn

import hermes
from hermes.attacks import FGSM
from hermes.data import from_arrays, image_folder
from hermes.errors import DataFileError, RangeError, ShapeError


def make_folder(root: Path, classes: dict[str, list[np.ndarray]], mode: str | None = None) -> Path:
    for name, images in classes.items():
        (root / name).mkdir(parents=True)
        for i, array in enumerate(images):
            Image.fromarray(array, mode=mode).save(root / name / f"{i:03d}.png")
    return root


def test_gray_and_rgb_images_read_as_pixels_over_255(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray = [rng.integers(0, 256, (6, 9), dtype=np.uint8) for _ in range(3)]
    rgb = [rng.integers(0, 256, (6, 9, 3), dtype=np.uint8) for _ in range(2)]
    data = image_folder(make_folder(tmp_path / "g", {"b": gray[1:], "a": gray[:1]}))
    assert data.classes == ["a", "b"] and data.channels == 1
    assert [label for _, label in data.samples] == [0, 1, 1]
    image, label = data[1]
    assert image.shape == (1, 6, 9) and label == 1
    np.testing.assert_array_equal(image.numpy()[0], gray[1].astype(np.float32) / np.float32(255))
    colour = image_folder(make_folder(tmp_path / "c", {"x": rgb}))
    assert colour.channels == 3
    np.testing.assert_array_equal(
        colour[1][0].numpy(), np.transpose(rgb[1], (2, 0, 1)).astype(np.float32) / np.float32(255)
    )
    images, labels = data.tensors()
    assert images.shape == (3, 1, 6, 9) and labels.tolist() == [0, 1, 1]


def test_channels_and_size_follow_pillow(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    root = make_folder(tmp_path, {"only": [rgb]})
    gray = image_folder(root, channels=1)[0][0]
    expected = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255
    np.testing.assert_allclose(gray.numpy()[0], expected, atol=1e-7)
    resized = image_folder(root, size=(10, 12))[0][0]
    reference = Image.fromarray(rgb).resize((12, 10), Image.Resampling.BILINEAR)
    np.testing.assert_allclose(
        resized.numpy(), np.transpose(np.asarray(reference), (2, 0, 1)) / 255, atol=1e-7
    )
    assert image_folder(root, size=8)[0][0].shape == (3, 8, 8)


def test_sixteen_bit_images_are_divided_by_65535(tmp_path: Path) -> None:
    array = np.array([[0, 1000, 65535]], dtype=np.uint16)
    (tmp_path / "c").mkdir()
    Image.fromarray(array).save(tmp_path / "c" / "a.png")
    image = image_folder(tmp_path)[0][0]
    assert image.shape == (1, 1, 3)
    np.testing.assert_allclose(image.numpy()[0, 0], array[0] / 65535.0, rtol=1e-6)


def test_folder_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not an existing folder"):
        image_folder(tmp_path / "missing")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataFileError, match="one folder of images per class"):
        image_folder(tmp_path / "empty")
    root = make_folder(
        tmp_path / "sizes", {"a": [np.zeros((4, 4), np.uint8)], "b": [np.zeros((5, 4), np.uint8)]}
    )
    data = image_folder(root)
    with pytest.raises(ShapeError, match=r"b/000\.png' is 5x4 .* first image is 4x4.*pass size="):
        data[1]
    assert image_folder(root, size=4)[1][0].shape == (1, 4, 4)
    (root / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"broken\.png"):
        image_folder(root, size=4)[1]
    with pytest.raises(ValueError, match="channels must be one of 1, 3"):
        image_folder(root, channels=2)
    with pytest.raises(ValueError, match="size must be an int or"):
        image_folder(root, size=(1, 2, 3))


def test_from_arrays_layouts_match_numpy() -> None:
    rng = np.random.default_rng(2)
    nhwc = rng.integers(0, 256, (3, 5, 6, 3), dtype=np.uint8)
    images, labels = from_arrays(nhwc, np.array([[1], [0], [2]], dtype=np.uint8))
    np.testing.assert_array_equal(
        images.numpy(), np.transpose(nhwc, (0, 3, 1, 2)).astype(np.float32) / np.float32(255)
    )
    assert labels.dtype == torch.int64 and labels.tolist() == [1, 0, 2]
    volumes = rng.integers(0, 256, (2, 4, 5, 6), dtype=np.uint8)
    x, _ = from_arrays(volumes, [0, 1], layout="NDHW")
    np.testing.assert_array_equal(x.numpy()[:, 0], volumes / np.float32(255))
    nchw = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    x, _ = from_arrays(nchw, torch.tensor([0, 1]), layout="NCHW")
    assert x.dtype == torch.float32 and torch.equal(x, nchw.float())
    multi = np.array([[0, 1, 1], [1, 0, 0]])
    _, y = from_arrays(np.zeros((2, 3, 3), np.uint8), multi, layout="NHW")
    assert y.dtype == torch.float32 and y.tolist() == multi.tolist()
    x16, _ = from_arrays(np.full((1, 2, 2), 65535, np.uint16), [0], layout="NHW")
    assert float(x16.min()) == 1.0


def test_from_arrays_rejects_what_it_cannot_take() -> None:
    with pytest.raises(ShapeError, match="4 dimensions for layout 'NHWC'"):
        from_arrays(np.zeros((2, 4, 4), np.uint8), [0, 1])
    with pytest.raises(RangeError, match=r"\[0, 1\]"):
        from_arrays(np.full((1, 2, 2), 2.0), [0], layout="NHW")
    with pytest.raises(TypeError, match="uint8, uint16 or float"):
        from_arrays(np.zeros((1, 2, 2), np.int32), [0], layout="NHW")
    with pytest.raises(ShapeError, match="N=2"):
        from_arrays(np.zeros((2, 2, 2), np.uint8), [0, 1, 1], layout="NHW")
    with pytest.raises(RangeError, match="only 0 and 1"):
        from_arrays(np.zeros((2, 2, 2), np.uint8), [[0, 2], [1, 0]], layout="NHW")
    with pytest.raises(ValueError, match="layout must be one of"):
        from_arrays(np.zeros((2, 2, 2), np.uint8), [0, 1], layout="HWC")


class TinyCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_evaluate_robustness_runs_on_an_image_folder(tmp_path: Path) -> None:
    """A binary task in class folders: the clean AUROC is sklearn's on the model's scores."""
    rng = np.random.default_rng(3)
    dark = [rng.integers(0, 120, (8, 8, 3), dtype=np.uint8) for _ in range(6)]
    bright = [rng.integers(100, 256, (8, 8, 3), dtype=np.uint8) for _ in range(6)]
    data = image_folder(make_folder(tmp_path, {"0_negative": dark, "1_positive": bright}))
    torch.manual_seed(0)
    model = TinyCNN().eval()
    report = hermes.evaluate_robustness(
        model, data, attacks={"FGSM": FGSM}, epsilons=[0.0, 0.05], batch_size=5, progress=False
    )
    images, labels = data.tensors()
    with torch.no_grad():
        scores = torch.sigmoid(model(images)).squeeze(1).numpy()
    expected = roc_auc_score(labels.numpy(), scores)
    assert report.auroc["None", "FGSM", 0.0] == pytest.approx(expected, abs=1e-12)
    assert report.auroc["None", "FGSM", 0.05] <= report.auroc["None", "FGSM", 0.0]
