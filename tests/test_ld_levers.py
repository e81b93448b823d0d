"""The LD levers benchmark compares like with like: every lever computes the same outer gradient as ld's fp32 step."""

import pytest
import torch
import torch.nn.functional as F

from benchmarks.models import build_model
from benchmarks.perf.ld_levers import LEVERS, flat_grad, outer_step, prepared


@pytest.mark.parametrize("name", list(LEVERS))
def test_each_lever_computes_lds_outer_gradient(name):
    torch.manual_seed(0)
    base = build_model("lenet", 10, 1, 28)[0]
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    lever = LEVERS[name]
    model, xs = prepared(base, x, lever)
    outer_step(model, xs, y, lever)()
    outer_step(base, x, y, LEVERS["fp32"])()
    got, want = flat_grad(model), flat_grad(base)
    assert F.cosine_similarity(got, want, 0) > (0.99 if lever.bf16 else 0.99999)
    conv2 = next(p for p in model.parameters() if p.ndim == 4 and p.shape[1] > 1)  # one channel is both layouts
    assert conv2.is_contiguous(memory_format=torch.channels_last) == lever.channels_last
    assert not torch.equal(got, torch.zeros_like(got))
