import pytest
import torch

from hermes.errors import RangeError, ShapeError
from hermes.models import IMAGENET_MEAN, IMAGENET_STD, Normalize, normalize


def manual(x: torch.Tensor, mean, std) -> torch.Tensor:
    out = torch.empty_like(x)
    for c in range(x.shape[1]):
        out[:, c] = (x[:, c] - mean[c]) / std[c]
    return out


def test_imagenet_constants():
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406)
    assert IMAGENET_STD == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_the_formula_channel_by_channel(dtype):
    x = torch.rand(4, 3, 5, 6, generator=torch.Generator().manual_seed(0), dtype=dtype)
    expected = manual(x, IMAGENET_MEAN, IMAGENET_STD)
    got = normalize(x, IMAGENET_MEAN, IMAGENET_STD)
    assert got.dtype == dtype
    torch.testing.assert_close(got, expected)


def test_module_equals_function():
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    layer = Normalize(IMAGENET_MEAN, IMAGENET_STD)
    torch.testing.assert_close(layer(x), normalize(x, IMAGENET_MEAN, IMAGENET_STD), rtol=0, atol=0)


def test_any_channel_count_and_tensor_statistics():
    x = torch.rand(2, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    layer = Normalize(torch.tensor([0.1, 0.9]), torch.tensor([2.0, 0.5]))
    torch.testing.assert_close(layer(x), manual(x, [0.1, 0.9], [2.0, 0.5]))


def test_buffers_are_not_persistent_and_follow_to():
    layer = Normalize(IMAGENET_MEAN, IMAGENET_STD)
    assert dict(layer.state_dict()) == {}
    assert {name for name, _ in layer.named_buffers()} == {"mean", "std"}
    assert layer.to(torch.float64).mean.dtype == torch.float64


def test_gradients_flow_to_the_input():
    x = torch.rand(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    Normalize(IMAGENET_MEAN, IMAGENET_STD)(x).sum().backward()
    expected = (1 / torch.tensor(IMAGENET_STD, dtype=torch.float64)).view(1, 3, 1, 1).expand_as(x)
    torch.testing.assert_close(x.grad, expected)


def test_wrong_channel_count_names_the_shape():
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\).*got shape \(2, 1, 4, 4\)"):
        Normalize(IMAGENET_MEAN, IMAGENET_STD)(torch.rand(2, 1, 4, 4))
    with pytest.raises(ShapeError, match="got shape"):
        normalize(torch.rand(3, 4, 4), IMAGENET_MEAN, IMAGENET_STD)


def test_integer_images_are_rejected():
    with pytest.raises(TypeError, match="float"):
        normalize(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), IMAGENET_MEAN, IMAGENET_STD)


@pytest.mark.parametrize(
    ("mean", "std", "error", "pattern"),
    [
        ([0.5, 0.5], [0.2], ShapeError, "2 means and 1 standard"),
        ([0.5], [0.0], RangeError, "std must be > 0"),
        ([0.5], [-1.0], RangeError, "std must be > 0"),
        ([float("nan")], [1.0], RangeError, "mean must be finite"),
        ([], [], ShapeError, "mean must hold one value per channel"),
        ("abc", [1.0], TypeError, "mean must be"),
        ([0.5], ["x"], TypeError, "std must be"),
    ],
)
def test_bad_statistics_raise_naming_them(mean, std, error, pattern):
    with pytest.raises(error, match=pattern):
        Normalize(mean, std)
