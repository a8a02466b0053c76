"""Randomized smoothing against hand computations (scipy's beta, norm and binomtest)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import beta, binomtest, norm
from torch import nn

from hermes.certify import RandomizedSmoothing


class Constant(nn.Module):
    """Always the same class: one logit (binary) or K logits."""

    def __init__(self, cls: int, k: int = 1) -> None:
        super().__init__()
        self.cls, self.k = cls, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            return torch.full((x.shape[0],), 1.0 if self.cls == 1 else -1.0)
        out = torch.zeros(x.shape[0], self.k)
        out[:, self.cls] = 1.0
        return out


class PixelThreshold(nn.Module):
    """Class 1 iff the first pixel of the (noisy) input exceeds 0.5: P(1) = Phi((v - 0.5)/sigma)."""

    def __init__(self, k: int = 1) -> None:
        super().__init__()
        self.k = k
        self.modes: list[bool] = []
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        self.sizes.append(x.shape[0])
        logit = (x[:, 0, 0, 0] - 0.5) * 10.0
        return logit if self.k == 1 else torch.stack([-logit, logit], dim=1)


def cp_lower(k: int, n: int, alpha: float) -> float:
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


def hand_counts(x: torch.Tensor, sigma: float, seed: int, n0: int, n: int):
    """Replay the noise stream of one certify call (batch_size >= B * n) and count class 1."""
    g = torch.Generator().manual_seed(seed)
    counts = []
    for num in (n0, n):
        copies = x.repeat_interleave(num, dim=0)
        noisy = copies + sigma * torch.randn(copies.shape, generator=g, dtype=x.dtype)
        ones = (noisy[:, 0, 0, 0] > 0.5).view(x.shape[0], num).sum(dim=1)
        counts.append(ones.tolist())
    return counts


@pytest.mark.parametrize("k", [1, 3])
def test_constant_classifier_radius_is_sigma_times_ndtri_of_clopper_pearson(k: int) -> None:
    cls = 1 if k == 1 else 2
    n, alpha, sigma = 500, 0.01, 0.3
    smoothed = RandomizedSmoothing(Constant(cls, k), sigma, batch_size=128, generator=0)
    classes, radius = smoothed.certify(torch.rand(4, 1, 3, 3), n0=20, n=n, alpha=alpha)
    expected = sigma * norm.ppf(beta.ppf(alpha, n, 1))  # k == n
    assert classes.tolist() == [cls] * 4
    assert radius.dtype == torch.float32
    torch.testing.assert_close(radius, torch.full((4,), expected, dtype=torch.float32))


@pytest.mark.parametrize("k", [1, 2])
def test_certify_matches_replayed_counts_and_abstains_iff_lower_bound_below_half(k: int) -> None:
    sigma, n0, n, alpha, seed = 0.25, 40, 300, 0.001, 3
    values = torch.linspace(0.05, 0.95, 19)
    x = torch.full((19, 1, 2, 2), 0.3)
    x[:, 0, 0, 0] = values
    smoothed = RandomizedSmoothing(PixelThreshold(k), sigma, batch_size=19 * n, generator=seed)
    classes, radius = smoothed.certify(x, n0=n0, n=n, alpha=alpha)

    ones0, ones = hand_counts(x, sigma, seed, n0, n)
    want_classes, want_radius = [], []
    for c1_sel, c1 in zip(ones0, ones, strict=True):
        top = 1 if c1_sel > n0 - c1_sel else 0  # argmax: ties go to class 0
        count = c1 if top == 1 else n - c1
        p_lower = cp_lower(count, n, alpha)
        if p_lower < 0.5:
            want_classes.append(-1)
            want_radius.append(0.0)
        else:
            want_classes.append(top)
            want_radius.append(sigma * norm.ppf(p_lower))
    assert classes.tolist() == want_classes
    torch.testing.assert_close(radius, torch.tensor(want_radius, dtype=torch.float32))
    # Both sides of the threshold occur, and both certified classes.
    assert -1 in want_classes and 0 in want_classes and 1 in want_classes
    assert bool((radius[classes == -1] == 0).all()) and bool((radius[classes >= 0] >= 0).all())


def test_predict_matches_two_sided_binomial_test_on_replayed_counts() -> None:
    sigma, n, alpha, seed = 0.25, 200, 0.01, 11
    x = torch.full((9, 1, 2, 2), 0.5)
    x[:, 0, 0, 0] = torch.linspace(0.1, 0.9, 9)
    smoothed = RandomizedSmoothing(PixelThreshold(), sigma, batch_size=10_000, generator=seed)
    got = smoothed.predict(x, n=n, alpha=alpha)
    g = torch.Generator().manual_seed(seed)
    copies = x.repeat_interleave(n, dim=0)
    noisy = copies + sigma * torch.randn(copies.shape, generator=g)
    ones = (noisy[:, 0, 0, 0] > 0.5).view(9, n).sum(dim=1).tolist()
    want = []
    for c1 in ones:
        top, n_a, n_b = (1, c1, n - c1) if c1 > n - c1 else (0, n - c1, c1)
        want.append(top if binomtest(n_a, n_a + n_b, 0.5).pvalue <= alpha else -1)
    assert got.tolist() == want
    assert want[0] == 0 and want[-1] == 1 and want[4] == -1


def test_linear_classifier_radius_matches_closed_form() -> None:
    # f(x) = w.x + b; smoothed p_A = Phi(|w.x + b| / (sigma ||w||)); analytic radius |w.x+b|/||w||.
    sigma, n, alpha = 0.5, 20_000, 1e-4
    w = torch.randn(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    unit = w / w.norm()
    model = nn.Linear(16, 1).double()
    with torch.no_grad():
        model.weight.copy_(w[None])
        model.bias.fill_(-0.5 * float(w.sum()))  # margin 0 at the grey image
    margins = torch.tensor([-0.8, -0.4, -0.2, 0.2, 0.4, 0.8], dtype=torch.float64)
    x = (0.5 + margins[:, None] * unit[None]).view(6, 1, 4, 4)
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    analytic = (model(x.flatten(1))[:, 0] / w.norm()).abs().detach()
    torch.testing.assert_close(analytic, margins.abs())

    smoothed = RandomizedSmoothing(nn.Sequential(nn.Flatten(), model), sigma, batch_size=8192)
    smoothed.generator = 5
    classes, radius = smoothed.certify(x, n0=100, n=n, alpha=alpha)
    assert classes.tolist() == (margins > 0).long().tolist()
    assert radius.dtype == torch.float64
    for r, a in zip(radius.tolist(), analytic.tolist(), strict=True):
        p_a = norm.cdf(a / sigma)
        sd = math.sqrt(n * p_a * (1 - p_a))
        k_lo = math.floor(n * p_a - 5 * sd)
        k_hi = min(n, math.ceil(n * p_a + 5 * sd))
        low = sigma * norm.ppf(cp_lower(k_lo, n, alpha))
        high = sigma * norm.ppf(cp_lower(k_hi, n, alpha))
        assert low <= r <= high  # within 5 binomial sd of the closed form's count
        assert r <= a  # the certificate is sound (holds with prob >= 1 - alpha)
        assert a - r <= a - low  # and close: the gap is at most what n allows


def test_seeded_runs_repeat_and_global_rng_is_untouched() -> None:
    x = torch.full((5, 1, 2, 2), 0.5)
    x[:, 0, 0, 0] = torch.linspace(0.35, 0.65, 5)
    model = PixelThreshold()
    state = torch.get_rng_state()
    a = RandomizedSmoothing(model, 0.3, batch_size=7, generator=9).certify(x, n0=10, n=60)
    b = RandomizedSmoothing(model, 0.3, batch_size=7, generator=9).certify(x, n0=10, n=60)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    smoothed = RandomizedSmoothing(model, 0.3, generator=9)
    assert torch.equal(smoothed.predict(x, n=60), smoothed.predict(x, n=60))  # int: restarts
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    p1 = RandomizedSmoothing(model, 0.3, generator=g1).certify(x, n0=10, n=60)
    p2 = RandomizedSmoothing(model, 0.3, generator=g2).certify(x, n0=10, n=60)
    assert torch.equal(p1[1], p2[1])
    assert not torch.equal(g1.get_state(), torch.Generator().manual_seed(4).get_state())
    assert torch.equal(torch.get_rng_state(), state)


def test_batches_noise_eval_mode_restored_and_no_grad() -> None:
    model = PixelThreshold().train()
    dropout = nn.Dropout().eval()
    net = nn.Sequential(dropout, model).train()
    dropout.eval()  # mixed modes must come back as they were
    smoothed = RandomizedSmoothing(net, 0.2, batch_size=32, generator=0)
    x = torch.rand(3, 1, 2, 2)
    with torch.no_grad():
        classes, radius = smoothed.certify(x, n0=10, n=50)
    assert model.modes and not any(model.modes)  # eval during the call
    assert net.training and model.training and not dropout.training
    assert max(model.sizes) == 32 and sum(model.sizes) == 3 * (10 + 50)
    assert classes.device == x.device and radius.device == x.device
    assert all(p.grad is None for p in net.parameters())


def test_volumes_and_empty_batch() -> None:
    smoothed = RandomizedSmoothing(nn.Sequential(nn.Flatten(), nn.Linear(8, 3)), 0.5, generator=0)
    classes, radius = smoothed.certify(torch.rand(2, 1, 2, 2, 2), n0=10, n=30)
    assert classes.shape == radius.shape == (2,) and classes.dtype == torch.long
    assert smoothed.predict(torch.rand(2, 1, 2, 2, 2), n=30).shape == (2,)
    classes, radius = smoothed.certify(torch.rand(0, 1, 2, 2, 2))
    assert classes.shape == radius.shape == (0,)
    assert smoothed(torch.rand(0, 1, 2, 2, 2)).shape == (0,)


@pytest.mark.parametrize("sigma", [0, -0.1, float("nan"), float("inf")])
def test_bad_sigma_names_it(sigma: float) -> None:
    with pytest.raises(ValueError, match="sigma"):
        RandomizedSmoothing(Constant(1), sigma)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n0": 200, "n": 100}, "n0 must be <= n"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": -0.5}, "alpha"),
        ({"n": 0}, "n must be"),
        ({"n0": 0}, "n0 must be"),
    ],
)
def test_bad_certify_arguments_name_them(kwargs: dict, message: str) -> None:
    smoothed = RandomizedSmoothing(Constant(1), 0.25, generator=0)
    with pytest.raises(ValueError, match=message):
        smoothed.certify(torch.rand(1, 1, 2, 2), **kwargs)


def test_bad_arguments_name_them() -> None:
    smoothed = RandomizedSmoothing(Constant(1), 0.25, generator=0)
    x = torch.rand(1, 1, 2, 2)
    with pytest.raises(ValueError, match="alpha"):
        smoothed.predict(x, alpha=2.0)
    with pytest.raises(ValueError, match="n must be"):
        smoothed.predict(x, n=0)
    with pytest.raises(TypeError, match="n must be an integer"):
        smoothed.certify(x, n=10.5)
    with pytest.raises(ValueError, match="x must"):
        smoothed.certify(torch.rand(3, 2, 2))
    with pytest.raises(ValueError, match="x must"):
        smoothed.certify(x + 1.0)
    with pytest.raises(TypeError, match="x must"):
        smoothed.predict(torch.zeros(1, 1, 2, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        RandomizedSmoothing(Constant(1), 0.25, batch_size=0)
    with pytest.raises(TypeError, match="generator"):
        RandomizedSmoothing(Constant(1), 0.25, generator="seed")
    with pytest.raises(TypeError, match="model"):
        RandomizedSmoothing(lambda t: t, 0.25)
