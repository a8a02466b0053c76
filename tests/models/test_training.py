import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from hermes.errors import RangeError
from hermes.models import Augmentation, History, fine_tune, positive_class_scores, resnet18

FAST = {"batch_size": 16, "augment": False, "progress": False}


def colour_task(n, seed, size=32):
    """Label 1 images lean red, label 0 images lean blue, under strong pixel noise."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.6 * torch.rand(n, 3, size, size, generator=generator)
    x[:, 0] += 0.3 * y[:, None, None]
    x[:, 2] += 0.3 * (1 - y)[:, None, None]
    return x, y


TRAIN, VAL = colour_task(48, 0), colour_task(32, 1)


def fresh_model(num_outputs=1, seed=0):
    """A ResNet-18 whose zeroed head scores every image the same: AUROC exactly 0.5 to start."""
    model = resnet18(num_outputs=num_outputs, weights=None, seed=seed)
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.zero_()
    return model


def auroc(model, data):
    x, y = data
    with torch.no_grad():
        scores = positive_class_scores(model.eval()(x))
    return roc_auc_score(y.numpy(), scores.numpy())


def states_equal(a, b, keys):
    return all(torch.equal(a[k], b[k]) for k in keys)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("num_outputs", "protocol"), [(1, "lp-ft"), (2, "ft")])
def test_learns_and_returns_the_best_weights(num_outputs, protocol):
    model = fresh_model(num_outputs)
    assert auroc(model, VAL) == 0.5
    model, history = fine_tune(
        model, TRAIN, VAL, protocol=protocol, lp_epochs=2, ft_epochs=2, lr_lp=1e-2, **FAST
    )
    assert isinstance(history, History)
    assert history.best.val_auroc > 0.9
    assert history.best.val_auroc == max(history.val_auroc)
    assert auroc(model, VAL) == pytest.approx(history.best.val_auroc, abs=1e-12)
    assert not model.training


class RedScore(nn.Module):
    """Ranks images by their red mean, in the direction of the sign of one weight."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return (self.w * (x[:, 0].mean(dim=(1, 2)) - 0.45))[:, None]


def test_the_best_epoch_is_restored_not_the_last():
    # Training on flipped labels drives w down by about lr per Adam step (3 steps per epoch):
    # 0.05 -> 0.02 (AUROC 1) -> -0.01 (AUROC 0) -> -0.04 (AUROC 0).
    x, y = TRAIN
    model, history = fine_tune(
        RedScore(0.05), (x, 1 - y), VAL, protocol="ft", ft_epochs=3, lr_ft=0.01, patience=None,
        **FAST,
    )  # fmt: skip
    assert history.val_auroc == [1.0, 0.0, 0.0]
    assert history.best_index == 0
    assert float(model.w.detach()) == pytest.approx(0.02, abs=2e-3)
    assert auroc(model, VAL) == 1.0


def test_history_records_each_epoch():
    _, history = fine_tune(
        fresh_model(), TRAIN, VAL, lp_epochs=2, ft_epochs=1, lr_lp=1e-2, patience=None, **FAST
    )
    assert history.protocol == "lp-ft"
    assert [(r.phase, r.epoch) for r in history.epochs] == [("lp", 1), ("lp", 2), ("ft", 1)]
    assert all(r.lr == 1e-2 for r in history.epochs[:2]) and history.epochs[2].lr == 1e-3
    assert all(r.train_loss > 0 and r.val_loss > 0 for r in history.epochs)
    assert history.train_loss == [r.train_loss for r in history.epochs]


def test_linear_probing_only_changes_the_head():
    model = fresh_model()
    before = snapshot(model)
    model, _ = fine_tune(model, TRAIN, VAL, protocol="lp", lp_epochs=2, lr_lp=1e-2, **FAST)
    after = model.state_dict()
    backbone = [k for k in before if not k.startswith("fc.")]
    assert any("running_mean" in k for k in backbone) and any("num_batches" in k for k in backbone)
    assert states_equal(before, after, backbone)  # weights and BatchNorm statistics, bit for bit
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_full_fine_tuning_changes_the_backbone_and_batchnorm_statistics():
    model = fresh_model()
    before = snapshot(model)
    model, _ = fine_tune(model, TRAIN, VAL, protocol="ft", ft_epochs=1, **FAST)
    after = model.state_dict()
    for key in ("conv1.weight", "layer4.1.conv2.weight", "bn1.running_mean", "fc.weight"):
        assert not torch.equal(before[key], after[key]), key


def test_same_seed_same_weights_and_the_global_rng_is_untouched():
    runs = []
    state = torch.get_rng_state()
    for seed in (3, 3, 4):
        model, _ = fine_tune(
            fresh_model(), TRAIN, VAL, protocol="ft", ft_epochs=1, batch_size=16, augment=True,
            seed=seed, progress=False,
        )  # fmt: skip
        runs.append(model.state_dict())
    assert torch.equal(torch.get_rng_state(), state)
    assert states_equal(runs[0], runs[1], runs[0])
    assert not torch.equal(runs[0]["conv1.weight"], runs[2]["conv1.weight"])


def test_a_given_augmentation_is_reseeded_not_consumed():
    augment = Augmentation(seed=0)
    probe = torch.rand(2, 3, 8, 8)
    expected_next = Augmentation(seed=0)(probe)
    results = [
        fine_tune(
            fresh_model(), TRAIN, VAL, protocol="ft", ft_epochs=1, batch_size=16, augment=augment,
            seed=1, progress=False,
        )[0].state_dict()
        for _ in range(2)
    ]  # fmt: skip
    assert states_equal(results[0], results[1], results[0])
    assert torch.equal(augment(probe), expected_next)


class ItemDataset(Dataset):
    """Yields (image (3, H, W), int label) items, like hermes.data.PCam."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def test_datasets_loaders_and_tensor_pairs_agree():
    kwargs = {"protocol": "lp", "lp_epochs": 1, "lr_lp": 1e-2, **FAST}
    from_pair, _ = fine_tune(fresh_model(), TRAIN, VAL, **kwargs)
    from_dataset, _ = fine_tune(fresh_model(), ItemDataset(*TRAIN), ItemDataset(*VAL), **kwargs)
    a, b = from_pair.state_dict(), from_dataset.state_dict()
    assert states_equal(a, b, a)
    loader = DataLoader(TensorDataset(*TRAIN), batch_size=8, shuffle=True)
    _, history = fine_tune(fresh_model(), loader, DataLoader(ItemDataset(*VAL)), **kwargs)
    assert len(history.epochs) == 1


class CountingLoader(DataLoader):
    """A DataLoader that counts the passes started over it."""

    passes = 0

    def __iter__(self):
        type(self).passes += 1
        return super().__iter__()


@pytest.mark.parametrize("progress", [True, False])
def test_each_epoch_reads_the_training_data_once(progress):
    CountingLoader.passes = 0
    loader = CountingLoader(TensorDataset(*TRAIN), batch_size=16, shuffle=True)
    kwargs = {**FAST, "progress": progress}
    fine_tune(fresh_model(), loader, VAL, protocol="ft", ft_epochs=2, patience=None, **kwargs)
    assert CountingLoader.passes == 2  # not 4: the progress bar must not start a pass of its own


class ConstantScore(nn.Module):
    """Scores images by their red mean; the head exists but cannot change any ranking."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, x):
        return x[:, 0].mean(dim=(1, 2))[:, None] + 0 * self.fc(x.mean(dim=(2, 3)))


def test_early_stopping_and_the_plateau_scheduler():
    _, history = fine_tune(
        ConstantScore(), TRAIN, VAL, lp_epochs=10, ft_epochs=10, patience=3, lr_patience=0,
        lr_lp=1e-3, lr_ft=1e-2, **FAST,
    )  # fmt: skip
    phases = [r.phase for r in history.epochs]
    assert phases == ["lp"] * 4 + ["ft"] * 4
    assert history.stopped_early == ["lp", "ft"]
    lrs = [r.lr for r in history.epochs]
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5, 1e-2, 1e-2, 1e-3, 1e-4])
    assert history.best_index == 0


class LookupLogits(nn.Module):
    """Fixed two-class logits per image, looked up by the image's (constant) value."""

    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", table)
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        index = (x[:, 0, 0, 0] * 10).round().long()
        return self.table[index] + 0 * self.fc(x[:, :1, 0, 0])


def test_validation_auroc_ranks_by_probability_not_raw_logit():
    # Ranking by the class-1 probability gives 0.25 here; by the raw class-1 logit, 0.75.
    table = torch.tensor([[5.0, 4.0], [-3.0, 0.0], [0.0, 1.0], [2.0, 2.5]])
    x = torch.arange(4.0).div(10).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    y = torch.tensor([1, 0, 1, 0])
    _, history = fine_tune(LookupLogits(table), (x, y), (x, y), protocol="lp", lp_epochs=1, **FAST)
    assert history.val_auroc == [pytest.approx(0.25)]


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.classifier = nn.Linear(4, 2)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("by_name", [True, False])
def test_head_argument_for_other_models(by_name):
    model = SmallNet()
    before = snapshot(model)
    head = "classifier" if by_name else model.classifier
    model, _ = fine_tune(model, TRAIN, VAL, protocol="lp", lp_epochs=1, head=head, **FAST)
    after = model.state_dict()
    assert states_equal(before, after, [k for k in before if k.startswith("features.")])
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])


def test_a_model_without_fc_needs_a_head_for_lp_but_not_for_ft():
    with pytest.raises(ValueError, match="head"):
        fine_tune(SmallNet(), TRAIN, VAL, protocol="lp-ft", **FAST)
    fine_tune(SmallNet(), TRAIN, VAL, protocol="ft", ft_epochs=1, **FAST)


def test_mixed_precision_on_cpu_runs():
    _, history = fine_tune(SmallNet(), TRAIN, VAL, protocol="ft", ft_epochs=1, amp=True, **FAST)
    assert 0.0 <= history.epochs[0].val_auroc <= 1.0


def test_progress_bars_can_be_silenced(capsys):
    kwargs = {"protocol": "ft", "ft_epochs": 1, "batch_size": 16, "augment": False}
    fine_tune(SmallNet(), TRAIN, VAL, progress=False, **kwargs)
    assert capsys.readouterr().err == ""
    fine_tune(SmallNet(), TRAIN, VAL, progress=True, **kwargs)
    err = capsys.readouterr().err
    assert "fine-tune" in err and "auroc" in err


def test_labels_that_do_not_fit_the_output():
    x, y = TRAIN
    with pytest.raises(RangeError, match="train_data labels must be 0 or 1"):
        fine_tune(fresh_model(1), (x, y * 2), VAL, protocol="ft", ft_epochs=1, **FAST)
    with pytest.raises(RangeError, match=r"train_data labels must be in 0\.\.1"):
        fine_tune(SmallNet(), (x, y + 1), VAL, protocol="ft", ft_epochs=1, **FAST)


def test_validation_needs_both_classes():
    x, y = VAL
    with pytest.raises(ValueError, match="val_data must contain at least two classes"):
        fine_tune(SmallNet(), TRAIN, (x, torch.zeros_like(y)), protocol="ft", ft_epochs=1, **FAST)


def test_images_must_be_in_the_unit_range():
    x, y = TRAIN
    with pytest.raises(RangeError, match=r"train_data images must have values in \[0, 1\]"):
        fine_tune(SmallNet(), (x * 255, y), VAL, protocol="ft", ft_epochs=1, **FAST)
    with pytest.raises(RangeError, match="val_data images"):
        fine_tune(SmallNet(), TRAIN, ItemDataset(VAL[0] - 1, VAL[1]), protocol="ft", **FAST)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"protocol": "lpft"}, ValueError, "protocol must be one of"),
        ({"protocol": "lp", "lp_epochs": 0}, RangeError, "lp_epochs"),
        ({"protocol": "ft", "ft_epochs": -1}, RangeError, "ft_epochs"),
        ({"lr_lp": 0}, RangeError, "lr_lp"),
        ({"lr_ft": "1e-3"}, TypeError, "lr_ft"),
        ({"weight_decay": -0.1}, RangeError, "weight_decay"),
        ({"batch_size": 0}, RangeError, "batch_size"),
        ({"augment": "yes"}, TypeError, "augment"),
        ({"seed": 1.0}, TypeError, "seed"),
        ({"patience": 0}, RangeError, "patience"),
        ({"lr_factor": 1.0}, RangeError, "lr_factor"),
        ({"amp": "on"}, TypeError, "amp"),
        ({"progress": 1}, TypeError, "progress"),
        ({"head": "nonexistent"}, ValueError, "head 'nonexistent'"),
        ({"head": nn.Linear(2, 2)}, ValueError, "head must be a submodule"),
        ({"device": "gpu9"}, ValueError, "device"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        fine_tune(fresh_model(), TRAIN, VAL, **{**FAST, **kwargs})


def test_bad_data_names_the_argument():
    with pytest.raises(TypeError, match="train_data must be a torch Dataset"):
        fine_tune(fresh_model(), [1, 2, 3], VAL, **FAST)
    with pytest.raises(TypeError, match="val_data as a pair"):
        fine_tune(fresh_model(), TRAIN, (VAL[0], [0, 1]), **FAST)
    with pytest.raises(TypeError, match="model must be"):
        fine_tune("resnet", TRAIN, VAL, **FAST)
