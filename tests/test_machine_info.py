import pytest
import torch

from benchmarks.perf import bench_evaluator


@pytest.mark.parametrize("bf16", [False, True])
def test_machine_info_measures_bf16_only_where_the_device_has_it(monkeypatch, bf16):
    """Emulated bf16 matmuls take minutes on CPUs without bf16: the peak is measured only where it exists."""
    asked = []

    def fake_peak(device: str, precision: str) -> float:
        asked.append(precision)
        return 1e9

    monkeypatch.setattr(bench_evaluator, "matmul_peak_flops", fake_peak)
    monkeypatch.setattr(bench_evaluator, "bf16_supported", lambda device: bf16)
    info = bench_evaluator.machine_info(torch.device("cpu"))
    assert asked == (["fp32", "bf16"] if bf16 else ["fp32"])
    assert (info["matmul_peak_gflops_bf16"] is None) is (not bf16)
