"""The CUDA paths on a real GPU: every registered method, every zoo model, the robustness panel and a suite run.

Skipped with a reason where no CUDA device is present (CI and the 2-core CPU machines); the CPU paths are tested
everywhere else. Run them on a GPU machine with `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.evaluator import evaluate
from benchmarks.methods import METHODS, Budget, run_method
from benchmarks.models import ZOO
from benchmarks.spec import EvalConfig
from benchmarks.training import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the CPU paths are tested always)")


@pytest.fixture(scope="module")
def gpu() -> torch.device:
    return torch.device("cuda")


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_distils_on_cuda_and_its_set_trains_there(name, digits, gpu):
    entry = METHODS.get(name)
    ds = run_method(name, digits, Budget(3), 0, gpu, entry.smoke)
    assert ds.images.device.type == "cpu" and ds.labels.device.type == "cpu"  # stored and hashed off the GPU
    assert torch.isfinite(ds.images).all() and ds.label_kind == entry.label_kind
    r = evaluate(ds, digits, EvalConfig(model="convnet3_w32", optimizer="adam", steps=20, batch_size=32), gpu)
    assert 0 <= r["metrics"]["test_acc"] <= 100 and math.isfinite(r["metrics"]["final_loss"])
    assert r["cost"]["gpu_name"] == torch.cuda.get_device_name(gpu) and r["cost"]["gpu_hours"] > 0


@pytest.mark.parametrize("name", ZOO.names())
@pytest.mark.parametrize("precision", ["fp32", "auto"])
def test_every_zoo_model_trains_on_cuda(name, precision, digits, digits_full, gpu):
    cfg = EvalConfig(model=name, optimizer="adam", steps=25, batch_size=32, seed=0, schedule="constant",
                     precision=precision, compile=False)
    res = train(digits_full, digits, cfg, cfg.base_lr(), gpu)
    assert not res.diverged
    assert res.history[-1] < res.history[0], f"{name} ({precision}): loss did not go down ({res.history})"


def test_an_evaluation_repeats_bit_for_bit_on_cuda(tmp_path):
    """Same cell twice = same record on the GPU too: two fresh `ddbench evaluate` processes (each pins torch's
    deterministic algorithms before CUDA starts, as every command does) give the same loss and accuracy."""
    import json
    import subprocess
    import sys

    def ddbench(*argv: str) -> str:
        return subprocess.run([sys.executable, "-m", "benchmarks", *argv], capture_output=True, text=True,
                              check=True).stdout

    ddbench("distill", "random", "--dataset", "digits", "--ipc", "10", "--out", str(tmp_path), "--device", "cuda")
    art = str(next(tmp_path.glob("*.json")))
    runs = [json.loads(ddbench("evaluate", art, "--model", "convnet3", "--steps", "60", "--batch-size", "64",
                               "--augment", "dsa", "--precision", "auto", "--device", "cuda"))["metrics"]
            for _ in range(2)]
    assert runs[0]["test_acc"] == runs[1]["test_acc"] and runs[0]["final_loss"] == runs[1]["final_loss"]


def test_the_robustness_panel_on_cuda_agrees_with_the_cpu(digits, digits_full, gpu):
    """Corruptions are made on the CPU and cached, attacks run where the model is; the CPU and GPU panels of one
    trained model agree up to floating-point order (a handful of images at most)."""
    from benchmarks.robustness import RobustnessSpec, robustness_panel

    cfg = EvalConfig(model="convnet3_w32", optimizer="adam", steps=60, batch_size=64, seed=0, precision="fp32")
    model = train(digits_full, digits, cfg, cfg.base_lr(), gpu).model.eval()
    spec = RobustnessSpec(corruptions=("shot_noise", "rotate"), epsilons=(0.0, 0.1), subset=200, pgd_steps=5)
    on_gpu = robustness_panel(model, digits, spec, gpu, "fp32")
    on_cpu = robustness_panel(model.cpu(), digits, spec, torch.device("cpu"), "fp32")
    for attack in ("fgsm", "pgd"):
        assert on_gpu["attack_acc"][attack]["0"] == on_gpu["attack_clean_acc"]
        assert abs(on_gpu["attack_acc"][attack]["0.1"] - on_cpu["attack_acc"][attack]["0.1"]) <= 2.0
    assert on_gpu["attack_acc"]["pgd"]["0.1"] <= on_gpu["attack_acc"]["fgsm"]["0.1"] <= on_gpu["attack_clean_acc"]
    for name, acc in on_cpu["corruption_acc"].items():
        assert abs(on_gpu["corruption_acc"][name] - acc) <= 0.5, name


def test_a_suite_run_on_cuda_records_the_gpu_and_its_cost(tmp_path):
    import json

    from benchmarks.cli import main

    suite = tmp_path / "mini.toml"
    suite.write_text('[grid]\ndatasets = ["digits"]\nmethods = ["random", "full"]\nipc = [2]\nmodels = ["convnet3"]\n'
                     'optimizers = ["momentum"]\nseeds = [0]\n[eval]\nsteps = 30\nbatch_size = 32\n'
                     '[eval.robustness]\ncorruptions = ["fog"]\nsubset = 50\npgd_steps = 3\n')
    assert main(["run", str(suite), "--report-dir", str(tmp_path / "rep"), "--no-progress", "--device", "auto"]) == 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "rep" / "records").glob("*.json")]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records), [r["error"] for r in records]
    for r in records:
        assert r["provenance"]["device"] == torch.cuda.get_device_name()
        assert r["cost"]["gpu_count"] == 1 and r["cost"]["gpu_hours"] > 0
        assert "fog" in r["metrics"]["robustness"]["corruption_acc"]


def test_a_compiled_model_trains_on_cuda(digits, digits_full, gpu):
    cfg = EvalConfig(model="convnet3", optimizer="momentum", steps=30, batch_size=64, seed=0, precision="auto",
                     compile=True)
    res = train(digits_full, digits, cfg, cfg.base_lr(), gpu)
    assert not res.diverged and res.history[-1] < res.history[0]
