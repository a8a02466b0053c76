"""build_model: every listed architecture builds offline, trains, attacks and checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from hermes.attacks import PGD
from hermes.errors import ShapeError, WeightsError
from hermes.models import (
    BuiltModel,
    available_models,
    build_model,
    load_checkpoint,
    resnet18,
    save_checkpoint,
)

# name -> (build kwargs, input shape): the smallest inputs the architectures take, for speed.
IMAGE_MODELS = {
    "resnet18": ({}, (2, 3, 32, 32)),
    "resnet50": ({}, (2, 3, 32, 32)),
    "densenet121": ({}, (2, 3, 32, 32)),
    "efficientnet_b0": ({}, (2, 3, 32, 32)),
    "convnext_tiny": ({}, (2, 3, 32, 32)),
    "vit_b_16": ({"input_size": 32}, (2, 3, 32, 32)),
    "swin_t": ({}, (2, 3, 32, 32)),
}
VOLUME_MODELS = {
    "r3d_18": ({}, (2, 3, 8, 16, 16)),
    "cnn3d_small": ({"in_channels": 1}, (2, 1, 8, 12, 12)),
}
ALL_MODELS = {**IMAGE_MODELS, **VOLUME_MODELS}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n == "vit_b_16" else n for n in ALL_MODELS],
)
def test_builds_trains_attacks_and_checkpoints(name: str, tmp_path: Path) -> None:
    kwargs, shape = ALL_MODELS[name]
    model = build_model(name, num_outputs=3, seed=0, **kwargs)
    assert isinstance(model, BuiltModel) and isinstance(model.fc, nn.Linear)
    assert model.fc.out_features == 3
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))

    # forward + backward: every parameter of the body and the head gets a gradient
    model.train()
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 2]))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    assert model.fc.weight.grad.abs().sum() > 0

    # save / load gives the same function
    model.eval()
    path = save_checkpoint(model, tmp_path / "model.pt", note=name)
    again = load_checkpoint(path)
    assert type(again) is BuiltModel and again.builder_args == model.builder_args
    with torch.no_grad():
        assert torch.equal(again(x), model(x))

    if name in VOLUME_MODELS:
        return  # hermes' attacks take (B, C, H, W) images; volumes are checked where they do
    # PGD stays in [0, 1] and within eps
    eps = 4 / 255
    adversarial = PGD(model, eps=eps, steps=2, generator=0)(x, torch.tensor([1, 0]))
    assert adversarial.shape == x.shape
    assert float(adversarial.min()) >= 0.0 and float(adversarial.max()) <= 1.0
    assert float((adversarial - x).abs().max()) <= eps + 1e-6


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0", "r3d_18"])
def test_grayscale_model_equals_rgb_model_on_the_repeated_image(name: str) -> None:
    kwargs, shape = ALL_MODELS[name]
    rgb = build_model(name, num_outputs=2, seed=3, **kwargs).eval()
    gray = build_model(name, num_outputs=2, in_channels=1, seed=3, **kwargs).eval()
    x = torch.rand((shape[0], 1, *shape[2:]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(gray(x), rgb(x.repeat(1, 3, *[1] * (x.ndim - 2))))
    with pytest.raises(ShapeError, match="in_channels=1"):
        gray(torch.rand(shape))
    with pytest.raises(ShapeError, match="in_channels=3"):
        rgb(x)


def test_normalization_is_imagenet_inside() -> None:
    model = build_model("resnet18", num_outputs=2, seed=0).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = model.fc(model.body((x - mean) / std))
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_seed_repeats_and_leaves_the_global_rng_alone() -> None:
    state = torch.get_rng_state()
    a = build_model("efficientnet_b0", num_outputs=2, seed=5)
    b = build_model("efficientnet_b0", num_outputs=2, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q)


def test_torchvision_state_dict_file_loads_with_a_new_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("resnet18", num_outputs=2, weights=path, seed=1).eval()
    assert torch.equal(model.body.conv1.weight, reference.conv1.weight)
    assert model.fc.weight.shape == (2, 512)
    whole = build_model("resnet18", num_outputs=1000, weights=path).eval()
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(whole(x), reference.eval()((x - mean) / std), atol=1e-5)
    with pytest.raises(WeightsError, match="do not fit 'densenet121'"):
        build_model("densenet121", num_outputs=2, weights=path)


def test_hermes_checkpoints_load_as_weights(tmp_path: Path) -> None:
    old = resnet18(num_outputs=2, weights=None, seed=0).eval()
    path = save_checkpoint(old, tmp_path / "old.pt")
    model = build_model("resnet18", num_outputs=2, weights=path).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), old(x))
    built = build_model("cnn3d_small", num_outputs=2, in_channels=2, seed=0)
    saved = save_checkpoint(built, tmp_path / "built.pt")
    copy = build_model("cnn3d_small", num_outputs=2, in_channels=2, weights=saved).eval()
    v = torch.rand(1, 2, 8, 8, 8)
    with torch.no_grad():
        assert torch.equal(copy(v), built.eval()(v))
    with pytest.raises(WeightsError, match="checkpoint of a 'cnn3d_small' model"):
        build_model("resnet18", num_outputs=2, weights=saved)


def test_imagenet_weights_come_from_torchs_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    assert str(cache).startswith(str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match="torch's cache"):
        build_model("resnet18", num_outputs=2, weights="imagenet")
    torch.manual_seed(0)
    stand_in = torchvision.models.resnet18()
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(stand_in.state_dict(), cache / Path(url).name)
    model = build_model("resnet18", num_outputs=2, weights="imagenet")
    assert torch.equal(model.body.layer4[1].conv2.weight, stand_in.layer4[1].conv2.weight)


def test_unknown_names_and_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"'resnet19'.*did you mean 'resnet18'"):
        build_model("resnet19", num_outputs=2)
    with pytest.raises(ValueError, match=r"did you mean 'convnext_tiny'"):
        build_model("convnext_tiy", num_outputs=2)
    with pytest.raises(TypeError, match="name must be a str"):
        build_model(None, num_outputs=2)
    with pytest.raises(ValueError, match="num_outputs must be an integer >= 1; got 0"):
        build_model("resnet18", num_outputs=0)
    with pytest.raises(ValueError, match=r"in_channels must be 1 .* or 3 for 'resnet18'; got 4"):
        build_model("resnet18", num_outputs=2, in_channels=4)
    with pytest.raises(ValueError, match="input_size must be a multiple of vit_b_16's patch size"):
        build_model("vit_b_16", num_outputs=2, input_size=40)
    with pytest.raises(WeightsError, match="not an existing file"):
        build_model("resnet18", num_outputs=2, weights="no/such/file.pt")
    with pytest.raises(TypeError, match="weights must be"):
        build_model("resnet18", num_outputs=2, weights=3)
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_model("cnn3d_small", num_outputs=2, weights="imagenet")
    with pytest.raises(TypeError, match="seed must be an int"):
        build_model("resnet18", num_outputs=2, seed=1.5)
    names = available_models()
    assert {"resnet18", "swin_t", "r3d_18", "cnn3d_small"} <= set(names)
    assert "fasterrcnn_resnet50_fpn" not in names and "fcn_resnet50" not in names


def test_timm_names_without_timm_say_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(ImportError, match=r"hermes-robustness\[timm\]"):
        build_model("timm:resnet18", num_outputs=2)


@pytest.mark.slow
def test_timm_models_build_and_checkpoint(tmp_path: Path) -> None:
    """The optional extra (pip install 'hermes-robustness[timm]'); the dev extra installs it."""
    model = build_model("timm:resnet18", num_outputs=3, in_channels=1, seed=0).eval()
    x = torch.rand(2, 1, 32, 32)
    path = save_checkpoint(model, tmp_path / "timm.pt")
    with torch.no_grad():
        assert model(x).shape == (2, 3)
        assert torch.equal(load_checkpoint(path)(x), model(x))
    vit = build_model("timm:vit_tiny_patch16_224", num_outputs=2, input_size=32, seed=0)
    assert vit(torch.rand(1, 3, 32, 32)).shape == (1, 2)
    with pytest.raises(ValueError, match="did you mean 'timm:resnet18'"):
        build_model("timm:resnet18x", num_outputs=2)
