"""The malloc setting the ddbench command makes: large freed blocks stay in the process, so a training loop's
repeated activations stop faulting in fresh pages (counted with getrusage, not timed)."""

import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
from benchmarks.allocator import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "kept" else False
for _ in range(10):  # warm-up: glibc grows its heap over the first few blocks
    torch.ones(16 * 1024 * 1024)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    torch.ones(16 * 1024 * 1024)  # 64 MiB, allocated, written and freed
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env)
    took, faults = out.stdout.split()
    return took, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's mallopt (Linux)")
def test_kept_memory_stops_repeated_page_faults():
    took, kept = _faults("kept")
    _, default = _faults("default")
    assert took == "True"
    assert default > 10 * 16384 * 0.9  # each 64 MiB block faulted in anew: ~16k pages each time
    assert kept < default / 20


def test_the_setting_can_be_turned_off(monkeypatch):
    from benchmarks.allocator import ENV, keep_freed_memory

    monkeypatch.setenv(ENV, "default")
    assert keep_freed_memory() is False
