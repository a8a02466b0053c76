"""Robust training in fine_tune: PGD-AT, TRADES, fast AT, Gaussian-noise training."""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.distributions import Bernoulli, Categorical, kl_divergence

import hermes
from hermes._random import derive_seed
from hermes.attacks import PGD
from hermes.attacks.functional import pgd
from hermes.data import synthetic_pcam_arrays
from hermes.errors import RangeError
from hermes.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AdversarialTraining,
    EpochRecord,
    History,
    Normalize,
    fine_tune,
    positive_class_scores,
)
from hermes.models._adversarial_steps import (
    adversarial_loss,
    craft_examples,
    output_divergence,
)
from tests.attacks.conftest import TinyCNN, make_tiny_cnn, separable_data
from tests.models.test_training import colour_task

FAST = {"batch_size": 16, "augment": False, "progress": False, "weight_decay": 0.0}
TRAIN, VAL = colour_task(48, 0, size=8), colour_task(32, 1, size=8)


def tiny(channels=3, outputs=1, seed=0, dropout=False):
    """A TinyCNN (without dropout by default), built from a fixed seed."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return TinyCNN(channels, outputs, dropout=dropout)


def linear(features, w, b):
    """A one-logit linear model ``w . x + b`` on flattened images."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(features, 1))
    with torch.no_grad():
        model[1].weight.copy_(w.view(1, -1))
        model[1].bias.fill_(b)
    return model


def gen(seed):
    return torch.Generator().manual_seed(seed)


def batch(n=8, outputs=1, seed=0):
    """Images that touch 0 and 1 (so the pixel box binds) and labels for ``outputs`` logits."""
    g = gen(seed)
    x = torch.rand(n, 3, 8, 8, generator=g)
    x[:, :, :2] = 0.0
    x[:, :, -2:] = 1.0
    y = torch.randint(0, max(outputs, 2), (n,), generator=g)
    return x, y


# ---------------------------------------------------------------- the settings object


def test_defaults_follow_the_papers_and_hermes_pgd():
    pgd_at = AdversarialTraining("pgd", eps=8 / 255)
    assert (pgd_at.steps, pgd_at.norm, pgd_at.beta, pgd_at.random_start) == (10, "inf", 6.0, True)
    assert pgd_at.alpha == pytest.approx(2.5 * (8 / 255) / 10)
    assert pgd_at.alpha == PGD(nn.Linear(1, 1), eps=8 / 255, steps=10).alpha
    assert (pgd_at.val_eps, pgd_at.val_steps) == (8 / 255, 10)
    assert pgd_at.val_alpha == pytest.approx(2.5 * (8 / 255) / 10)
    fast = AdversarialTraining("fast", eps=0.03)
    assert (fast.steps, fast.alpha) == (1, pytest.approx(1.25 * 0.03))
    trades = AdversarialTraining("trades", 0.5, norm="l2", steps=4, val_eps=0.25, val_steps=5)
    assert (trades.norm, trades.alpha, trades.val_alpha) == ("2", 2.5 * 0.5 / 4, 2.5 * 0.25 / 5)


def test_the_warm_up_schedule():
    setting = AdversarialTraining("pgd", eps=0.06, steps=3, alpha=0.03, warmup_epochs=3)
    assert [setting.eps_at(e) for e in (1, 2, 3, 4, 10)] == pytest.approx(
        [0.02, 0.04, 0.06, 0.06, 0.06]
    )
    assert [setting.alpha_at(e) for e in (1, 2, 3, 4)] == pytest.approx([0.01, 0.02, 0.03, 0.03])
    plain = AdversarialTraining("pgd", eps=0.06)
    assert plain.eps_at(1) == 0.06


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"method": "madry"}, ValueError, "method"),
        ({"eps": 0.0}, RangeError, "eps"),
        ({"eps": -0.1}, RangeError, "eps"),
        ({"eps": math.inf}, RangeError, "eps"),
        ({"eps": "big"}, TypeError, "eps"),
        ({"beta": -1.0}, RangeError, "beta"),
        ({"steps": 0}, RangeError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"alpha": 0.0}, RangeError, "alpha"),
        ({"norm": "l1"}, ValueError, "norm"),
        ({"warmup_epochs": -1}, RangeError, "warmup_epochs"),
        ({"val_eps": 0.0}, RangeError, "val_eps"),
        ({"val_steps": 0}, RangeError, "val_steps"),
        ({"random_start": 1}, TypeError, "random_start"),
    ],
)
def test_bad_settings_name_themselves(kwargs, error, name):
    arguments = {"method": "pgd", "eps": 0.03, **kwargs}
    with pytest.raises(error, match=rf"^{name} "):
        AdversarialTraining(**arguments)


def test_settings_are_frozen():
    setting = AdversarialTraining("pgd", 0.03)
    with pytest.raises(AttributeError):
        setting.eps = 0.1


# ---------------------------------------------------------------- crafting


@pytest.mark.parametrize("method", ["pgd", "trades", "fast"])
@pytest.mark.parametrize(("norm", "eps"), [("inf", 0.05), ("2", 0.5)])
@pytest.mark.parametrize("epoch", [1, 5])
def test_crafted_examples_stay_in_the_ball_and_the_unit_box(method, norm, eps, epoch):
    model = make_tiny_cnn(outputs=2).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = batch(outputs=2)
    x_copy = x.clone()
    setting = AdversarialTraining(method, eps, norm=norm, steps=3, warmup_epochs=4)
    x_adv = craft_examples(model, x, y, setting, epoch, gen(0))
    budget = eps * min(1, epoch / 4)
    distance = (x_adv - x).flatten(1).norm(p=math.inf if norm == "inf" else 2, dim=1)
    assert float(distance.max()) <= budget * (1 + 1e-5)
    assert float(distance.max()) > 0.5 * budget  # it moved
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert torch.equal(x, x_copy) and not x_adv.requires_grad
    # crafted in eval mode: running statistics untouched, mode restored, no parameter gradients
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_pgd_at_crafts_exactly_hermes_pgd():
    model = make_tiny_cnn(outputs=2).train()
    x, y = batch(outputs=2)
    setting = AdversarialTraining("pgd", 0.04, steps=4)
    ours = craft_examples(model, x, y, setting, 1, gen(7))
    reference = pgd(model, x, y, 0.04, steps=4, alpha=setting.alpha, generator=7)
    assert torch.equal(ours, reference)


def test_fast_at_is_one_fgsm_step_from_a_uniform_random_start():
    # For a linear one-logit model z = w . x + b under BCE, d loss / d x = (sigmoid(z) - y) w.
    g = gen(3)
    w = torch.randn(3 * 8 * 8, generator=g)
    model = linear(3 * 8 * 8, w, 0.1)
    x, y = batch()
    eps = 0.05
    u = torch.rand(x.shape, generator=gen(11))  # what the random start draws
    start = (x + (2 * u - 1) * eps).clamp(0, 1)
    z = start.flatten(1) @ w + 0.1
    direction = ((torch.sigmoid(z) - y.float())[:, None] * w).sign().view_as(x)
    expected = torch.minimum(torch.maximum(start + 1.25 * eps * direction, x - eps), x + eps)
    expected = expected.clamp(0, 1)
    x_adv = craft_examples(model, x, y, AdversarialTraining("fast", eps), 1, gen(11))
    torch.testing.assert_close(x_adv, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_divergence_is_the_kl_of_the_output_distributions(outputs):
    g = gen(5)
    clean = 3 * torch.randn(6, outputs, generator=g)
    adv = 3 * torch.randn(6, outputs, generator=g)
    y = torch.zeros(6, dtype=torch.long)
    if outputs == 1:
        expected = kl_divergence(Bernoulli(logits=clean[:, 0]), Bernoulli(logits=adv[:, 0]))
    else:
        expected = kl_divergence(Categorical(logits=clean), Categorical(logits=adv))
    torch.testing.assert_close(output_divergence(clean, adv, y), expected)
    assert torch.equal(output_divergence(clean, clean, y), torch.zeros(6))
    # saturated logits stay finite
    huge = torch.full((2, outputs), 80.0)
    assert torch.isfinite(output_divergence(huge, -huge, y[:2])).all()


@pytest.mark.parametrize("outputs", [1, 3])
def test_the_trades_loss_is_the_natural_loss_plus_beta_times_the_kl(outputs):
    model = tiny(outputs=outputs).eval()
    x, y = batch(outputs=outputs)
    setting = AdversarialTraining("trades", 0.05, steps=3, beta=2.5)
    x_adv = craft_examples(model, x, y, setting, 1, gen(4))
    loss = adversarial_loss(model, x, x_adv, y, setting)
    with torch.no_grad():
        clean, adv = model(x), model(x_adv)
        if outputs == 1:
            natural = F.binary_cross_entropy_with_logits(clean[:, 0], y.float(), reduction="none")
            kl = kl_divergence(Bernoulli(logits=clean[:, 0]), Bernoulli(logits=adv[:, 0]))
        else:
            natural = F.cross_entropy(clean, y, reduction="none")
            kl = kl_divergence(Categorical(logits=clean), Categorical(logits=adv))
    torch.testing.assert_close(loss.detach(), (natural + 2.5 * kl).mean())
    assert loss.requires_grad


def test_trades_crafting_raises_the_kl():
    model = tiny().eval()
    x, y = batch()
    setting = AdversarialTraining("trades", 0.1, steps=5)
    start = craft_examples(model, x, y, AdversarialTraining("trades", 0.1, steps=1), 1, gen(0))
    x_adv = craft_examples(model, x, y, setting, 1, gen(0))
    with torch.no_grad():
        kl_start = output_divergence(model(x), model(start), y).sum()
        kl_adv = output_divergence(model(x), model(x_adv), y).sum()
    assert float(kl_adv) > float(kl_start) > 0


def test_pgd_at_loss_is_the_loss_on_the_crafted_examples():
    model = tiny(outputs=3).eval()
    x, y = batch(outputs=3)
    setting = AdversarialTraining("pgd", 0.05, steps=2)
    x_adv = craft_examples(model, x, y, setting, 1, gen(1))
    loss = adversarial_loss(model, x, x_adv, y, setting)
    with torch.no_grad():
        torch.testing.assert_close(loss.detach(), F.cross_entropy(model(x_adv), y))


# ---------------------------------------------------------------- inside fine_tune


class Spy(nn.Module):
    """A linear one-logit model that keeps every batch it sees in train mode."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 1)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        if self.training:
            self.seen.append(x.detach().clone())
        return self.fc(x.flatten(1))


def test_noise_training_adds_unclamped_gaussian_noise_of_the_given_sigma():
    x = torch.full((64, 3, 8, 8), 0.5)
    y = torch.arange(64) % 2
    spy = Spy()
    fine_tune(spy, (x, y), VAL, protocol="ft", ft_epochs=1, noise_sigma=0.3, **FAST)
    noise = torch.cat(spy.seen) - 0.5
    assert noise.shape == x.shape
    assert float(noise.std()) == pytest.approx(0.3, abs=0.01)
    assert stats.kstest(noise.flatten().numpy(), stats.norm(0, 0.3).cdf).pvalue > 1e-3
    assert float(noise.max()) > 0.5 and float(noise.min()) < -0.5  # not clamped to [0, 1]


def test_noise_follows_the_augmentation_and_the_seed():
    runs = []
    for seed in (1, 1, 2):
        spy = Spy()
        fine_tune(
            spy, TRAIN, VAL, protocol="ft", ft_epochs=1, noise_sigma=0.2, seed=seed,
            batch_size=16, augment=True, progress=False,
        )  # fmt: skip
        runs.append(torch.cat(spy.seen))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("method", ["pgd", "trades", "fast"])
def test_same_seed_gives_bit_identical_weights(method):
    setting = AdversarialTraining(method, 0.05, steps=2, val_steps=2)
    state = torch.get_rng_state()
    runs = []
    for seed in (3, 3, 4):
        model, history = fine_tune(
            tiny(dropout=True), TRAIN, VAL, protocol="lp-ft", lp_epochs=1, ft_epochs=1,
            head="head", seed=seed, batch_size=16, augment=True, progress=False,
            adversarial=setting,
        )  # fmt: skip
        runs.append((model.state_dict(), history.robust_val_auroc))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(v, runs[1][0][k]) for k, v in runs[0][0].items())
    assert runs[0][1] == runs[1][1]
    assert not torch.equal(runs[0][0]["head.weight"], runs[2][0]["head.weight"])


def test_linear_probing_stays_linear_probing_under_adversarial_training():
    model = make_tiny_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model, _ = fine_tune(
        model, TRAIN, VAL, protocol="lp", lp_epochs=2, head="head",
        adversarial=AdversarialTraining("pgd", 0.05, steps=2, val_steps=2), **FAST,
    )  # fmt: skip
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("head."))
    assert not torch.equal(before["head.weight"], after["head.weight"])


def test_history_records_clean_and_robust_auroc_and_the_training_eps():
    setting = AdversarialTraining("fast", 0.06, warmup_epochs=3, val_eps=0.05, val_steps=3)
    _, history = fine_tune(
        tiny(), TRAIN, VAL, protocol="lp-ft", lp_epochs=2, ft_epochs=2, head="head",
        patience=None, seed=0, adversarial=setting, **{**FAST, "batch_size": 32},
    )  # fmt: skip
    assert [(r.phase, r.epoch) for r in history.epochs] == [
        ("lp", 1), ("lp", 2), ("ft", 1), ("ft", 2),
    ]  # fmt: skip
    assert [r.train_eps for r in history.epochs] == pytest.approx([0.02, 0.04, 0.06, 0.06])
    assert history.robust_val_auroc == [r.robust_val_auroc for r in history.epochs]
    assert all(0.0 <= a <= 1.0 for a in history.robust_val_auroc)
    assert history.keep == "clean" and history.best_index == int(np.argmax(history.val_auroc))
    # the last robust AUROC is PGD's AUROC on the validation set, recomputed independently
    history_last = fine_tune(
        tiny(), TRAIN, VAL, protocol="ft", ft_epochs=1, seed=0,
        adversarial=dataclasses.replace(setting, warmup_epochs=0),
        **{**FAST, "batch_size": 32},
    )  # fmt: skip
    trained, record = history_last[0], history_last[1].epochs[0]
    x_adv = pgd(trained, *VAL, 0.05, steps=3, generator=derive_seed(0, "robust validation"))
    with torch.no_grad():
        scores = positive_class_scores(trained(x_adv))
    assert record.robust_val_auroc == pytest.approx(roc_auc_score(VAL[1], scores), abs=1e-12)


def test_standard_training_records_no_robust_auroc():
    _, history = fine_tune(tiny(), TRAIN, VAL, protocol="ft", ft_epochs=1, **FAST)
    assert history.robust_val_auroc == [None] and history.epochs[0].train_eps is None
    # records built without the new fields still work
    assert EpochRecord("ft", 1, 0.5, 0.5, 0.9, 1e-3).robust_val_auroc is None
    assert History("ft").keep == "clean"


def robust_run(keep, patience, epochs=6):
    """Fast AT on a task where the clean AUROC is 1 from the first epoch and the robust AUROC
    climbs slowly, so the best clean and the best robust epochs differ."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = TinyCNN(1, 1, dropout=False)
    return fine_tune(
        model, separable_data(64, 0), separable_data(48, 1), protocol="ft", ft_epochs=epochs,
        lr_ft=0.05, lr_patience=100, patience=patience, seed=0, keep=keep,
        adversarial=AdversarialTraining("fast", 0.1, val_steps=3), **FAST,
    )  # fmt: skip


def robust_auroc(model, data, setting, seed):
    x, y = data
    x_adv = pgd(
        model, x, y, setting.val_eps, steps=setting.val_steps,
        generator=derive_seed(seed, "robust validation"),
    )  # fmt: skip
    with torch.no_grad():
        return roc_auc_score(y.numpy(), positive_class_scores(model.eval()(x_adv)).numpy())


def first_stop(series, patience):
    """How many epochs a run lasts when it stops after ``patience`` epochs without a new best."""
    best, stale = -math.inf, 0
    for index, value in enumerate(series):
        best, stale = (value, 0) if value > best else (best, stale + 1)
        if stale >= patience:
            return index + 1
    return len(series)


def test_keep_robust_keeps_the_best_robust_epoch():
    clean_model, clean = robust_run("clean", None)
    robust_model, robust = robust_run("robust", None)
    assert robust.val_auroc == clean.val_auroc  # the same run; only the choice differs
    best_clean = int(np.argmax(clean.val_auroc))
    best_robust = int(np.argmax(robust.robust_val_auroc))
    assert best_clean != best_robust  # the task separates the two choices
    assert (clean.best_index, robust.best_index) == (best_clean, best_robust)
    assert robust.keep == "robust" and robust.best.robust_val_auroc == max(robust.robust_val_auroc)
    # the returned weights are those of the kept epoch
    setting = AdversarialTraining("fast", 0.1, val_steps=3)
    data = separable_data(48, 1)
    assert robust_auroc(robust_model, data, setting, 0) == pytest.approx(
        robust.best.robust_val_auroc, abs=1e-12
    )
    assert robust_auroc(clean_model, data, setting, 0) == pytest.approx(
        clean.best.robust_val_auroc, abs=1e-12
    )


def test_early_stopping_follows_the_kept_metric():
    _, full = robust_run("robust", None)
    patience = 3
    expected = {
        keep: first_stop(series, patience)
        for keep, series in (("clean", full.val_auroc), ("robust", full.robust_val_auroc))
    }
    assert expected["clean"] != expected["robust"]  # the task separates them
    for keep in ("clean", "robust"):
        _, history = robust_run(keep, patience)
        assert len(history.epochs) == expected[keep]
        assert history.robust_val_auroc == full.robust_val_auroc[: expected[keep]]


@pytest.mark.parametrize("method", ["pgd", "trades"])
def test_multi_class_models_train_adversarially(method):
    g = gen(0)
    y = torch.arange(60) % 3
    x = 0.5 * torch.rand(60, 3, 8, 8, generator=g)
    x[torch.arange(60), y] += 0.4  # class c brightens channel c
    _, history = fine_tune(
        tiny(outputs=3), (x[:36], y[:36]), (x[36:], y[36:]), protocol="ft", ft_epochs=2,
        lr_ft=1e-2, adversarial=AdversarialTraining(method, 0.03, steps=2, val_steps=2),
        **FAST,
    )  # fmt: skip
    assert all(0.0 <= a <= 1.0 for a in history.robust_val_auroc)
    assert history.best.val_auroc > 0.8


def test_mixed_precision_on_cpu_runs_with_adversarial_training():
    _, history = fine_tune(
        tiny(), TRAIN, VAL, protocol="ft", ft_epochs=1, amp=True,
        adversarial=AdversarialTraining("trades", 0.03, steps=2, val_steps=2), **FAST,
    )  # fmt: skip
    assert math.isfinite(history.epochs[0].train_loss)
    assert history.epochs[0].robust_val_auroc is not None


def test_progress_bars_show_the_robust_auroc(capsys):
    fine_tune(
        tiny(), TRAIN, VAL, protocol="ft", ft_epochs=1, batch_size=16, augment=False,
        progress=True, adversarial=AdversarialTraining("fast", 0.03, val_steps=1),
    )  # fmt: skip
    assert "robust=" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"noise_sigma": 0.0}, RangeError, "^noise_sigma "),
        ({"noise_sigma": -0.5}, RangeError, "^noise_sigma "),
        ({"noise_sigma": math.nan}, RangeError, "^noise_sigma "),
        ({"noise_sigma": "0.1"}, TypeError, "^noise_sigma "),
        ({"adversarial": "pgd"}, TypeError, "^adversarial "),
        ({"keep": "best"}, ValueError, "^keep "),
        ({"keep": "robust"}, ValueError, "^keep='robust' needs adversarial"),
        (
            {"adversarial": AdversarialTraining("pgd", 0.03, warmup_epochs=3)},
            RangeError,
            r"^warmup_epochs .* <= the 2 training epoch\(s\) .*; got 3",
        ),
        (
            {"adversarial": AdversarialTraining("pgd", 0.03), "noise_sigma": 0.25},
            ValueError,
            "^noise_sigma and adversarial cannot be combined",
        ),
    ],
)
def test_bad_robust_training_arguments_name_themselves(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        fine_tune(tiny(), TRAIN, VAL, protocol="lp-ft", lp_epochs=1, ft_epochs=1, head="head",
                  **kwargs, **FAST)  # fmt: skip


# ---------------------------------------------------------------- the check


def pcam_centres(n, split):
    """Synthetic PCam patches cut to their central 32x32 region (which decides the label)."""
    x, y = synthetic_pcam_arrays(n, seed=0, split=split, label_noise=0.0)
    images = torch.from_numpy(np.ascontiguousarray(x[:, 32:64, 32:64])).permute(0, 3, 1, 2)
    return images.float().div(255).contiguous(), torch.from_numpy(y.reshape(-1).astype(np.int64))


def pcam_cnn():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            Normalize(IMAGENET_MEAN, IMAGENET_STD),
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 1),
        )  # fmt: skip


@pytest.mark.slow
def test_pgd_at_keeps_a_clearly_higher_adaptive_pgd_auroc_on_synthetic_pcam():
    train, val = pcam_centres(384, "train"), pcam_centres(128, "valid")
    test = pcam_centres(256, "test")
    budget = {"protocol": "ft", "ft_epochs": 6, "lr_ft": 3e-3, "patience": None, "seed": 0}
    results = {}
    for name, adversarial in (
        ("standard", None),
        ("PGD-AT", AdversarialTraining("pgd", 0.03, steps=5, val_steps=5)),
    ):
        model, _ = fine_tune(
            pcam_cnn(), train, val, adversarial=adversarial, **budget,
            **{**FAST, "batch_size": 32},
        )  # fmt: skip
        report = hermes.evaluate_robustness(
            model, test, attacks={"PGD": partial(PGD, steps=20)}, epsilons=[0.0, 0.03],
            threat_model="adaptive", progress=False, seed=0,
        )  # fmt: skip
        results[name] = report.auroc["None", "PGD"]
    print(results)  # measured: see docs/robust-training.md
    assert results["PGD-AT"][0.0] > 0.9  # robust training keeps its clean AUROC
    assert results["PGD-AT"][0.03] >= results["standard"][0.03] + 0.03
    assert results["PGD-AT"][0.03] > 0.9
