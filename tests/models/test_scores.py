import numpy as np
import pytest
import scipy.special
import torch
from sklearn.metrics import roc_auc_score

from hermes.errors import RangeError, ShapeError
from hermes.models import positive_class_scores


def test_one_logit_is_the_sigmoid():
    logits = torch.randn(7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = scipy.special.expit(logits.numpy())
    np.testing.assert_allclose(positive_class_scores(logits).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(positive_class_scores(logits[:, None]).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_logits_is_the_softmax_column(k):
    logits = torch.randn(6, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    probabilities = scipy.special.softmax(logits.numpy(), axis=1)
    for positive in range(k):
        got = positive_class_scores(logits, positive_class=positive)
        assert got.shape == (6,)
        np.testing.assert_allclose(got.numpy(), probabilities[:, positive], rtol=1e-12)


def test_two_logits_equal_one_logit_of_their_difference():
    logits = torch.randn(9, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    difference = logits[:, 1] - logits[:, 0]
    torch.testing.assert_close(positive_class_scores(logits), positive_class_scores(difference))


def test_auroc_of_scores_differs_from_auroc_of_the_raw_logit():
    # The study ranked by the raw class-1 logit; a probability can rank samples differently.
    logits = torch.tensor([[5.0, 4.0], [-3.0, 0.0], [0.0, 1.0], [2.0, 2.5]])
    labels = np.array([1, 0, 1, 0])
    by_score = roc_auc_score(labels, positive_class_scores(logits).numpy())
    by_raw_logit = roc_auc_score(labels, logits[:, 1].numpy())
    assert by_score == pytest.approx(0.25)
    assert by_raw_logit == pytest.approx(0.75)


def test_keeps_dtype_and_is_differentiable():
    logits = torch.randn(4, 2, requires_grad=True)
    scores = positive_class_scores(logits)
    assert scores.dtype == torch.float32
    scores.sum().backward()
    assert logits.grad is not None


def test_bad_inputs_name_the_argument():
    with pytest.raises(ShapeError, match="logits"):
        positive_class_scores(torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="logits"):
        positive_class_scores([0.1, 0.2])
    with pytest.raises(TypeError, match="float"):
        positive_class_scores(torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(RangeError, match="positive_class"):
        positive_class_scores(torch.zeros(3, 2), positive_class=2)
    with pytest.raises(RangeError, match="positive_class"):
        positive_class_scores(torch.zeros(3, 2), positive_class=-1)
