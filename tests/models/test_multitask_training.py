"""fine_tune on multi-class (K softmax logits, int labels) and multi-label (K sigmoids, (N, K)
float targets) problems: the loss, the validation macro AUROC, robust training, bad labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from hermes.errors import RangeError, ShapeError
from hermes.models import AdversarialTraining, fine_tune
from hermes.models._adversarial_steps import output_divergence, sigmoid_outputs

K = 3
FAST = {"batch_size": 16, "augment": False, "progress": False, "seed": 0}


def multiclass_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x8x8 images under strong pixel noise; class k brightens channel k a little."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    x = 0.7 * torch.rand(n, K, 8, 8, generator=g)
    x[torch.arange(n), y] += 0.05
    return x.clamp(0, 1), y


def multilabel_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """3x8x8 images under pixel noise; label k, present at random, brightens channel k."""
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(n, K, generator=g) < 0.5).float()
    x = 0.7 * torch.rand(n, K, 8, 8, generator=g) + 0.15 * y[:, :, None, None]
    return x.clamp(0, 1), y


class TinyNet(nn.Module):
    """Conv features and a linear head ``fc`` (zeroed: every image scores alike, AUROC 0.5)."""

    def __init__(self, outputs: int = K, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.features = nn.Sequential(
                nn.Conv2d(K, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
            )
            self.fc = nn.Linear(6, outputs)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


TASKS = {"multiclass": multiclass_task, "multilabel": multilabel_task}


def data(task: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    return TASKS[task](96, 0), TASKS[task](60, 1)


def sklearn_macro_auroc(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> float:
    """The macro AUROC of the model's outputs, recomputed with numpy and sklearn alone."""
    with torch.no_grad():
        z = model.eval()(x).double().numpy()
    if task == "multiclass":
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return float(roc_auc_score(y.numpy(), p, multi_class="ovr", average="macro"))
    return float(roc_auc_score(y.numpy(), 1 / (1 + np.exp(-z)), average="macro"))


def numpy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str) -> float:
    """Mean cross-entropy (multi-class) or BCE summed over labels (multi-label), closed form."""
    with torch.no_grad():
        z = model.eval()(x).double().numpy()
    if task == "multiclass":
        log_norm = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
        return float(np.mean(log_norm - z[np.arange(len(z)), y.numpy()]))
    t = y.double().numpy()
    return float(np.mean((np.logaddexp(0.0, z) - t * z).sum(axis=1)))


@pytest.mark.parametrize(("task", "protocol"), [("multiclass", "ft"), ("multilabel", "lp-ft")])
def test_learns_and_records_the_macro_auroc(task: str, protocol: str) -> None:
    train, val = data(task)
    model = TinyNet()
    assert sklearn_macro_auroc(model, *val, task) == 0.5  # a zeroed head ties every image
    model, history = fine_tune(
        model, train, val, protocol=protocol, lp_epochs=2, ft_epochs=4, lr_lp=0.05, lr_ft=0.02,
        patience=None, **FAST,
    )  # fmt: skip
    assert history.best.val_auroc > 0.85
    assert history.best.val_auroc == max(history.val_auroc)
    # the recorded AUROC is sklearn's macro AUROC of the returned (best) model's outputs
    assert history.best.val_auroc == pytest.approx(
        sklearn_macro_auroc(model, *val, task), abs=1e-12
    )
    # and the recorded validation loss is the task's loss on those outputs
    assert history.best.val_loss == pytest.approx(numpy_loss(model, *val, task), rel=1e-5)


def test_a_multilabel_dataset_of_float_vectors_trains() -> None:
    (x, y), val = data("multilabel")

    class Items(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(y)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            return x[i], y[i]  # a float (K,) vector of 0/1 per image

    model, history = fine_tune(TinyNet(), Items(), val, protocol="ft", ft_epochs=2, **FAST)
    assert history.best.val_auroc > 0.6
    assert history.best.val_auroc == pytest.approx(
        sklearn_macro_auroc(model, *val, "multilabel"), abs=1e-12
    )


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_a_class_with_one_label_value_gives_nan_and_training_goes_on(task: str) -> None:
    train, (x, y) = data(task)
    if task == "multiclass":
        keep = y != 2  # class 2 absent from the validation set
        x, y = x[keep], y[keep]
    else:
        y = y.clone()
        y[:, 1] = 1.0  # label 1 present everywhere
    with pytest.warns(RuntimeWarning, match=r"class\(es\) \[(2|1)\]"):
        model, history = fine_tune(
            TinyNet(), train, (x, y), protocol="ft", ft_epochs=3, lr_ft=0.02, patience=None,
            **FAST,
        )  # fmt: skip
    assert all(math.isnan(v) for v in history.val_auroc)
    # the weights kept are those of the epoch with the best mean AUROC of the defined classes
    assert history.best_index is not None
    with torch.no_grad():
        z = model(x).double()
    defined = [0, 1] if task == "multiclass" else [0, 2]
    scores = torch.softmax(z, 1) if task == "multiclass" else torch.sigmoid(z)
    truth = (y[:, None] == torch.arange(K)).long() if task == "multiclass" else y.long()
    best = np.mean([roc_auc_score(truth[:, k], scores[:, k]) for k in defined])
    assert best > 0.6


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
@pytest.mark.parametrize("method", ["pgd", "trades", "fast"])
def test_robust_training_runs_one_epoch(task: str, method: str) -> None:
    train, val = data(task)
    steps = {} if method == "fast" else {"steps": 2}  # fast AT: one FGSM step
    setting = AdversarialTraining(method, eps=0.03, val_steps=2, **steps)
    model, history = fine_tune(
        TinyNet(), train, val, protocol="ft", ft_epochs=1, lr_ft=0.02, adversarial=setting,
        **FAST,
    )  # fmt: skip
    (record,) = history.epochs
    assert record.train_eps == 0.03 and math.isfinite(record.train_loss)
    assert 0.5 < record.val_auroc <= 1.0
    assert 0.0 <= record.robust_val_auroc <= record.val_auroc + 1e-12
    assert record.val_auroc == pytest.approx(sklearn_macro_auroc(model, *val, task), abs=1e-12)


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_noise_training_runs(task: str) -> None:
    train, val = data(task)
    _, history = fine_tune(TinyNet(), train, val, protocol="ft", ft_epochs=1, noise_sigma=0.1,
                           **FAST)  # fmt: skip
    assert 0.5 < history.best.val_auroc <= 1.0


def test_trades_divergence_per_task_matches_its_closed_form() -> None:
    g = torch.Generator().manual_seed(0)
    clean, adv = torch.randn(5, K, generator=g), torch.randn(5, K, generator=g)
    c, a = clean.double().numpy(), adv.double().numpy()
    # multi-label: one Bernoulli per label, KL summed over the labels
    targets = (torch.rand(5, K, generator=g) > 0.5).float()
    assert sigmoid_outputs(clean, targets)
    p, q = 1 / (1 + np.exp(-c)), 1 / (1 + np.exp(-a))
    bernoulli = (p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))).sum(axis=1)
    np.testing.assert_allclose(output_divergence(clean, adv, targets).numpy(), bernoulli, rtol=1e-5)
    # multi-class: one softmax
    labels = torch.tensor([0, 1, 2, 0, 1])
    assert not sigmoid_outputs(clean, labels)
    p = np.exp(c) / np.exp(c).sum(axis=1, keepdims=True)
    q = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
    softmax = (p * np.log(p / q)).sum(axis=1)
    np.testing.assert_allclose(output_divergence(clean, adv, labels).numpy(), softmax, rtol=1e-5)


def test_labels_that_do_not_fit_the_model_name_the_argument() -> None:
    (x, y), (xv, yv) = data("multiclass")
    run = {"protocol": "ft", "ft_epochs": 1, **FAST}
    with pytest.raises(RangeError, match=r"^train_data labels must be in 0\.\.2 .* got label 3"):
        fine_tune(TinyNet(), (x, y + 1), (xv, yv), **run)
    with pytest.raises(RangeError, match=r"^val_data labels must be in 0\.\.2 .* got label 3"):
        fine_tune(TinyNet(), (x, y), (xv, yv + 1), **run)
    trades = AdversarialTraining("trades", eps=0.03, steps=1)
    with pytest.raises(RangeError, match=r"^train_data labels must be in 0\.\.2"):
        fine_tune(TinyNet(), (x, y + 1), (xv, yv), adversarial=trades, **run)

    (x, y), (xv, yv) = data("multilabel")
    wide, wide_val = torch.cat([y, y[:, :1]], 1), torch.cat([yv, yv[:, :1]], 1)
    with pytest.raises(ShapeError, match=r"^train_data labels holds multi-label targets of shape"):
        fine_tune(TinyNet(), (x, wide), (xv, yv), **run)
    with pytest.raises(ShapeError, match=r"^val_data labels holds multi-label targets of shape"):
        fine_tune(TinyNet(), (x, y), (xv, wide_val), **run)
    with pytest.raises(ShapeError, match=r"^train_data labels holds multi-label targets"):
        fine_tune(TinyNet(), (x, wide), (xv, yv), adversarial=trades, **run)
    with pytest.raises(ShapeError, match=r"^train_data labels holds multi-label targets"):
        fine_tune(TinyNet(outputs=1), (x, y), (xv, yv), **run)
    with pytest.raises(RangeError, match=r"^train_data labels .*multi-label targets 0 or 1"):
        fine_tune(TinyNet(), (x, y * 2), (xv, yv), **run)
    # validation labels of another kind than the training labels
    with pytest.raises(ValueError, match=r"^val_data labels must be \(N, K\) multi-label"):
        fine_tune(TinyNet(), (x, y), (xv, yv.argmax(1)), **run)
    with pytest.raises(ValueError, match=r"^val_data labels must be \(N,\) class indices"):
        fine_tune(TinyNet(), (x, y.argmax(1)), (xv, yv), **run)


def test_validation_needs_a_label_with_both_values() -> None:
    train, (xv, yv) = data("multilabel")
    with pytest.raises(ValueError, match="val_data must contain both values"):
        fine_tune(TinyNet(), train, (xv, torch.ones_like(yv)), protocol="ft", ft_epochs=1, **FAST)
    train, (xv, yv) = data("multiclass")
    with pytest.raises(ValueError, match="val_data must contain at least two classes"):
        fine_tune(TinyNet(), train, (xv, torch.zeros_like(yv)), protocol="ft", ft_epochs=1, **FAST)
