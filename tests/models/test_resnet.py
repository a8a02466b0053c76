import pickle
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from hermes.errors import HermesError, RangeError
from hermes.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Normalize,
    ResNet18,
    WeightsError,
    resnet18,
    save_checkpoint,
)


def images(n=2, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("num_outputs", [1, 2, 3])
def test_output_shape_and_head(num_outputs):
    model = resnet18(num_outputs=num_outputs, weights=None, seed=0).eval()
    assert isinstance(model, ResNet18)
    assert model(images(4)).shape == (4, num_outputs)
    assert isinstance(model.fc, nn.Linear)
    assert (model.fc.in_features, model.fc.out_features) == (512, num_outputs)
    assert model.builder_args == {"num_outputs": num_outputs, "normalize": True}


def test_normalization_is_the_first_layer():
    model = resnet18(num_outputs=2, weights=None, seed=0).eval()
    assert next(iter(dict(model.named_children()))) == "normalize"
    assert isinstance(model.normalize, Normalize)
    raw = resnet18(num_outputs=2, weights=None, normalize=False, seed=0).eval()
    assert raw.builder_args["normalize"] is False
    x = images(3)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(model(x), raw((x - mean) / std))


def test_same_architecture_and_keys_as_torchvision():
    ours = resnet18(num_outputs=1000, weights=None, seed=0).eval()
    theirs = torchvision.models.resnet18(weights=None).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = images(2)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(ours(x), theirs((x - mean) / std))


def test_seed_fixes_the_initialization_without_touching_the_global_rng():
    state = torch.get_rng_state()
    a = resnet18(num_outputs=2, weights=None, seed=7).state_dict()
    b = resnet18(num_outputs=2, weights=None, seed=7).state_dict()
    c = resnet18(num_outputs=2, weights=None, seed=8).state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv1.weight"], c["conv1.weight"])


def test_imagenet_without_network_gives_a_clear_error(tmp_path, monkeypatch):
    # A private torch hub cache: no cached weights to find, nothing left in the user's cache.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError) as info:
        resnet18(num_outputs=2, weights="imagenet", progress=False)
    message = str(info.value)
    assert "weights=None" in message
    assert "resnet18-f37072fd.pth" in message
    assert isinstance(info.value, (HermesError, OSError))
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


def test_plain_torchvision_state_dict_file_loads_with_a_new_head(tmp_path):
    source = torchvision.models.resnet18(weights=None)  # ImageNet-shaped: 1000-class head
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = resnet18(num_outputs=2, weights=path, seed=0)
    ours, theirs = model.state_dict(), source.state_dict()
    for key in theirs:
        if key.startswith("fc."):
            continue
        assert torch.equal(ours[key], theirs[key]), key
    assert ours["fc.weight"].shape == (2, 512)
    fresh = resnet18(num_outputs=2, weights=None, seed=0).state_dict()
    assert torch.equal(ours["fc.weight"], fresh["fc.weight"])


def test_legacy_weight_files_without_batchnorm_counters_load(tmp_path):
    """torchvision's older files (ImageNet ResNet-18 among them) lack ``num_batches_tracked``;
    torchvision loads them strictly, and so must hermes."""
    source = torchvision.models.resnet18(weights=None)
    legacy = {k: v for k, v in source.state_dict().items() if "num_batches_tracked" not in k}
    torchvision.models.resnet18(weights=None).load_state_dict(legacy, strict=True)  # the reference
    torch.save(legacy, tmp_path / "legacy.pth")
    model = resnet18(num_outputs=1000, weights=tmp_path / "legacy.pth", normalize=False).eval()
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(model(x), source.eval()(x), rtol=0, atol=0)


def test_a_fitting_head_is_loaded_too(tmp_path):
    source = torchvision.models.resnet18(weights=None, num_classes=2)
    path = tmp_path / "two.pth"
    torch.save(source.state_dict(), path)
    model = resnet18(num_outputs=2, weights=str(path), seed=0)
    assert torch.equal(model.fc.weight, source.fc.weight)


def test_hermes_checkpoint_as_weights(tmp_path):
    trained = resnet18(num_outputs=2, weights=None, seed=3).eval()
    path = save_checkpoint(trained, tmp_path / "model.pt")
    same = resnet18(num_outputs=2, weights=path, seed=0).eval()
    x = images(2)
    torch.testing.assert_close(same(x), trained(x), rtol=0, atol=0)
    other_head = resnet18(num_outputs=1, weights=path, seed=0)
    assert torch.equal(other_head.conv1.weight, trained.conv1.weight)
    assert other_head.fc.weight.shape == (1, 512)


def test_weights_file_that_does_not_fit_names_the_keys(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match=r"unexpected key\(s\) such as \['layer1\.2"):
        resnet18(weights=path)
    small = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, small)
    with pytest.raises(WeightsError, match="missing key"):
        resnet18(weights=small)
    wrong = tmp_path / "wrong_shape.pth"
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    torch.save(state, wrong)
    with pytest.raises(WeightsError, match=r"conv1\.weight: \(64, 1, 7, 7\) vs \(64, 3, 7, 7\)"):
        resnet18(weights=wrong)


def test_unreadable_or_unsafe_files_raise_weights_error(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match=r"corrupt\.pth"):
        resnet18(weights=corrupt)
    truncated = tmp_path / "truncated.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(WeightsError, match=r"truncated\.pth"):
        resnet18(weights=truncated)
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"model": nn.Linear(2, 2)}, unsafe)  # a pickled module, not a state dict
    with pytest.raises(WeightsError, match="weights_only=True"):
        resnet18(weights=unsafe)
    not_a_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(WeightsError, match="not a state dict"):
        resnet18(weights=not_a_dict)


def test_model_pickles():
    model = resnet18(num_outputs=2, weights=None, seed=0).eval()
    again = pickle.loads(pickle.dumps(model))
    x = images(2)
    torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"num_outputs": 0}, RangeError, "num_outputs"),
        ({"num_outputs": "2"}, TypeError, "num_outputs"),
        ({"num_outputs": 2.0}, TypeError, "num_outputs"),
        ({"normalize": "yes"}, TypeError, "normalize"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"weights": 123}, TypeError, "weights"),
        ({"weights": "imagenet21k"}, WeightsError, "weights must be 'imagenet', None"),
        ({"weights": Path("/no/such/file.pth")}, WeightsError, "not an existing file"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, pattern):
    arguments = {"weights": None, **kwargs}
    with pytest.raises(error, match=pattern):
        resnet18(**arguments)
