"""The oneDNN kernel table reads what the library really ran: a convolution's kind, direction, shape and FLOPs."""

import pytest
import torch
import torch.nn.functional as F

from benchmarks.perf.onednn_primitives import conv_flops, parse, primitive_times, table

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")


def test_a_convolution_and_its_backward_passes_are_seen_with_their_flops():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    times = primitive_times(lambda: F.conv2d(x, w, padding=1).sum().backward())
    convs = {p.direction: p for p in times if p.kind == "convolution"}
    assert {"forward_training", "backward_data", "backward_weights"} <= set(convs)
    assert conv_flops(convs["backward_weights"].shape) == 2 * 2 * 3 * 4 * 8 * 8 * 3 * 3
    rows = table(times, per=1, peak_flops=1e12)
    assert abs(sum(r["share"] for r in rows) - 1) < 0.01 and all(r["calls"] >= 1 for r in rows)


def test_lines_that_are_not_executions_are_ignored():
    lines = ["onednn_verbose,v1,info,oneDNN v3", "hello",
             "onednn_verbose,v1,primitive,exec,cpu,convolution,jit:avx2,backward_weights,src:f32 wei:f32,,"
             "alg:convolution_direct,mb1_ic1oc2_ih4oh4kh1sh1dh0ph0_iw4ow4kw1sw1dw0pw0,0.5"]
    (p, (calls, ms)), = parse(lines).items()
    assert (p.impl, p.direction, calls, ms) == ("jit:avx2", "backward_weights", 1, 0.5)
    assert conv_flops(p.shape) == 2 * 1 * 1 * 2 * 4 * 4


def test_the_ceiling_is_the_faster_of_the_peak_and_the_fastest_convolution_run_every_step():
    from benchmarks.perf.onednn_primitives import Primitive, conv_summary

    shape = "mb64_ic64oc64_ih32oh32kh3sh1dh0ph1_iw32ow32kw3sw1dw0pw1"
    flops = conv_flops(shape)
    fast = Primitive("convolution", "jit", "forward_training", shape)  # once a step, at 2 GFLOP/s
    rare = Primitive("convolution", "jit", "backward_data", shape)  # once in two steps: too rare to set the ceiling
    times = {fast: (2, 2 * flops / 2e9 * 1e3), rare: (1, 1e-6), Primitive("reorder", "jit:uni", "", "8"): (2, 0.5)}
    s = conv_summary(times, per=2, peak_flops=1e9)
    assert s["ceiling_gflop_per_s"] == 2.0 and s["matmul_peak_gflop_per_s"] == 1.0
    per_step = 1.5 * flops  # the fast one once, the rare one half
    assert s["conv_gflop_per_step"] == round(per_step / 1e9, 3)
    assert s["conv_ms_at_peak"] == round(per_step / 1e9 * 1e3, 2)
    assert s["conv_ms_at_ceiling"] == round(per_step / 2e9 * 1e3, 2)
    assert s["reorder_ms"] == 0.25
    assert conv_summary(times, per=2, peak_flops=5e9)["ceiling_gflop_per_s"] == 5.0  # a faster peak stays the ceiling
