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


def test_the_commit_is_read_when_the_code_is_loaded_not_when_a_record_is_written():
    """A long run outlives commits made beside it: its records name the commit whose code it imported."""
    import subprocess
    import sys
    from pathlib import Path

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if head.returncode:
        pytest.skip("not a git checkout")
    code = ("import subprocess; import torch; import benchmarks.cost as c; "
            "subprocess.run = lambda *a, **k: (_ for _ in ()).throw(OSError('git is gone after import')); "
            "print(c.provenance(torch.device('cpu'))['commit'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == head.stdout.strip()
