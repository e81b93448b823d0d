"""Which oneDNN kernels a CPU training step runs, and how fast each is against the machine's matmul peak.

torch runs convolutions (and, on CPUs with AMX or AVX512-BF16, bf16 matmuls) through oneDNN. Its verbose mode
prints one line per executed primitive: the kind, the implementation it chose (``brg_conv_fwd:avx10_1_512_amx``,
``x64:gemm:jit``...), the direction, the problem shape and its milliseconds. ``primitive_times`` captures those
lines while a function runs and sums them per (kind, implementation, direction, shape); a convolution's FLOPs
follow from its shape, so each row gets a GFLOP/s. This shows a kernel the library runs badly (e.g. a weight
gradient falling back to a generic gemm) where torch.profiler only shows ``convolution_backward``. The
milliseconds are oneDNN's own wall-clock timings: on a loaded machine they include time the process waited for a
core, so rates read low there; compare shares, or measure on an idle machine.
"""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

_SHAPE = re.compile(r"mb(\d+)_ic(\d+)oc(\d+)_ih(\d+)oh(\d+)kh(\d+)\D.*_iw(\d+)ow(\d+)kw(\d+)")


@dataclass(frozen=True)
class Primitive:
    kind: str  # convolution, matmul, reorder, ...
    impl: str  # the implementation oneDNN chose
    direction: str  # forward_training, forward_inference, backward_data, backward_weights, or "" (matmul, reorder)
    shape: str


def conv_flops(shape: str) -> int:
    """FLOPs of one convolution call from oneDNN's shape string (2 x MACs; the same for the forward pass and
    either backward pass); 0 when the string is not a 2-d convolution's."""
    m = _SHAPE.search(shape)
    if m is None:
        return 0
    mb, ic, oc, _, oh, kh, _, ow, kw = (int(g) for g in m.groups())
    return 2 * mb * ic * oc * oh * ow * kh * kw


def parse(lines: list[str]) -> dict[Primitive, tuple[int, float]]:
    """Calls and milliseconds per primitive from oneDNN verbose ``exec`` lines (other lines are ignored)."""
    out: dict[Primitive, tuple[int, float]] = {}
    for line in lines:
        f = line.strip().split(",")
        if len(f) < 8 or not f[0].endswith("_verbose") or "exec" not in f[:4]:
            continue
        at = f.index("exec")
        kind, impl, direction = f[at + 2], f[at + 3], f[at + 4]
        try:
            ms = float(f[-1])
        except ValueError:
            continue
        key = Primitive(kind, impl, "" if direction == "undef" else direction, f[-2])
        calls, total = out.get(key, (0, 0.0))
        out[key] = (calls + 1, total + ms)
    return out


def captured_stdout(fn: Callable[[], Any]) -> list[str]:
    """Lines that ``fn`` (and the C libraries it calls) writes to file descriptor 1."""
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(1)
        libc.fflush(None)
        os.dup2(tmp.fileno(), 1)
        try:
            fn()
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode(errors="replace").splitlines()


def primitive_times(fn: Callable[[], Any]) -> dict[Primitive, tuple[int, float]]:
    """Run ``fn`` once with oneDNN's verbose mode on; calls and milliseconds per primitive."""
    mkldnn = torch.backends.mkldnn

    def verbose() -> None:
        with mkldnn.verbose(mkldnn.VERBOSE_ON):
            fn()

    return parse(captured_stdout(verbose))


def table(times: dict[Primitive, tuple[int, float]], per: int, peak_flops: float, top: int = 20) -> list[dict[str, Any]]:
    """The ``top`` primitives by time: milliseconds and calls per ``per`` (e.g. per training step), share of the
    oneDNN total, GFLOP/s (convolutions) and that as a share of ``peak_flops``."""
    total = sum(ms for _, ms in times.values()) or 1.0
    rows = []
    for p, (calls, ms) in sorted(times.items(), key=lambda kv: -kv[1][1])[:top]:
        flops = conv_flops(p.shape) * calls if p.kind == "convolution" else 0
        rate = flops / (ms / 1e3) if flops and ms > 0 else None
        rows.append({"kind": p.kind, "direction": p.direction, "impl": p.impl, "shape": p.shape,
                     "calls": round(calls / per, 2), "ms": round(ms / per, 2), "share": round(ms / total, 3),
                     "gflop_per_s": None if rate is None else round(rate / 1e9, 1),
                     "of_peak": None if rate is None else round(rate / peak_flops, 3)})
    return rows


def conv_summary(times: dict[Primitive, tuple[int, float]], per: int, peak_flops: float) -> dict[str, float]:
    """Per ``per``: the convolutions' GFLOP, their measured ms, their ms at ``peak_flops`` and at the ceiling (the
    higher of that peak and the fastest convolution run at least once per ``per``: a matmul probe is no ceiling for a
    kernel that beats it), and the ms of layout reorders - what a bound "convolutions at the ceiling, no reorders,
    everything else as measured" needs."""
    convs = {p: v for p, v in times.items() if p.kind == "convolution"}
    flops = sum(conv_flops(p.shape) * calls for p, (calls, _) in convs.items()) / per
    rates = [conv_flops(p.shape) * calls / (ms / 1e3) for p, (calls, ms) in convs.items() if calls >= per and ms > 0]
    ceiling = max([peak_flops, *rates])

    def ms(kind: str) -> float:
        return round(sum(t for p, (_, t) in times.items() if p.kind == kind) / per, 2)

    return {"matmul_peak_gflop_per_s": round(peak_flops / 1e9, 1), "conv_gflop_per_step": round(flops / 1e9, 3),
            "conv_ms_at_peak": round(flops / peak_flops * 1e3, 2), "ceiling_gflop_per_s": round(ceiling / 1e9, 1),
            "conv_ms_at_ceiling": round(flops / ceiling * 1e3, 2), "conv_ms": ms("convolution"),
            "reorder_ms": ms("reorder")}


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """``table``'s rows as a GitHub Markdown table (the benchmarks' reports print them alike)."""
    from tabulate import tabulate

    cells = [[r["kind"], r["direction"], r["impl"], r["shape"], r["calls"], r["ms"], f"{100 * r['share']:.0f}%",
              r["gflop_per_s"] or "-", "-" if r["of_peak"] is None else f"{100 * r['of_peak']:.1f}%"] for r in rows]
    return tabulate(cells, headers=["kind", "direction", "implementation", "shape", "calls", "ms", "share", "GFLOP/s",
                                    "of peak"], tablefmt="github")
