import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.errors import UserError
from benchmarks.losses import LOSSES, Targets, resolve_loss, teacher_logits


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_is_lower_for_the_right_answer(name):
    probs = F.one_hot(torch.tensor([0, 1, 2]), 3).float()
    t = Targets(probs, hard=torch.tensor([0, 1, 2]))
    good, bad = 6 * probs, 6 * probs.roll(1, dims=1)
    loss = resolve_loss(name)
    assert float(loss(good, t)) < float(loss(bad, t))
    assert math.isfinite(float(loss(bad, t)))


def test_soft_ce_and_kl_formulas():
    z = torch.tensor([[1.0, 2.0, 0.5]])
    p = torch.tensor([[0.2, 0.5, 0.3]])
    t = Targets(p)
    soft = -(p * torch.log_softmax(z, 1)).sum()
    assert torch.isclose(resolve_loss("soft_ce")(z, t), soft)
    kl = (p * (p.log() - torch.log_softmax(z, 1))).sum()
    assert torch.isclose(resolve_loss("kl")(z, t), kl, atol=1e-6)
    # with teacher logits and temperature T, no T^2 unless asked for
    tl = torch.tensor([[0.0, 3.0, 1.0]])
    T = 4.0
    q = torch.softmax(tl / T, 1)
    manual = (q * (q.log() - torch.log_softmax(z / T, 1))).sum()
    tt = Targets(p, logits=tl)
    assert torch.isclose(resolve_loss({"name": "kl", "T": T})(z, tt), manual, atol=1e-6)
    assert torch.isclose(resolve_loss({"name": "kl", "T": T, "t2": True})(z, tt), manual * T * T, atol=1e-5)


def test_loss_parameters_are_checked():
    with pytest.raises(UserError, match="no parameter"):
        resolve_loss({"name": "ce", "T": 2})
    with pytest.raises(UserError, match="did you mean"):
        resolve_loss("soft_cee")


def test_gift_equals_its_formula_on_hand_made_tensors():
    z = torch.tensor([[2.0, -1.0, 0.5], [0.0, 1.0, -3.0]])
    teacher = torch.tensor([[3.0, 0.0, 1.0], [-1.0, 2.0, 0.0]])
    hard = torch.tensor([0, 2])
    alpha, w = 0.1, 0.1
    ys = torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.05, 0.9]])
    target = teacher / teacher.norm(dim=1, keepdim=True) + w * ys / ys.norm(dim=1, keepdim=True)
    cos = (z * target).sum(1) / (z.norm(dim=1) * target.norm(dim=1))
    expected = 1 - cos.mean()
    got = resolve_loss("gift")(z, Targets(torch.softmax(teacher, 1), hard, teacher))
    assert torch.allclose(got, expected, atol=1e-6)
    assert resolve_loss({"name": "gift", "alpha": alpha, "w": w}).params == {"alpha": 0.1, "w": 0.1}


@pytest.mark.parametrize("name", ["gift", "cosine"])
def test_cosine_losses_are_scale_invariant_in_the_student_logits(name):
    gen = torch.Generator().manual_seed(0)
    z, teacher = torch.randn(8, 10, generator=gen), torch.randn(8, 10, generator=gen)
    t = Targets(torch.softmax(teacher, 1), torch.randint(0, 10, (8,), generator=gen), teacher)
    loss = resolve_loss(name)
    for k in (0.01, 3.0, 250.0):
        assert torch.allclose(loss(k * z, t), loss(z, t), atol=1e-5)


def test_static_distributions_stand_in_for_teacher_logits():
    probs = torch.softmax(torch.tensor([[1.0, 2.0, 0.5]]), 1)
    t = Targets(probs)
    logits = teacher_logits(t)
    assert torch.allclose(torch.softmax(logits, 1), probs, atol=1e-6) and abs(float(logits.sum())) < 1e-5
    assert float(resolve_loss("cosine")(logits, t)) == pytest.approx(0.0, abs=1e-6)


def test_mse_ce_formula():
    z, teacher, hard = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([1])
    expected = ((z - teacher) ** 2).mean() + 0.1 * torch.nn.functional.cross_entropy(z, hard)
    assert torch.allclose(resolve_loss("mse_ce")(z, Targets(torch.softmax(teacher, 1), hard, teacher)), expected)
