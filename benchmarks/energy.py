"""What a block of work cost on the hardware that ran it: energy (RAPL on CPUs, NVML on NVIDIA GPUs), GPU name
and count, device-hours, and the device's dense peak FLOP/s for MFU. A value that cannot be read is the string
``NOT_MEASURED``, never an estimate. nvidia-ml-py is optional and imported only when a GPU is measured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.cost import timed

NOT_MEASURED = "not measured"
POWERCAP = Path("/sys/class/powercap")

# Dense (no structured sparsity) peak TFLOP/s from NVIDIA's datasheets: (fp32, bf16 tensor core); None where the
# GPU has no bf16. Matched against torch.cuda.get_device_name by its words, first match wins (specific first).
# H200 SXM: H200 datasheet (67 / 989.5; 1,979 is with sparsity). H200 NVL: 60 / 835.5.
# H100 SXM: H100 datasheet (67 / 989.5); H100 NVL: 60 / 835.5; H100 PCIe: 51 / 756.5.
# A100 (SXM and PCIe): A100 datasheet, 19.5 / 312. L4: L4 datasheet, 30.3 / 121 (242 with sparsity).
# RTX 4090: Ada Lovelace architecture whitepaper, 82.6 FP32 / 165.2 bf16 with FP32 accumulate (330.4 sparse).
# V100 SXM2: V100 datasheet, 15.7 FP32, no bf16; V100 PCIe: 14. T4: T4 datasheet, 8.1 FP32, no bf16.
GPU_PEAK_TFLOPS: list[tuple[tuple[str, ...], float, float | None]] = [
    (("H200", "NVL"), 60.0, 835.5),
    (("H200",), 67.0, 989.5),
    (("H100", "NVL"), 60.0, 835.5),
    (("H100", "PCIe"), 51.0, 756.5),
    (("H100",), 67.0, 989.5),
    (("A100",), 19.5, 312.0),
    (("L4",), 30.3, 121.0),
    (("4090",), 82.6, 165.2),
    (("V100", "PCIe"), 14.0, None),
    (("V100",), 15.7, None),
    (("T4",), 8.1, None),
]


def datasheet_peak_flops(gpu_name: str, precision: str) -> float | None:
    """The datasheet's dense peak FLOP/s of a GPU (by name) at fp32 or bf16, or None when it is not tabled."""
    words = set(gpu_name.replace("-", " ").split())
    for needed, fp32, bf16 in GPU_PEAK_TFLOPS:
        if all(w in words for w in needed):
            tflops = bf16 if precision == "bf16" else fp32
            return None if tflops is None else tflops * 1e12
    return None


# ---- CPU: RAPL ------------------------------------------------------------------------------------------

def rapl_domains(root: Path = POWERCAP) -> list[Path]:
    """Top-level RAPL package domains (intel-rapl:N; their subzones are already counted in them) that are readable."""
    out = []
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") != 1:
            continue
        try:
            int((d / "energy_uj").read_text())
            int((d / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        out.append(d)
    return out


def read_rapl(domains: list[Path]) -> list[int]:
    """Each domain's energy counter (µJ)."""
    return [int((d / "energy_uj").read_text()) for d in domains]


def rapl_joules(domains: list[Path], start: list[int], end: list[int]) -> float:
    """Energy between two readings, a counter that wrapped past its max_energy_range_uj counted once around."""
    total = 0
    for d, a, b in zip(domains, start, end, strict=True):
        span = int((d / "max_energy_range_uj").read_text())
        total += b - a if b >= a else b + span + 1 - a
    return total / 1e6


# ---- CUDA: NVML -------------------------------------------------------------------------------------------

def nvml_handle(device: torch.device) -> Any | None:
    """An NVML handle for a CUDA device whose total-energy counter is readable, or None."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = torch.cuda.get_device_properties(index).uuid
        handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return handle
    except Exception:  # NVML missing, the GPU does not expose the counter, or an older driver
        return None


def nvml_millijoules(handle: Any) -> int:
    import pynvml

    return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))


# ---- one measured block -----------------------------------------------------------------------------------

@dataclass
class Usage:
    """What a block used: seconds (CUDA events on a GPU), this process's CPU seconds (user + system, all its
    threads: unlike the wall clock, not inflated by other work on the cores or by the process being paused), energy in
    joules or NOT_MEASURED, and where it ran."""

    seconds: float = 0.0
    cpu_s: float = 0.0
    energy_j: float | str = NOT_MEASURED
    energy_source: str | None = None
    hardware: dict[str, Any] = field(default_factory=dict)

    def fields(self, share: int = 1) -> dict[str, Any]:
        """The record's cost fields for one of ``share`` cells that ran together in this block."""
        hours = self.seconds * self.hardware.get("count", 1) / 3600 / share
        energy = round(self.energy_j / share, 3) if isinstance(self.energy_j, float) else self.energy_j
        out: dict[str, Any] = {"energy_j": energy, "energy_source": self.energy_source,
                               "cpu_s": round(self.cpu_s / share, 3)}
        if self.hardware.get("kind") == "cuda":
            return {**out, "gpu_hours": round(hours, 9), "gpu_name": self.hardware["name"],
                    "gpu_count": self.hardware["count"]}
        return {**out, "cpu_hours": round(hours, 9)}


def hardware(device: torch.device) -> dict[str, Any]:
    """The device that runs the work: kind, name and count (GPUs used by this process; CPU threads)."""
    if device.type == "cuda":
        return {"kind": "cuda", "name": torch.cuda.get_device_name(device), "count": 1}
    return {"kind": "cpu", "count": torch.get_num_threads()}


@contextmanager
def measured(device: torch.device, powercap: Path = POWERCAP) -> Iterator[Usage]:
    """Time (``cost.timed``: CUDA events on a GPU, else the wall clock), this process's CPU seconds and energy
    (NVML on a GPU, RAPL on a CPU, where readable) of a block, filled in when it ends."""
    usage = Usage(hardware=hardware(device))
    handle = nvml_handle(device) if device.type == "cuda" else None
    e0 = nvml_millijoules(handle) if handle is not None else None
    domains = rapl_domains(powercap) if device.type != "cuda" else []
    r0 = read_rapl(domains) if domains else []
    cpu0 = time.process_time()
    with timed(device) as t:
        yield usage
    usage.seconds, usage.cpu_s = t.seconds, time.process_time() - cpu0
    if handle is not None and e0 is not None:
        usage.energy_j, usage.energy_source = (nvml_millijoules(handle) - e0) / 1000, "nvml"
    elif domains:
        usage.energy_j, usage.energy_source = rapl_joules(domains, r0, read_rapl(domains)), "rapl"
