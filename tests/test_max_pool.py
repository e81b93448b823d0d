"""benchmarks.max_pool gives nn.MaxPool2d(2)'s values, indices and gradients exactly, under every transform ddbench
uses (autograd, double backward, forward mode, vmap'd stacked models, bf16 autocast, inference), and every
registered model built with it trains bit for bit as with torch's pooling."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.max_pool import MaxPool2x2, compiled_pool, max_pool_2x2, pool_with_indices, torch_max_pool
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.models import ZOO, build_model


def _ties(*shape: int) -> torch.Tensor:
    """Small integers: most windows hold tied maxima, which the scan order must break as max_pool2d does."""
    return torch.randint(0, 3, shape, generator=torch.Generator().manual_seed(0)).float()


def _with_specials() -> torch.Tensor:
    x = _ties(6, 3, 12, 10)
    x[0, 0, 0, 0] = float("nan")  # a NaN first in its window
    x[1, 2, 2, 5] = x[1, 2, 3, 5] = float("nan")  # two in one window: the last one wins
    x[2, 1, 4, 4] = float("-inf")
    x[3, 0, 6:8, 2:4] = float("inf")
    return x


INPUTS = {
    "gaussian": lambda: torch.randn(4, 3, 10, 8, generator=torch.Generator().manual_seed(1)),
    "odd_sizes": lambda: torch.randn(4, 3, 9, 7, generator=torch.Generator().manual_seed(2)),
    "ties": lambda: _ties(8, 6, 28, 28),
    "nan_and_inf": _with_specials,
    "3d": lambda: _ties(5, 12, 14),
}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())


@pytest.mark.parametrize("name", INPUTS)
def test_values_indices_and_gradients_equal_max_pool2d(name: str) -> None:
    x = INPUTS[name]()
    ours, theirs = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    expected, indices = F.max_pool2d(theirs, 2, return_indices=True)
    got = max_pool_2x2(ours)
    assert _same(got, expected)
    cut = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    if cut.shape == x.shape:  # max_pool2d's indices count positions in the uncut input
        assert torch.equal(pool_with_indices(cut)[1], indices)
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(3))
    expected.backward(grad)
    got.backward(grad)
    assert _same(ours.grad, theirs.grad)


@pytest.mark.parametrize("name", ["ties", "nan_and_inf"])
def test_the_compiled_forward_gives_the_same_values_indices_and_gradients(name: str) -> None:
    """``compiled_pool`` (a benchmark lever) runs inductor's kernels for the forward: nothing may change."""
    import benchmarks.max_pool as mp

    x = INPUTS[name]()
    eager, compiled = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    want = max_pool_2x2(eager)
    with compiled_pool():
        assert mp._POOL["fn"] is not pool_with_indices
        got = max_pool_2x2(compiled)
        values, index = mp._POOL["fn"](x)
    assert mp._POOL["fn"] is pool_with_indices
    assert _same(got, want) and _same(values, pool_with_indices(x)[0]) and torch.equal(index, pool_with_indices(x)[1])
    grad = torch.randn(want.shape, generator=torch.Generator().manual_seed(3))
    want.backward(grad)
    got.backward(grad)
    assert _same(compiled.grad, eager.grad)


def test_inference_mode_values() -> None:
    x = _with_specials()
    with torch.inference_mode():
        assert _same(max_pool_2x2(x), F.max_pool2d(x, 2))


def test_forward_mode_vmap_and_double_backward() -> None:
    x, t = _ties(5, 2, 8, 8), torch.randn(5, 2, 8, 8, generator=torch.Generator().manual_seed(4))
    _, ours = torch.func.jvp(max_pool_2x2, (x,), (t,))
    _, theirs = torch.func.jvp(lambda v: F.max_pool2d(v, 2), (x,), (t,))
    assert torch.equal(ours, theirs)

    stacked = _ties(3, 5, 2, 8, 8)
    torch_pool = torch.vmap(lambda v: F.max_pool2d(v, 2))
    assert torch.equal(torch.vmap(max_pool_2x2)(stacked), torch_pool(stacked))
    ours = torch.func.grad(lambda v: (torch.vmap(max_pool_2x2)(v) ** 2).sum())(stacked)
    theirs = torch.func.grad(lambda v: (torch_pool(v) ** 2).sum())(stacked)
    assert torch.equal(ours, theirs)

    def hessian_vector(pool, v: torch.Tensor) -> torch.Tensor:
        v = v.clone().requires_grad_(True)
        (g,) = torch.autograd.grad((pool(v) ** 3).sum(), v, create_graph=True)
        return torch.autograd.grad((g * t).sum(), v)[0]

    assert torch.equal(hessian_vector(max_pool_2x2, x), hessian_vector(lambda v: F.max_pool2d(v, 2), x))


def test_bf16_autocast() -> None:
    x = torch.randn(4, 6, 12, 12).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(max_pool_2x2(x), F.max_pool2d(x, 2))


def _torch_pooling(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every MaxPool2x2 replaced by nn.MaxPool2d(2)."""
    model = copy.deepcopy(model)
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, MaxPool2x2):
                setattr(module, child_name, nn.MaxPool2d(2))
    return model


POOLED = [m for m in ZOO.names() if any(isinstance(x, MaxPool2x2) for x in build_model(m, 10, 1, 28)[0].modules())]


def test_some_models_use_it() -> None:
    assert {"lenet", "vgg11_dc"} <= set(POOLED)


@pytest.mark.parametrize("name", POOLED)
def test_models_train_bit_for_bit_as_with_torch_pooling(name: str) -> None:
    torch.manual_seed(0)
    ours = build_model(name, 10, 1, 28)[0]
    theirs = _torch_pooling(ours)
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    x[:, :, :6] = -0.42  # a constant background, as MNIST's: tied maxima
    y = torch.arange(16) % 10
    for model in (ours, theirs):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True))


LEARNERS = [m for m in METHODS.names() if METHODS.get(m).params.get("learner") in POOLED]


def test_some_methods_learn_with_it() -> None:
    assert "ld" in LEARNERS


@pytest.mark.parametrize("method", LEARNERS)
def test_methods_distil_bit_for_bit_as_with_torch_pooling(method: str, digits, cpu) -> None:
    """Second-order label distillation differentiates through the learner (torch.func.grad, jvp): same labels."""
    smoke = METHODS.get(method).smoke
    ours = run_method(method, digits, Budget(2), 0, cpu, smoke)
    with torch_max_pool():
        theirs = run_method(method, digits, Budget(2), 0, cpu, smoke)
    assert torch.equal(ours.labels, theirs.labels) and torch.equal(ours.images, theirs.images)
