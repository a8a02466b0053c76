"""Invariants every defense keeps, checked over the registry of hermes' defenses.

Every class in :func:`hermes.defenses.list_defenses` must have an entry in ``TEST_SETTINGS`` (a
test fails otherwise), so a new defense is tested the day it is added: from then on it must leave
its input alone, keep dtype/device/shape and the [0, 1] range, treat every image of a batch on its
own, accept an empty batch, pickle, compose with a model, agree with its functional twin, do what
each of its gradient modes promises, and reject bad input and bad settings with an error naming
the argument.
"""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hermes.defenses
from hermes.defenses import (
    GRADIENT_MODES,
    JPEG,
    TVM,
    Defense,
    GaussianSmoothing,
    Identity,
    MedianSmoothing,
    get_defense,
    list_defenses,
)
from hermes.defenses.functional import gaussian_smoothing, jpeg, median_smoothing, tvm
from hermes.defenses.identity import identity
from tests.defenses.conftest import ihc_patches

TVM_STEPS = 3


@dataclass(frozen=True)
class Case:
    """A configured defense, its functional twin, and what the suite may expect of it.

    Attributes:
        module: builds the module; takes ``gradient=`` (``None``: the default mode).
        function: ``function(x, gradient=...)``, the functional twin with the same settings.
        per_sample: each image's output depends on that image only, given the configuration
            (a defense drawing one random mask for the whole batch is not).
        bitwise: batched and per-sample runs agree bit for bit (else to float tolerance).
        channels: the channel counts it accepts.
        deterministic: ``deterministic(x, gradient)``, a call with any randomness fixed (for
            gradcheck, which calls it many times); defaults to ``function``.
    """

    module: Callable[..., Defense]
    function: Callable[..., torch.Tensor]
    per_sample: bool = True
    bitwise: bool = True
    channels: tuple[int, ...] = (1, 3)
    deterministic: Callable[..., torch.Tensor] | None = None

    @property
    def gradient_modes(self) -> tuple[str, ...]:
        """The class's modes, read without building it (the default first)."""
        return getattr(self.module, "func", self.module).gradient_modes

    def fixed(self, x: torch.Tensor, gradient: str) -> torch.Tensor:
        call = self.deterministic or self.function
        return call(x, gradient=gradient)


@dataclass(frozen=True)
class Config:
    """Settings to test a registered defense with, and what differs from the suite's defaults.

    Attributes:
        settings: keyword arguments for both the class and its functional twin.
        expect: the other fields of :class:`Case` (``per_sample``, ``bitwise``, ...).
    """

    settings: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, Any] = field(default_factory=dict)


def tvm_mask(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A Bernoulli(0.3) keep-mask shaped like ``x``, drawn independently of the defense."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(x.shape, generator=g, dtype=torch.float64).lt(0.3).to(x.device)


def _identity_function(x: torch.Tensor, gradient: str | None = None) -> torch.Tensor:
    return identity(x)


def _tvm_fixed_mask(x: torch.Tensor, gradient: str) -> torch.Tensor:
    return tvm(x, steps=TVM_STEPS, mask=tvm_mask(x), gradient=gradient)


FUNCTIONAL: dict[str, Callable[..., torch.Tensor]] = {
    "GaussianSmoothing": gaussian_smoothing,
    "Identity": _identity_function,
    "JPEG": jpeg,
    "MedianSmoothing": median_smoothing,
    "TVM": tvm,
}
"""The functional twin of every registered defense."""

TEST_SETTINGS: dict[str, dict[str, Config]] = {
    "Identity": {"identity": Config()},
    "GaussianSmoothing": {
        "gaussian-k3-s0.8": Config({"kernel_size": 3, "sigma": 0.8}),
        "gaussian-k5-s0.4": Config({"kernel_size": 5, "sigma": 0.4}),
    },
    "MedianSmoothing": {
        "median-w3": Config({"window_size": 3}),
        "median-w5-chunked": Config({"window_size": 5, "chunk_size": 1000}),
    },
    "JPEG": {
        "jpeg-q50": Config({"quality": 50}),
        "jpeg-q90": Config({"quality": 90}),
        "jpeg-q50-differentiable": Config(
            {"quality": 50, "differentiable": True}, {"bitwise": False}
        ),
    },
    "TVM": {
        "tvm": Config(
            {"steps": TVM_STEPS, "generator": 0},
            {"per_sample": False, "bitwise": False, "deterministic": _tvm_fixed_mask},
        ),
    },
}
"""The settings each registered defense is tested with (several per defense where they differ
in what they exercise)."""


def _cases() -> dict[str, Case]:
    cases = {}
    for name in list_defenses():
        for case_id, config in TEST_SETTINGS.get(name, {}).items():
            cases[case_id] = Case(
                partial(get_defense(name), **config.settings),
                partial(FUNCTIONAL[name], **config.settings),
                **config.expect,
            )
    return cases


CASES: dict[str, Case] = _cases()


def _exported_defenses() -> set[str]:
    return {
        name
        for name in hermes.defenses.__all__
        if inspect.isclass(obj := getattr(hermes.defenses, name))
        and issubclass(obj, Defense)
        and obj is not Defense
    }


# --- the registry -----------------------------------------------------------------------------


def test_registry_lists_every_exported_defense_and_nothing_else() -> None:
    assert list_defenses() == sorted(_exported_defenses())
    assert {"GaussianSmoothing", "Identity", "JPEG", "MedianSmoothing", "TVM"} <= set(
        list_defenses()
    )
    for name in list_defenses():
        assert get_defense(name) is getattr(hermes.defenses, name)


def test_every_registered_defense_has_test_settings_and_a_functional_twin() -> None:
    missing = set(list_defenses()) - set(TEST_SETTINGS)
    assert not missing, f"add test settings for {sorted(missing)} to TEST_SETTINGS"
    assert set(FUNCTIONAL) == set(TEST_SETTINGS) == set(list_defenses())
    assert all(TEST_SETTINGS[name] for name in list_defenses())


def test_unknown_name_is_rejected_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"name must be one of 'GaussianSmoothing'.*got 'Blur'"):
        get_defense("Blur")


def test_classes_outside_hermes_and_private_classes_are_not_registered() -> None:
    class Outside(Identity):
        pass

    assert Outside.__module__ == __name__ and "Outside" not in list_defenses()


@pytest.mark.parametrize("name", list_defenses())
def test_the_base_class_owns_forward_and_repr(name: str) -> None:
    cls = get_defense(name)
    assert "forward" not in vars(cls) and "extra_repr" not in vars(cls)
    assert "gradient" in [setting.name for setting in cls.settings]


def tiny_model(channels: int, dtype: torch.dtype) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(channels, 4, 3),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 2),
        )
    return model.to(dtype)


def _inputs(channels: int = 3, dtype: torch.dtype = torch.float32, n: int = 3) -> torch.Tensor:
    return ihc_patches(n, 96, channels, dtype)


# --- the forward pass -------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_contract_and_input_untouched(name: str, dtype: torch.dtype) -> None:
    case = CASES[name]
    for channels in case.channels:
        x = _inputs(channels, dtype)
        before, version = x.clone(), x._version
        out = case.module()(x)
        assert x._version == version and torch.equal(x, before)
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert not out.requires_grad


@pytest.mark.parametrize("name", CASES)
def test_batched_equals_per_sample(name: str) -> None:
    case = CASES[name]
    x = _inputs(n=4)
    if case.per_sample:
        batched = case.module()(x)
        single = torch.cat([case.module()(x[i : i + 1]) for i in range(len(x))])
    else:  # randomness fixed per image through an explicit mask
        mask = tvm_mask(x)
        batched = tvm(x, steps=TVM_STEPS, mask=mask)
        single = torch.cat(
            [tvm(x[i : i + 1], steps=TVM_STEPS, mask=mask[i : i + 1]) for i in range(len(x))]
        )
    if case.bitwise:
        assert torch.equal(batched, single)
    else:
        torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", [name for name, case in CASES.items() if not case.per_sample])
def test_same_seed_same_output(name: str) -> None:
    case = CASES[name]
    x = _inputs(n=2)
    assert torch.equal(case.module()(x), case.module()(x))
    assert torch.equal(case.function(x), case.function(x))


@pytest.mark.parametrize("name", CASES)
def test_empty_batch(name: str) -> None:
    x = torch.empty(0, 3, 16, 16)
    out = CASES[name].module()(x)
    assert out.shape == (0, 3, 16, 16) and out.dtype == x.dtype


@pytest.mark.parametrize("name", CASES)
def test_pickle_round_trip(name: str) -> None:
    defense = CASES[name].module()
    copy = pickle.loads(pickle.dumps(defense))
    assert type(copy) is type(defense) and copy.gradient == defense.gradient
    x = _inputs(n=2)
    assert torch.equal(copy(x), defense(x))


@pytest.mark.parametrize("name", CASES)
def test_module_equals_functional(name: str) -> None:
    case = CASES[name]
    x = _inputs(n=2)
    assert torch.equal(case.module()(x), case.function(x))


@pytest.mark.parametrize("name", CASES)
def test_composes_in_sequential_with_a_model(name: str) -> None:
    case = CASES[name]
    x = _inputs(n=2).requires_grad_(True)
    model = tiny_model(3, x.dtype)
    pipeline = nn.Sequential(case.module(), model)
    logits = pipeline(x)
    assert torch.equal(logits, model(case.module()(x)))
    (grad,) = torch.autograd.grad(logits[:, 1].sum(), x)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
    assert all(p.grad is None for p in model.parameters())
    stacked = nn.Sequential(case.module(), GaussianSmoothing(3, 0.5), model)  # with another
    assert stacked(x.detach()).shape == (2, 2)


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=8, deadline=None)
@given(
    batch=st.integers(1, 3),
    channels=st.sampled_from([1, 3]),
    height=st.integers(1, 20),
    width=st.integers(1, 20),
    seed=st.integers(0, 2**16),
    saturated=st.booleans(),
)
def test_any_size_keeps_the_contract(name, batch, channels, height, width, seed, saturated) -> None:
    x = torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed))
    if saturated:  # pixels at 0 and 1, where clamping and rounding matter
        x = x.round()
    out = CASES[name].module()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


# --- gradient modes ---------------------------------------------------------------------------


def _modes(kind: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, case in CASES.items() if kind in case.gradient_modes]


@pytest.mark.parametrize("name", CASES)
def test_gradient_modes_are_known_and_the_rest_rejected(name: str) -> None:
    case = CASES[name]
    modes = case.gradient_modes
    assert modes and set(modes) <= set(GRADIENT_MODES)
    assert case.module().gradient == modes[0]
    for mode in set(GRADIENT_MODES) - set(modes):
        with pytest.raises(ValueError, match="gradient"):
            case.module(gradient=mode)


@pytest.mark.parametrize(("name", "mode"), _modes("identity"))
def test_identity_mode_passes_the_gradient_through(name: str, mode: str) -> None:
    case = CASES[name]
    x = _inputs(n=2).requires_grad_(True)
    out = case.module(gradient=mode)(x)
    with torch.no_grad():
        assert torch.equal(out, case.module(gradient=mode)(x))
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.autograd.grad(out, x, g)[0], g)


@pytest.mark.parametrize(("name", "mode"), _modes("surrogate"))
def test_surrogate_mode_forward_is_the_exact_operation(name: str, mode: str) -> None:
    case = CASES[name]
    x = _inputs(n=2).requires_grad_(True)
    out = case.module(gradient=mode)(x)
    with torch.no_grad():
        exact = case.module(gradient=mode)(x)
    assert torch.equal(out, exact)
    if "identity" in case.gradient_modes:
        assert torch.equal(out, case.module(gradient="identity")(x).detach())
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert bool(torch.isfinite(grad).all()) and not torch.equal(grad, torch.ones_like(x))


@pytest.mark.parametrize(("name", "mode"), _modes("exact") + _modes("unrolled"))
def test_exact_and_unrolled_modes_pass_gradcheck(name: str, mode: str) -> None:
    case = CASES[name]
    g = torch.Generator().manual_seed(1)
    for channels in case.channels:
        x = 0.05 + 0.9 * torch.rand(1, channels, 5, 6, dtype=torch.float64, generator=g)
        x.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda v, c=case, m=mode: c.fixed(v, m), (x,))


# --- bad input --------------------------------------------------------------------------------

BAD_IMAGES = {
    "3-D": (torch.rand(3, 16, 16), "x must be a 4-D"),
    "uint8": (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "x must be"),
    "int64": (torch.zeros(1, 3, 16, 16, dtype=torch.int64), "x must be"),
    "nan": (torch.full((1, 3, 16, 16), float("nan")), "x must be finite"),
    "above 1": (torch.full((1, 3, 16, 16), 1.2), r"x must have values in \[0, 1\]"),
    "below 0": (torch.full((1, 3, 16, 16), -0.1), r"x must have values in \[0, 1\]"),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("bad", BAD_IMAGES)
def test_bad_images_are_rejected_naming_x(name: str, bad: str) -> None:
    x, message = BAD_IMAGES[bad]
    with pytest.raises((ValueError, TypeError), match=message):
        CASES[name].module()(x)
    with pytest.raises((ValueError, TypeError), match=message):
        CASES[name].function(x)


@pytest.mark.parametrize("channels", [2, 4])
def test_jpeg_rejects_channel_counts_it_cannot_encode(channels: int) -> None:
    x = torch.rand(1, channels, 16, 16)
    for defense in (JPEG(), JPEG(differentiable=True)):
        with pytest.raises(ValueError, match=r"x must have 1 .* or 3 .* channels"):
            defense(x)


BAD_SETTINGS = [
    (GaussianSmoothing, {"kernel_size": 4}, "kernel_size"),
    (GaussianSmoothing, {"kernel_size": 0}, "kernel_size"),
    (GaussianSmoothing, {"kernel_size": -3}, "kernel_size"),
    (GaussianSmoothing, {"sigma": 0.0}, "sigma"),
    (GaussianSmoothing, {"sigma": -1.0}, "sigma"),
    (GaussianSmoothing, {"gradient": "bpda"}, "gradient"),
    (MedianSmoothing, {"window_size": 2}, "window_size"),
    (MedianSmoothing, {"window_size": 0}, "window_size"),
    (MedianSmoothing, {"window_size": -5}, "window_size"),
    (MedianSmoothing, {"gradient": "bpda"}, "gradient"),
    (JPEG, {"quality": 0}, "quality"),
    (JPEG, {"quality": 101}, "quality"),
    (JPEG, {"gradient": "bpda"}, "gradient"),
    (TVM, {"keep_prob": 0.0}, "keep_prob"),
    (TVM, {"keep_prob": 1.5}, "keep_prob"),
    (TVM, {"keep_prob": -0.3}, "keep_prob"),
    (TVM, {"lamb": -0.5}, "lamb"),
    (TVM, {"gradient": "bpda"}, "gradient"),
    (Identity, {"gradient": "bpda"}, "gradient"),
]


@pytest.mark.parametrize(("factory", "kwargs", "name"), BAD_SETTINGS)
def test_bad_settings_are_rejected_naming_the_argument(factory, kwargs, name) -> None:
    # Values of the right type but out of range: a ValueError (not a stray TypeError).
    with pytest.raises(ValueError, match=name):
        factory(**kwargs)


@pytest.mark.parametrize(("factory", "kwargs", "name"), BAD_SETTINGS)
def test_bad_settings_are_rejected_when_assigned_too(factory, kwargs, name) -> None:
    # A setting is checked whenever it is set (not on every call): a later assignment, as the
    # evaluation grid makes to ``gradient``, goes through the same check as the constructor.
    defense = factory()
    before = repr(defense)
    ((key, value),) = kwargs.items()
    with pytest.raises(ValueError, match=name):
        setattr(defense, key, value)
    assert repr(defense) == before


@pytest.mark.parametrize("name", CASES)
def test_gradient_set_after_construction_is_used_on_the_next_call(name: str) -> None:
    case = CASES[name]
    x = _inputs(n=2).requires_grad_(True)
    defense = case.module()
    for mode in case.gradient_modes:
        defense.gradient = mode
        out = defense(x)
        assert torch.equal(out, case.module(gradient=mode)(x))
        expected = torch.autograd.grad(case.module(gradient=mode)(x).sum(), x)[0]
        torch.testing.assert_close(torch.autograd.grad(out.sum(), x)[0], expected)
    defense.gradient = None  # back to the default
    assert defense.gradient == case.gradient_modes[0]
