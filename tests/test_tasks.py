"""Task inference and checking, and the scores each task ranks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hermes.errors import RangeError, ShapeError
from hermes.tasks import TASKS, check_task, infer_task, task_scores


@pytest.mark.parametrize(
    ("outputs", "labels", "expected"),
    [
        (1, torch.tensor([0, 1, 1]), "binary"),
        (2, torch.tensor([0, 1, 1]), "binary"),
        (torch.zeros(3), torch.tensor([0, 1, 1]), "binary"),
        (torch.zeros(3, 1), torch.tensor([[0], [1], [1]]), "binary"),
        (2, np.array([1.0, 0.0]), "binary"),
        (2, torch.tensor([True, False]), "binary"),
        (3, torch.tensor([0, 2, 1]), "multiclass"),
        (torch.zeros(2, 9), np.array([[8], [0]]), "multiclass"),
        (14, torch.zeros(4, 14), "multilabel"),
        (torch.zeros(2, 3), np.array([[1, 0, 1], [0, 0, 0]]), "multilabel"),
        (2, torch.tensor([[1.0, 0.0], [1.0, 1.0]]), "multilabel"),
    ],
)
def test_infers_the_task(outputs, labels, expected) -> None:
    assert infer_task(outputs, labels) == expected
    assert infer_task(outputs, labels, task=expected) == expected


def test_stated_tasks_that_fit_are_accepted() -> None:
    assert infer_task(2, torch.tensor([0, 1]), task="multiclass") == "multiclass"
    assert infer_task(1, torch.tensor([[0.0], [1.0]]), task="multilabel") == "multilabel"
    assert infer_task(3, torch.tensor([], dtype=torch.long)) == "multiclass"


def test_labels_outside_the_models_classes_are_refused() -> None:
    with pytest.raises(RangeError, match=r"labels must be class indices in 0\.\.2 .* got label 3"):
        infer_task(3, torch.tensor([0, 3]))
    with pytest.raises(RangeError, match=r"in 0\.\.1 for a model with 1 output; got label 2"):
        infer_task(1, torch.tensor([0, 2]))
    with pytest.raises(RangeError, match="got label -1"):
        infer_task(4, torch.tensor([-1, 2]))
    with pytest.raises(TypeError, match="whole numbers"):
        infer_task(2, torch.tensor([0.5, 1.0]))


def test_multilabel_targets_to_a_model_of_another_width_are_refused() -> None:
    with pytest.raises(
        ShapeError, match=r"labels hold 14 multi-label targets .* model has 3 outputs"
    ):
        infer_task(3, torch.zeros(4, 14))
    with pytest.raises(
        ShapeError, match=r"labels hold 3 multi-label targets .* model has 1 output;"
    ):
        infer_task(torch.zeros(4, 1), torch.zeros(4, 3), task="multilabel")
    with pytest.raises(RangeError, match="labels must hold multi-label targets 0 or 1; got 2"):
        infer_task(3, torch.tensor([[0, 2, 1]]))


def test_two_dimensional_labels_for_a_single_label_task_are_refused() -> None:
    with pytest.raises(ShapeError, match=r"1-D class indices \(N,\) for task='multiclass'"):
        infer_task(3, torch.zeros(4, 3), task="multiclass")
    with pytest.raises(ShapeError, match="task='binary'"):
        infer_task(2, torch.zeros(4, 2), task="binary")


def test_stated_tasks_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ShapeError, match=r"\(N, K\) targets of 0/1 for task='multilabel'"):
        infer_task(3, torch.tensor([0, 1]), task="multilabel")
    with pytest.raises(ShapeError, match="task='binary' needs a model with 1 or 2 outputs; got 5"):
        infer_task(5, torch.tensor([0, 1]), task="binary")
    with pytest.raises(ShapeError, match=r"task='multiclass' needs .* got 1"):
        infer_task(1, torch.tensor([0, 1]), task="multiclass")


def test_shapes_and_output_counts_are_checked() -> None:
    with pytest.raises(ShapeError, match="expected 3, got 2"):
        infer_task(torch.zeros(3, 4), torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"got shape \(2, 2, 2\)"):
        infer_task(2, torch.zeros(2, 2, 2))
    with pytest.raises(RangeError, match="logits_or_num_outputs must be at least 1"):
        infer_task(0, torch.tensor([0]))
    with pytest.raises(TypeError, match="logits_or_num_outputs must be a tensor of logits"):
        infer_task("3", torch.tensor([0]))


@pytest.mark.parametrize(
    ("given", "closest"),
    [("multi-label", "multilabel"), ("Binary", "binary"), ("multiclas", "multiclass")],
)
def test_an_unknown_task_suggests_the_closest(given, closest) -> None:
    with pytest.raises(
        ValueError, match=f"task must be one of .*; got '{given}' \\(did you mean '{closest}'\\?\\)"
    ):
        infer_task(2, torch.tensor([0, 1]), task=given)
    with pytest.raises(ValueError, match=f"did you mean '{closest}'"):
        task_scores(torch.zeros(2, 2), given)


def test_an_unknown_task_far_from_any_name_lists_them() -> None:
    with pytest.raises(ValueError, match=r"got 'regression'$"):
        check_task("regression")
    with pytest.raises(ValueError, match="got 3"):
        check_task(3)
    assert TASKS == ("binary", "multiclass", "multilabel")


def test_task_scores_in_float64() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]])
    z = logits.double()
    multiclass = task_scores(logits, "multiclass")
    assert multiclass.dtype == torch.float64
    torch.testing.assert_close(multiclass, z.exp() / z.exp().sum(dim=1, keepdim=True))
    multilabel = task_scores(logits, "multilabel")
    torch.testing.assert_close(multilabel, 1 / (1 + (-z).exp()))
    two = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    torch.testing.assert_close(
        task_scores(two, "binary"), torch.tensor([2.0, -2.0], dtype=torch.float64).sigmoid()
    )
    one = torch.tensor([[0.3], [-0.7]])
    torch.testing.assert_close(task_scores(one, "binary"), one.double().view(-1).sigmoid())
    assert task_scores(torch.tensor([0.3]), "binary").dtype == torch.float64


def test_task_scores_refuse_outputs_the_task_cannot_have() -> None:
    with pytest.raises(ShapeError, match="1 or 2 outputs for task='binary'; got 3"):
        task_scores(torch.zeros(2, 3), "binary")
    with pytest.raises(ShapeError, match="K >= 2 outputs for task='multiclass'"):
        task_scores(torch.zeros(2, 1), "multiclass")
    with pytest.raises(ShapeError, match=r"\(N, K\) for task='multilabel'"):
        task_scores(torch.zeros(2), "multilabel")
    with pytest.raises(TypeError, match="logits must be a float tensor"):
        task_scores(torch.zeros(2, 3, dtype=torch.long), "multiclass")
