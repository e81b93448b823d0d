"""The malloc setting the ddbench command makes: large freed blocks stay in the process, so a training loop's
repeated activations stop faulting in fresh pages (counted with getrusage per allocation, not timed)."""

import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
from benchmarks.allocator import keep_freed_memory
took = keep_freed_memory() if sys.argv[1] == "kept" else False
for _ in range(10):  # warm-up: glibc grows its heap over the first few blocks
    torch.ones(16 * 1024 * 1024)
faults = []
for _ in range(10):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(16 * 1024 * 1024)  # 64 MiB, allocated, written and freed
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(took, *faults)
"""
BLOCK_PAGES = 16384  # one 64 MiB block in 4 KiB pages


def _faulting_allocations(mode: str) -> tuple[str, int]:
    """Whether the setting took, and how many of the 10 allocations faulted in at least half a block anew."""
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    took, *faults = out.stdout.split()
    return took, sum(int(f) > BLOCK_PAGES // 2 for f in faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is glibc's mallopt (Linux)")
def test_kept_memory_stops_repeated_page_faults():
    took, kept = _faulting_allocations("kept")
    _, default = _faulting_allocations("default")
    assert took == "True"
    assert default >= 9  # glibc's default: every 64 MiB block is a fresh mmap, faulted in anew
    # kept: the heap may still grow once (a small allocation can split the freed block), then blocks are reused
    assert kept <= 2


def test_the_setting_can_be_turned_off(monkeypatch):
    from benchmarks.allocator import ENV, keep_freed_memory

    monkeypatch.setenv(ENV, "default")
    assert keep_freed_memory() is False
