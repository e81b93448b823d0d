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


def test_the_kernel_floor_counts_lenets_convolution_flops(monkeypatch):
    """The floor the report states is the outer step's convolution FLOPs (conv1: forward and weight gradient, its
    input needs none; conv2: forward, data and weight gradients) over the pinned peak, and the report prints it."""
    from benchmarks.cost import PEAK_ENV, matmul_peak_flops
    from benchmarks.perf.ld_levers import kernel_lines, kernels

    monkeypatch.setenv(PEAK_ENV, "fp32=1e10")
    matmul_peak_flops.cache_clear()
    torch.manual_seed(0)
    model = build_model("lenet", 10, 1, 28)[0]
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    k = kernels(outer_step(model, x, y, LEVERS["fp32"]), 2)
    matmul_peak_flops.cache_clear()
    if not any(r["kind"] == "convolution" for r in k["rows"]):
        pytest.skip("torch ran LeNet's convolutions outside oneDNN here (no verbose lines to read)")
    conv1, conv2 = 2 * 16 * 6 * 28 * 28 * 25, 2 * 16 * 16 * 10 * 10 * 6 * 25
    assert k["conv_gflop_per_step"] == round((2 * conv1 + 3 * conv2) / 1e9, 3)
    assert k["conv_ms_at_peak"] == round((2 * conv1 + 3 * conv2) / 1e10 * 1e3, 2)
    assert k["conv_ms"] > 0 and k["reorder_ms"] >= 0
    assert k["ceiling_gflop_per_s"] >= 10.0 and k["conv_ms_at_ceiling"] <= k["conv_ms_at_peak"]
    floor = 100.0 - (k["conv_ms"] + k["reorder_ms"]) + k["conv_ms_at_ceiling"]  # as the report sums them
    text = "\n".join(kernel_lines({"kernels": k, "speedup_cpu": 2.5}, 100.0))
    assert f"**{floor:.1f} ms**" in text and f"**{100.0 / floor:.2f}x**" in text and "needs 1.60x more" in text
