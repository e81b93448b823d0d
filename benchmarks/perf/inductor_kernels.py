"""Where a compiled CPU training step's time goes, kernel by kernel: inductor's generated kernels, oneDNN convolutions,
matmuls and the rest, in self CPU ms per step (torch.profiler with inductor's per-kernel records).

``python -m benchmarks.perf.inductor_kernels --pool views reshape`` profiles ConvNet-3's MNIST training step (100
images in 4 chunks, bf16 autocast, compiled, 1 thread) once per AvgPool2x2 form, in turn, and prints the groups and
the largest inductor kernels: the measurement behind ``benchmarks.policy.RESHAPE_POOL_DEVICES``. The ms are wall-clock
profiler timings; compare forms within one invocation, and repeat it, on a loaded machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import torch
import torch.nn.functional as F

POOL_FORMS = {"views": set(), "reshape": {"cpu"}}  # RESHAPE_POOL_DEVICES per form


def profile_step(steps: int = 10, warmup: int = 5, chunks: int = 4) -> dict[str, object]:
    """Self CPU ms per step of the compiled bf16 ConvNet-3 step, grouped; with the five largest inductor kernels."""
    import torch._inductor.config as inductor_config
    from torch.profiler import ProfilerActivity, profile

    from benchmarks.models import build_model
    from benchmarks.training import _compiled

    inductor_config.cpp.enable_kernel_profile = True
    torch.manual_seed(0)
    x, y = torch.rand(100, 1, 28, 28), torch.randint(0, 10, (100,))
    model, _ = build_model("convnet3", 10, 1, 28)
    forward = _compiled(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        for part in torch.arange(len(x)).tensor_split(chunks):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = forward(x[part])
            (F.cross_entropy(out.float(), y[part]) * (len(part) / len(x))).backward()
        opt.step()

    for _ in range(warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    groups = {"inductor kernels": 0.0, "oneDNN convolutions": 0.0, "matmuls": 0.0, "rest": 0.0}
    kernels = []
    for e in prof.key_averages():
        ms = e.self_cpu_time_total / 1000 / steps
        if e.key.startswith("graph_"):
            groups["inductor kernels"] += ms
            kernels.append((round(ms, 1), e.key))
        elif "convolution" in e.key:
            groups["oneDNN convolutions"] += ms
        elif e.key in ("aten::mm", "aten::addmm", "aten::bmm"):
            groups["matmuls"] += ms
        else:
            groups["rest"] += ms
    return {"ms_per_step": {k: round(v, 1) for k, v in groups.items()}, "total": round(sum(groups.values()), 1),
            "largest_inductor_kernels": sorted(kernels, reverse=True)[:5]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.inductor_kernels", description=__doc__.splitlines()[0])
    p.add_argument("--pool", nargs="+", choices=sorted(POOL_FORMS), default=["views", "reshape"],
                   help="AvgPool2x2 forms to profile, in turn (each in its own process: a fresh compile)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--worker", choices=sorted(POOL_FORMS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        from benchmarks import nets

        torch.set_num_threads(1)
        nets.RESHAPE_POOL_DEVICES = POOL_FORMS[args.worker]
        result = profile_step(args.steps)
        print(f"pool {args.worker}: {result['ms_per_step']} total {result['total']} ms a step")
        for ms, name in result["largest_inductor_kernels"]:
            print(f"  {ms:7.1f}  {name}")
        return 0
    for form in args.pool:
        subprocess.run([sys.executable, "-m", "benchmarks.perf.inductor_kernels", "--worker", form,
                        "--steps", str(args.steps)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
