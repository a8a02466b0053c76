"""Settings declared once (hermes._settings): the constructors, checks, repr and functional forms
made from the declarations, for every registered attack and defense."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

import hermes.attacks.functional as attack_functions
from hermes._settings import REQUIRED, SettingsModule, setting
from hermes._validation import check_positive_int
from hermes.attacks import get_attack, list_attacks
from hermes.defenses import get_defense, list_defenses

CLASSES = [get_attack(n) for n in list_attacks()] + [get_defense(n) for n in list_defenses()]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_constructor_takes_the_declared_settings_with_their_defaults(cls):
    parameters = inspect.signature(cls).parameters
    declared = {s.name: s for s in cls.settings}
    assert set(parameters) == set(declared)
    kinds = [p.kind for p in parameters.values()]
    assert kinds == sorted(kinds)  # positional-or-keyword first, keyword-only last
    for name, parameter in parameters.items():
        assert parameter.default is declared[name].default
        assert (parameter.kind is parameter.KEYWORD_ONLY) == declared[name].kw_only


@pytest.mark.parametrize("name", list_attacks())
def test_an_attacks_function_takes_its_classes_arguments_after_model_x_y(name):
    cls = get_attack(name)
    function = getattr(attack_functions, name.lower())
    assert function.__name__ == name.lower()
    ours = list(inspect.signature(function).parameters.values())
    theirs = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in ours[:3]] == ["model", "x", "y"]
    assert [(p.name, p.kind, p.default) for p in [ours[0], *ours[3:]]] == [
        (p.name, p.kind, p.default) for p in theirs
    ]


def test_the_function_runs_the_module_and_names_a_bad_argument():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.rand(2, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 2])
    module = get_attack("PGD")(model, 0.1, steps=3, generator=5)(x, y)
    assert torch.equal(attack_functions.pgd(model, x, y, 0.1, steps=3, generator=5), module)
    with pytest.raises(ValueError, match="steps must be an integer >= 1; got 0"):
        attack_functions.pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(TypeError, match=r"pgd\(\): got an unexpected keyword argument 'stepz'"):
        attack_functions.pgd(model, x, y, 0.1, stepz=3)
    with pytest.raises(TypeError, match=r"PGD\(\): missing a required argument: 'eps'"):
        get_attack("PGD")(model)


class _Repeat(SettingsModule):
    times: int = setting(check_positive_int, default=2)
    label: str = setting(default="x", kw_only=True)
    hidden: int = setting(default=0, shown=False, kw_only=True)


def test_settings_are_checked_on_every_assignment_and_shown_in_repr():
    module = _Repeat(3, label="y")
    assert repr(module) == "_Repeat(times=3, label='y')"
    with pytest.raises(ValueError, match="times must be an integer >= 1; got 0"):
        module.times = 0
    assert module.times == 3
    with pytest.raises(TypeError, match="times must be an integer"):
        _Repeat("3")


def test_the_signature_belongs_to_the_class_not_to_its_modules():
    assert list(inspect.signature(_Repeat).parameters) == ["times", "label", "hidden"]
    with pytest.raises(AttributeError):
        _Repeat().__signature__  # noqa: B018  (an instance's signature is its call's)


def test_a_subclass_adds_settings_after_the_inherited_ones_and_may_override_a_default():
    class _More(_Repeat):
        times: int = setting(check_positive_int, default=5)
        extra: float = setting(default=0.5)

    assert [s.name for s in _More.settings] == ["times", "label", "hidden", "extra"]
    assert str(inspect.signature(_More)) == (
        "(times: 'int' = 5, extra: 'float' = 0.5, *, label: 'str' = 'x', hidden: 'int' = 0) -> None"
    )
    assert _More().times == 5 and _Repeat().times == 2


def test_declarations_that_cannot_make_a_constructor_are_refused():
    with pytest.raises(TypeError, match="declares settings as a tuple"):

        class _Old(SettingsModule):
            settings = ()

    with pytest.raises(TypeError, match="non-default argument"):

        class _Bad(SettingsModule):
            first: int = setting(default=1)
            second: int = setting()

    assert setting().default is REQUIRED
