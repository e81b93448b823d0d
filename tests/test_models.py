import pytest
import torch

from benchmarks.models import ZOO, build_model
from benchmarks.spec import EvalConfig
from benchmarks.training import train

HEAVY = {"vit_tiny", "resnet18", "efficientnet_b0"}  # ~1-2 min each on 2 cores: run with -m slow


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in ZOO.names()])
def test_every_zoo_model_trains_on_real_digits(name, digits, digits_full, cpu):
    cfg = EvalConfig(model=name, optimizer="adam", steps=25, batch_size=32, seed=0, schedule="constant")
    res = train(digits_full, digits, cfg, cfg.base_lr(), cpu)
    assert not res.diverged
    assert res.history[-1] < res.history[0], f"{name}: loss did not go down ({res.history})"
    out = res.model(digits.normalize(digits.val_x[:4]))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["convnet3", "lenet", "alexnet_cifar", "resnet10t", "test_vit", "vgg11_dc",
                                  "regnetx_002", "convnext_atto"])
@pytest.mark.parametrize("shape", [(1, 28), (3, 32)])
def test_models_build_at_mnist_and_cifar_sizes(name, shape):
    model, _ = build_model(name, 10, shape[0], shape[1])
    assert model(torch.rand(2, shape[0], shape[1], shape[1])).shape == (2, 10)


def test_small_stem_adaptation_is_recorded():
    _, note = build_model("resnet18", 10, 1, 28)
    assert "stride 1" in note
    _, note = build_model("convnet3", 10, 1, 28)
    assert note == "none"


def test_timm_names_outside_the_zoo_work():
    model, _ = build_model("resnet14t", 5, 3, 32)
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 5)


@pytest.mark.parametrize("compiling", [False, True], ids=["four-views", "reshape-sum"])
@pytest.mark.parametrize("size", [8, 9, 16, 28])
def test_fast_pool_is_avgpool(size, compiling, monkeypatch):
    """Both forms of AvgPool2x2 (eager: four strided views; inside a compiled CPU graph: a reshaped sum) are
    nn.AvgPool2d(2), values and gradients, odd sizes included."""
    from benchmarks.nets import AvgPool2x2

    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: compiling)
    x = torch.randn(2, 3, size, size + 1, requires_grad=True)
    ref = torch.nn.AvgPool2d(2)(x)
    out = AvgPool2x2()(x)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-6)
    g1, = torch.autograd.grad(ref.sum(), x)
    g2, = torch.autograd.grad(out.sum(), x)
    assert torch.allclose(g1, g2)


@pytest.mark.parametrize(("padding", "stride", "bias"), [(3, 1, True), (1, 2, True), (0, 1, False)])
def test_the_matmul_stem_is_the_convolution(padding, stride, bias, monkeypatch):
    """StemConv2d's matmul path computes nn.Conv2d's function: outputs and both gradients (fp32)."""
    from benchmarks.nets import StemConv2d

    torch.manual_seed(0)
    conv = StemConv2d(1, 8, 3, padding=padding, stride=stride, bias=bias)
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding)
    monkeypatch.setattr(StemConv2d, "matmul_stem", lambda self, x: True)
    out = conv(x)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(ref)
    wanted = torch.autograd.grad(ref, [x, *conv.parameters()], g)
    got = torch.autograd.grad(out, [x, *conv.parameters()], g)
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(wanted, got, strict=True))


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_a_compiled_bf16_cpu_graph_takes_the_matmul_stem_and_eager_the_convolution():
    """Where the policy says so (compiled, bf16, CPU, one input channel) the stem's weight gradient leaves oneDNN's
    convolution kernels; eager code keeps nn.Conv2d, bit for bit."""
    from benchmarks.nets import StemConv2d
    from benchmarks.perf.onednn_primitives import primitive_times
    from benchmarks.training import _compiled

    torch.manual_seed(0)
    conv = StemConv2d(1, 16, 3, padding=3)
    x = torch.randn(4, 1, 28, 28)
    assert torch.equal(conv(x), torch.nn.functional.conv2d(x, conv.weight, conv.bias, padding=3))
    compiled = _compiled(conv)

    def step() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = compiled(x)
        out.float().sum().backward()
        return out

    out = step()
    ran = {p.kind for p in primitive_times(step)}
    assert "convolution" not in ran
    with torch.autocast("cpu", dtype=torch.bfloat16):
        eager = conv(x)
    assert torch.allclose(out.float(), eager.float(), atol=0.1, rtol=0.02)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="torch built without oneDNN")
def test_an_eager_bf16_stem_with_wide_padding_pads_first_and_leaves_the_generic_gemm():
    """Eager bf16 with padding wider than "same" (ConvNet's 3 at 28 px): padded, then convolved unpadded - the same
    function (outputs and gradients within bf16's rounding) without oneDNN's x64:gemm:jit fallback; "same" padding,
    fp32 and compiled graphs are left as they were."""
    from benchmarks.nets import StemConv2d
    from benchmarks.perf.onednn_primitives import primitive_times

    torch.manual_seed(0)
    conv = StemConv2d(1, 16, 3, padding=3)
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert conv.explicit_padding(x) and not StemConv2d(1, 16, 3, padding=1).explicit_padding(x)
    assert not conv.explicit_padding(x)  # fp32: nn.Conv2d, bit for bit (the test above)

    def step(module: torch.nn.Module) -> list[torch.Tensor]:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = module(x)
        return [out.float(), *torch.autograd.grad(out.float().square().sum(), [x, *module.parameters()])]

    plain = torch.nn.Conv2d(1, 16, 3, padding=3)
    plain.load_state_dict(conv.state_dict())
    for got, wanted in zip(step(conv), step(plain), strict=True):
        assert torch.allclose(got, wanted, rtol=0.02, atol=0.02 * wanted.abs().max().item())
    if not any("gemm" in p.impl for p in primitive_times(lambda: step(plain)) if p.kind == "convolution"):
        pytest.skip("this oneDNN has a kernel for wide padding in bf16: re-measure policy.EXPLICIT_PAD_DEVICES")
    impls = {p.impl for p in primitive_times(lambda: step(conv)) if p.kind == "convolution"}
    assert impls and not any("gemm" in i for i in impls), impls
