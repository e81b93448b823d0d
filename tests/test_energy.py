"""Cost on the hardware: RAPL (with a fake powercap folder, readable or not), the GPU peak table, CUDA paths."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from benchmarks.energy import NOT_MEASURED, datasheet_peak_flops, measured, rapl_domains, rapl_joules, read_rapl

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the CPU paths are tested always)")


def fake_powercap(root: Path, readings: dict[str, tuple[int, int]]) -> Path:
    """intel-rapl domains with (energy_uj, max_energy_range_uj), plus a subzone that must not be counted."""
    for name, (energy, span) in readings.items():
        d = root / name
        d.mkdir(parents=True)
        (d / "energy_uj").write_text(f"{energy}\n")
        (d / "max_energy_range_uj").write_text(f"{span}\n")
    return root


def test_rapl_counts_packages_once_and_handles_wraparound(tmp_path):
    root = fake_powercap(tmp_path, {"intel-rapl:0": (900, 1000), "intel-rapl:1": (100, 5000),
                                    "intel-rapl:0:0": (7, 1000)})
    domains = rapl_domains(root)
    assert [d.name for d in domains] == ["intel-rapl:0", "intel-rapl:1"]
    start = read_rapl(domains)
    (root / "intel-rapl:0" / "energy_uj").write_text("50\n")  # wrapped: 900 -> 1000 -> 0 -> 50
    (root / "intel-rapl:1" / "energy_uj").write_text("2100\n")
    assert rapl_joules(domains, start, read_rapl(domains)) == pytest.approx((101 + 50 + 2000) / 1e6)


def test_measured_reads_rapl_when_readable(tmp_path, cpu):
    root = fake_powercap(tmp_path, {"intel-rapl:0": (1_000_000, 10**12)})
    with measured(cpu, root) as usage:
        (root / "intel-rapl:0" / "energy_uj").write_text("4000000\n")
    assert usage.energy_j == pytest.approx(3.0) and usage.energy_source == "rapl" and usage.seconds > 0
    fields = usage.fields(share=2)
    assert fields["energy_j"] == pytest.approx(1.5) and "cpu_hours" in fields and "gpu_hours" not in fields


def test_measured_counts_cpu_seconds_not_waiting(tmp_path, cpu):
    """A block's CPU seconds count the work done, not time spent waiting (a paused process, busy cores): a
    record's cpu_s stays honest where its wall_s does not."""
    with measured(cpu, tmp_path / "none") as usage:
        time.sleep(0.4)
        busy = time.process_time() + 0.1
        while time.process_time() < busy:
            pass
    assert usage.seconds >= 0.5 and 0.1 <= usage.cpu_s < 0.3
    assert usage.fields(share=2)["cpu_s"] == pytest.approx(usage.cpu_s / 2, abs=1e-3)


@pytest.mark.parametrize("layout", ["missing", "unreadable"])
def test_measured_says_not_measured_without_rapl(tmp_path, cpu, layout):
    root = tmp_path / "powercap"
    if layout == "unreadable":
        fake_powercap(root, {"intel-rapl:0": (5, 10)})
        (root / "intel-rapl:0" / "energy_uj").write_text("permission denied\n")  # what a read error leaves
    with measured(cpu, root) as usage:
        pass
    assert usage.energy_j == NOT_MEASURED and usage.energy_source is None
    assert usage.fields()["energy_j"] == NOT_MEASURED


def test_datasheet_peaks_by_gpu_name():
    assert datasheet_peak_flops("NVIDIA H200", "bf16") == pytest.approx(989.5e12)
    assert datasheet_peak_flops("NVIDIA H100 PCIe", "fp32") == pytest.approx(51e12)
    assert datasheet_peak_flops("NVIDIA A100-SXM4-80GB", "bf16") == pytest.approx(312e12)
    assert datasheet_peak_flops("NVIDIA L4", "bf16") == pytest.approx(121e12)
    assert datasheet_peak_flops("NVIDIA L40S", "bf16") is None  # not an L4
    assert datasheet_peak_flops("Tesla T4", "bf16") is None  # no bf16: the measured matmul peak is used
    assert datasheet_peak_flops("NVIDIA GeForce RTX 4090", "fp32") == pytest.approx(82.6e12)


def test_an_evaluation_records_its_cpu_cost(digits, cpu):
    from benchmarks.artifact import DistilledSet
    from benchmarks.evaluator import evaluate
    from benchmarks.spec import EvalConfig

    ds = DistilledSet(digits.train_x[:20], digits.train_y[:20], "hard", digits.num_classes)
    cost = evaluate(ds, digits, EvalConfig(model="convnet3_w32", steps=3, batch_size=10, precision="fp32",
                                           compile=False), cpu)["cost"]
    assert cost["peak_source"] == "measured" and cost["cpu_hours"] > 0
    assert cost["energy_j"] == NOT_MEASURED or (cost["energy_source"] == "rapl" and cost["energy_j"] >= 0)


@cuda_only
def test_an_evaluation_records_its_gpu_cost(digits):
    from benchmarks.artifact import DistilledSet
    from benchmarks.evaluator import evaluate
    from benchmarks.spec import EvalConfig

    gpu = torch.device("cuda")
    ds = DistilledSet(digits.train_x[:20], digits.train_y[:20], "hard", digits.num_classes)
    cost = evaluate(ds, digits, EvalConfig(model="convnet3_w32", steps=3, batch_size=10, precision="fp32",
                                           compile=False), gpu)["cost"]
    assert cost["gpu_name"] == torch.cuda.get_device_name(gpu) and cost["gpu_count"] == 1 and cost["gpu_hours"] > 0
    assert cost["peak_mem_bytes"] > 0 and cost["train_s"] > 0
    assert cost["peak_source"] == ("datasheet" if datasheet_peak_flops(cost["gpu_name"], "fp32") else "measured")
    assert cost["energy_j"] == NOT_MEASURED or (cost["energy_source"] == "nvml" and cost["energy_j"] >= 0)


@cuda_only
def test_cuda_events_time_the_queued_kernels():
    gpu = torch.device("cuda")
    a = torch.randn(4096, 4096, device=gpu)
    with measured(gpu) as usage:
        for _ in range(10):
            a = a @ a / 4096
    assert usage.seconds > 0 and usage.hardware["kind"] == "cuda"
