"""Cost accounting shared by distillation and evaluation: wall time, peak memory, FLOPs, provenance."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.errors import UserError
from benchmarks.paths import cache_dir


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` are checked to exist here."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise UserError(f"--device {name}: ddbench runs on cpu or cuda")
    return device


@dataclass
class Timer:
    seconds: float = 0.0


@dataclass
class SegmentClock:
    """Wall and CPU seconds of a resumable loop, summed over the processes that ran it: each earlier process counts
    up to its last save (what it did after that was lost and is done again, so it counts once), then this one."""

    earlier_wall_s: float = 0.0
    earlier_cpu_s: float | None = 0.0  # None: an earlier process saved no CPU clock (a state older than the clock)
    resumed: bool = False
    _wall0: float = field(default_factory=time.perf_counter)
    _cpu0: float = field(default_factory=time.process_time)

    def resume(self, wall_s: float, cpu_s: float | None) -> None:
        """Continue the clocks a saved state carried."""
        self.earlier_wall_s, self.earlier_cpu_s, self.resumed = float(wall_s), cpu_s, True

    def wall(self) -> float:
        return self.earlier_wall_s + time.perf_counter() - self._wall0

    def cpu(self) -> float | None:
        return None if self.earlier_cpu_s is None else self.earlier_cpu_s + time.process_time() - self._cpu0

    def earlier(self) -> dict[str, Any]:
        """The artifact's cost fields for the processes before this one (none for a run that was not resumed);
        ``run_method`` adds them to this process's own seconds."""
        if not self.resumed:
            return {}
        cpu = None if self.earlier_cpu_s is None else round(self.earlier_cpu_s, 3)
        return {"earlier_wall_s": round(self.earlier_wall_s, 3), "earlier_cpu_s": cpu}


def distill_seconds(cost: dict[str, Any], wall_s: float, cpu_s: float) -> dict[str, Any]:
    """A distillation's ``wall_s`` and ``cpu_s``: this process's seconds plus, for a resumed run, the earlier
    processes' (``SegmentClock.earlier``), with this process's own as ``segment_wall_s`` / ``segment_cpu_s``.
    ``cpu_s`` is left out where an earlier process kept no CPU clock."""
    if "earlier_wall_s" not in cost:
        return {"wall_s": round(wall_s, 4), "cpu_s": round(cpu_s, 4)}
    earlier_cpu = cost.get("earlier_cpu_s")
    return {"wall_s": round(cost["earlier_wall_s"] + wall_s, 4), "segment_wall_s": round(wall_s, 4),
            "segment_cpu_s": round(cpu_s, 4),
            **({"cpu_s": round(earlier_cpu + cpu_s, 4)} if earlier_cpu is not None else {})}


@contextmanager
def timed(device: torch.device) -> Iterator[Timer]:
    """Time of a block: CUDA events on a GPU (the kernels queued in the block), the wall clock on a CPU."""
    t = Timer()
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(torch.cuda.current_stream(device))
        yield t
        end.record(torch.cuda.current_stream(device))
        end.synchronize()
        t.seconds = start.elapsed_time(end) / 1000
        return
    start_s = time.perf_counter()
    yield t
    t.seconds = time.perf_counter() - start_s


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA: max allocated since the last reset. CPU: the process's peak resident set size."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` as torch's flop counter sees them (matmuls and convolutions)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The ddbench checkout's commit when this process loaded its code (read once, at import: a commit made while
    a long run goes on must not be named by its records), when it runs from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


git_commit()  # at import, with the code this process runs


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()})"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" where there is none): benchmarks name the machine class."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, commit and device: what a record needs to be traced back to its run."""
    import kornia
    import timm

    import benchmarks

    return {
        "ddbench": benchmarks.__version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "kornia": kornia.__version__,
        "device": device_name(device),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def bf16_supported(device: torch.device) -> bool:
    """Fast bf16 arithmetic: CUDA with bf16, or a CPU with AVX512-BF16 or AMX (else bf16 is emulated and slow)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(cpu, c, lambda: False)()) for c in checks)
    return False


PEAK_ENV = "DDBENCH_PEAK_FLOPS"  # pins the matmul peak: "2.1e11" for every precision, or "fp32=1.1e11,bf16=4e11"
PEAK_PROCESSES = 3  # processes that measure the matmul peak before the cached best is trusted
PEAK_REPEATS = 7  # timed matmuls per measurement; the fastest counts
PEAK_FILE = "matmul_peak.json"  # in the cache dir: the best rate ever measured per device and precision


def pinned_peak(precision: str) -> float | None:
    """The peak ``DDBENCH_PEAK_FLOPS`` pins for ``precision``, or None when it pins none."""
    text = os.environ.get(PEAK_ENV, "").strip()
    if not text:
        return None
    parts = dict(p.split("=", 1) if "=" in p else ("", p) for p in text.replace(" ", "").split(","))
    value = parts.get(precision, parts.get(""))
    if value is None:
        return None
    try:
        peak = float(value)
    except ValueError:
        peak = -1.0
    if not peak > 0 or peak == float("inf"):
        raise UserError(f"{PEAK_ENV}={text!r}: give FLOP/s as a positive number, e.g. 2e11 or fp32=1e11,bf16=3e11")
    return peak


def measure_matmul_flops(device: torch.device, precision: str, repeats: int = PEAK_REPEATS) -> float:
    """FLOP/s of the fastest of ``repeats`` 2048^3 matmuls (after a warm-up) on ``device`` in ``precision``."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    n = 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        with timed(device) as t:
            a @ b
        best = min(best, t.seconds)
    return 2 * n**3 / best


def _remembered_peaks() -> dict[str, float]:
    try:
        data = json.loads((cache_dir() / PEAK_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(data, dict) else {}


def _remember_peak(key: str, peak: float, measurements: int) -> None:
    try:
        path = cache_dir() / PEAK_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        entries = {**_remembered_peaks(), key: peak, f"{key} | measurements": measurements}
        tmp.write_text(json.dumps(entries, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs the memory of the best measurement


@lru_cache(maxsize=8)
def matmul_peak_flops(device_str: str, precision: str) -> float:
    """The denominator of MFU: ``DDBENCH_PEAK_FLOPS`` when it pins one, else the best matmul rate ever
    measured on this device and precision (each process's best of ``PEAK_REPEATS``, kept in the cache dir), so
    a measurement under load does not lower it. The first ``PEAK_PROCESSES`` processes measure (~1.5 s on a
    2-core CPU); later ones read the cache, so a fresh ``ddbench evaluate`` does not pay for it."""
    pinned = pinned_peak(precision)
    if pinned is not None:
        return pinned
    device = torch.device(device_str)
    key = f"{device_name(device)} | {precision}"
    known = _remembered_peaks()
    done = int(known.get(f"{key} | measurements", 1 if key in known else 0))
    if done >= PEAK_PROCESSES:
        return known[key]
    best = max(measure_matmul_flops(device, precision), known.get(key, 0.0))
    _remember_peak(key, best, done + 1)
    return best


def mfu_fields(achieved: float, peak: float) -> dict[str, Any]:
    """``mfu`` = achieved / max(peak, achieved), never above 1. A rate above the peak (the peak was measured
    under load) becomes the denominator, ``mfu_peak_raised`` says so; ``matmul_peak_flops_per_s`` keeps the peak."""
    denominator = max(peak, achieved)
    return {
        "mfu": round(achieved / denominator, 4) if denominator > 0 else None,
        "matmul_peak_flops_per_s": round(peak, 1),
        "mfu_peak_flops_per_s": round(denominator, 1),
        "mfu_peak_raised": achieved > peak,
    }
