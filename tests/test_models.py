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


@pytest.mark.parametrize("size", [8, 9, 16, 28])
def test_fast_pool_is_avgpool(size):
    from benchmarks.nets import AvgPool2x2

    x = torch.randn(2, 3, size, size + 1, requires_grad=True)
    ref = torch.nn.AvgPool2d(2)(x)
    out = AvgPool2x2()(x)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-6)
    g1, = torch.autograd.grad(ref.sum(), x)
    g2, = torch.autograd.grad(out.sum(), x)
    assert torch.allclose(g1, g2)
