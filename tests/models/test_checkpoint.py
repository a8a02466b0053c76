import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import hermes
from hermes.models import (
    Checkpoint,
    EpochRecord,
    History,
    ResNet18,
    WeightsError,
    load_checkpoint,
    read_checkpoint,
    resnet18,
    reuse_checkpoint,
    save_checkpoint,
)


@pytest.fixture(scope="module")
def trained():
    """A ResNet-18 whose weights and BatchNorm statistics differ from any fresh one."""
    model = resnet18(num_outputs=3, weights=None, normalize=False, seed=5)
    with torch.no_grad():
        model.train()(torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
        model.fc.bias.add_(0.5)
    return model.eval()


def images(seed=1):
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_round_trip_gives_identical_outputs_without_restating_the_architecture(tmp_path, trained):
    path = save_checkpoint(trained, tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    assert isinstance(loaded, ResNet18)
    assert loaded.builder_args == {"num_outputs": 3, "normalize": False}
    assert not loaded.training
    x = images()
    torch.testing.assert_close(loaded(x), trained(x), rtol=0, atol=0)
    ours, theirs = loaded.state_dict(), trained.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)  # BatchNorm stats included


def test_metadata_is_kept(tmp_path, trained):
    history = History(
        protocol="lp-ft",
        epochs=[
            EpochRecord("lp", 1, 0.7, 0.69, 0.61, 1e-3),
            EpochRecord("ft", 1, 0.4, 0.5, 0.83, 1e-3),
        ],
        best_index=1,
    )
    path = save_checkpoint(
        trained,
        tmp_path / "model.pt",
        history=history,
        protocol="lp-ft",
        seed=42,
        notes={"data": "synthetic", "sizes": (64, 32), "mask": torch.tensor([1, 0])},
    )
    checkpoint = read_checkpoint(path)
    assert isinstance(checkpoint, Checkpoint)
    meta = checkpoint.metadata
    assert meta["protocol"] == "lp-ft"
    assert meta["seed"] == 42
    assert meta["history"]["best_index"] == 1
    assert meta["history"]["epochs"][1] == {
        "phase": "ft",
        "epoch": 1,
        "train_loss": 0.4,
        "val_loss": 0.5,
        "val_auroc": 0.83,
        "lr": 1e-3,
        "robust_val_auroc": None,
        "train_eps": None,
    }
    assert meta["notes"]["sizes"] == (64, 32)
    assert torch.equal(meta["notes"]["mask"], torch.tensor([1, 0]))
    assert meta["versions"] == {
        "hermes": hermes.__version__,
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
    }
    assert checkpoint.builder == "resnet18"


def test_file_is_plain_enough_for_weights_only_loading(tmp_path, trained):
    path = save_checkpoint(trained, tmp_path / "model.pt", seed=1)
    payload = torch.load(path, weights_only=True)
    assert payload["hermes_checkpoint"] == 1
    assert set(payload) == {
        "hermes_checkpoint",
        "builder",
        "builder_args",
        "state_dict",
        "dtype",
        "metadata",
    }
    assert list(payload["state_dict"]) == list(torchvision.models.resnet18().state_dict())


def test_save_leaves_no_temporary_files_and_overwrites(tmp_path, trained):
    save_checkpoint(trained, tmp_path / "model.pt", seed=1)
    save_checkpoint(trained, tmp_path / "model.pt", seed=2)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    assert read_checkpoint(tmp_path / "model.pt").metadata["seed"] == 2


def test_loading_does_not_touch_the_global_rng(tmp_path, trained):
    path = save_checkpoint(trained, tmp_path / "model.pt")
    state = torch.get_rng_state()
    load_checkpoint(path)
    assert torch.equal(torch.get_rng_state(), state)


def test_only_hermes_built_models_can_be_saved(tmp_path):
    with pytest.raises(TypeError, match="hermes builder"):
        save_checkpoint(torchvision.models.resnet18(), tmp_path / "x.pt")
    with pytest.raises(TypeError, match="hermes builder"):
        save_checkpoint(nn.Linear(2, 2), tmp_path / "x.pt")


def test_unstorable_metadata_names_its_key(tmp_path, trained):
    with pytest.raises(TypeError, match=r"metadata\['notes'\]\['fn'\] is a function"):
        save_checkpoint(trained, tmp_path / "x.pt", notes={"fn": images})
    assert not (tmp_path / "x.pt").exists()


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsError, match=r"not a hermes checkpoint.*resnet18\(weights=path\)"):
        load_checkpoint(path)
    with pytest.raises(WeightsError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_newer_format_and_damaged_checkpoints(tmp_path, trained):
    path = save_checkpoint(trained, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    newer = dict(payload, hermes_checkpoint=99)
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(WeightsError, match="format 99"):
        read_checkpoint(tmp_path / "newer.pt")
    unknown = dict(payload, builder="vit_b_16")
    torch.save(unknown, tmp_path / "unknown.pt")
    with pytest.raises(WeightsError, match="'vit_b_16'"):
        load_checkpoint(tmp_path / "unknown.pt")
    state = copy.copy(payload["state_dict"])
    del state["layer4.1.bn2.running_var"]
    torch.save(dict(payload, state_dict=state), tmp_path / "damaged.pt")
    with pytest.raises(WeightsError, match=r"layer4\.1\.bn2\.running_var"):
        load_checkpoint(tmp_path / "damaged.pt")


def test_reuse_checkpoint_only_with_the_same_settings(tmp_path, trained):
    path = tmp_path / "model.pt"
    settings = {"data": "/data/pcam", "epochs": 3, "seed": 42, "sizes": [4, 2]}
    assert reuse_checkpoint(path, settings) is None
    save_checkpoint(trained, path, settings=settings)
    again = reuse_checkpoint(path, dict(settings))
    assert torch.equal(again(images()), trained(images()))
    with pytest.raises(
        ValueError, match=r"data '/data/pcam' \(now '/tmp/synthetic'\), seed 42 \(now 0\)"
    ):
        reuse_checkpoint(path, {**settings, "data": "/tmp/synthetic", "seed": 0})
    with pytest.raises(ValueError, match=r"lr '\(unset\)' \(now 0.1\)"):
        reuse_checkpoint(path, {**settings, "lr": 0.1})
    save_checkpoint(trained, path)  # no settings recorded
    with pytest.raises(ValueError, match="records no training settings"):
        reuse_checkpoint(path, settings)


def test_compiled_models_dtypes_and_permissions_survive(tmp_path, trained):
    path = tmp_path / "compiled.pt"
    save_checkpoint(torch.compile(trained), path)  # saving does not compile anything
    assert torch.equal(load_checkpoint(path)(images()), trained(images()))
    double = copy.deepcopy(trained).double()
    save_checkpoint(double, tmp_path / "f64.pt")
    again = load_checkpoint(tmp_path / "f64.pt")
    assert next(again.parameters()).dtype == torch.float64
    assert torch.equal(again(images().double()), double(images().double()))
    torch.save({}, tmp_path / "plain.pt")
    assert (tmp_path / "f64.pt").stat().st_mode & 0o777 == (
        tmp_path / "plain.pt"
    ).stat().st_mode & 0o777


def test_versions_key_is_reserved_and_numpy_bools_are_stored(tmp_path, trained):
    with pytest.raises(TypeError, match="'versions' is reserved"):
        save_checkpoint(trained, tmp_path / "m.pt", versions={"hermes": "0"})
    save_checkpoint(trained, tmp_path / "m.pt", flag=np.bool_(True))
    assert read_checkpoint(tmp_path / "m.pt").metadata["flag"] is True


def test_reuse_compares_tensor_and_nan_settings_by_value(tmp_path, trained):
    settings = {"mean": torch.tensor([0.5, float("nan")]), "lr": float("nan")}
    save_checkpoint(trained, tmp_path / "m.pt", settings=settings)
    assert reuse_checkpoint(tmp_path / "m.pt", settings) is not None
    with pytest.raises(ValueError, match="other settings: mean"):
        reuse_checkpoint(tmp_path / "m.pt", {**settings, "mean": torch.tensor([0.5, 1.0])})


def test_reuse_checkpoint_moved_to_its_own_module_with_a_deprecated_alias():
    import hermes.models.checkpoint
    import hermes.models.reuse

    assert reuse_checkpoint is hermes.models.reuse.reuse_checkpoint
    with pytest.warns(DeprecationWarning, match="moved to hermes.models.reuse"):
        alias = hermes.models.checkpoint.reuse_checkpoint
    assert alias is reuse_checkpoint
    with pytest.raises(AttributeError, match="no attribute 'reuse'"):
        hermes.models.checkpoint.reuse  # noqa: B018
