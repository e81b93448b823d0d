import math

import pytest
import torch
import torch.nn.functional as F

from benchmarks.errors import UserError
from benchmarks.losses import LOSSES, Targets, resolve_loss


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
