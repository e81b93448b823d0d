"""Label distillation's meta-iteration against the official code's, on the same machine and thread count.

``python -m benchmarks.perf.bench_ld --ld-code PATH`` (or ``$DDBENCH_LD_CODE``) times, for N = 10, 100 and 500 base MNIST images (LeNet,
the official inner batch 10 / 50 / 50, outer batch 1,024, inner lr 0.01, Adam 1e-3 on the labels and the
learner), ``--epochs`` epochs of 49 meta-iterations (one pass over the 50,000 target images) of:

- ``official``: the official second-order ``train`` loop (``label_distillation_or2.py`` imported from PATH, a
  local copy of github.com/ondrejbohdal/label-distillation, never vendored) fed as its ``main`` feeds it:
  torchvision's MNIST (idx files written from ddbench's 50,000 training images, the first 10,000 twice so that
  the official 50,000 / 10,000 split applies) with ToTensor + Normalize, ``random_split``
  50,000 / 10,000, a shuffling DataLoader of 1,024;
- ``official_compute``: the same ``train`` on in-memory, normalised batches (its compute alone);
- ``official_compute_kept``: that again with ddbench's malloc setting (``benchmarks.allocator``), to show
  how much of the difference is the allocator and how much the meta-step;
- ``ddbench``: ``ld``'s meta-iteration (``LabelRun.step``, which indexes tensor-resident data), with the
  malloc setting the ``ddbench`` command makes.

Each runs in its own child process after 5 warm-up meta-iterations; CPU seconds of the process and wall;
``--n`` rounds, the order rotated. Validation and selection are left out of all (the official code validates
every 5 epochs, ddbench every ``select_every``). The report projects each side's time for the paper's budget:
400 epochs (800 at N = 500).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.perf.bench_files import write_bench

PY = sys.executable
SIZES = {10: 10, 100: 50, 500: 50}  # N base images -> the official inner batch
OUTER = 1024
BATCHES_PER_EPOCH = 49  # ceil(50,000 / 1,024): the official code's MNIST train split
PAPER_EPOCHS = {10: 400, 100: 400, 500: 800}
WARMUP = 5  # meta-iterations before the clock starts
SIDES = ("official", "official_compute", "official_compute_kept", "ddbench")


def _batches(data: Any, count: int, seed: int) -> list[tuple[Any, Any]]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    idx = [torch.randint(0, len(data.train_y), (OUTER,), generator=gen) for _ in range(count)]
    return [(data.normalize(data.train_x[i]), data.train_y[i]) for i in idx]


def idx_files(root: Path, stem: str, x: Any, y: Any) -> None:
    """Images in [0, 1] ([N, 1, 28, 28]) and labels as torchvision MNIST's raw idx files ``root/MNIST/raw/<stem>-*``."""
    import numpy as np
    import torch

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images = (x[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    (raw / f"{stem}-images-idx3-ubyte").write_bytes(np.array([2051, len(images), 28, 28], ">i4").tobytes() + images.tobytes())
    (raw / f"{stem}-labels-idx1-ubyte").write_bytes(np.array([2049, len(y)], ">i4").tobytes()
                                                   + y.numpy().astype(np.uint8).tobytes())


def write_idx(data: Any, root: Path) -> None:
    """ddbench's MNIST train split as the idx files torchvision's MNIST reads (``root/MNIST/raw``)."""
    import torch

    x, y = torch.cat([data.train_x, data.train_x[:10000]]), torch.cat([data.train_y, data.train_y[:10000]])
    idx_files(root, "train", x, y)  # 60,000, as the official split expects
    idx_files(root, "t10k", x[:10], y[:10])


def official_loader(root: Path) -> Any:
    """The official ``main``'s MNIST target loader: its transforms, split and batch size, torchvision's classes."""
    import torch
    import torchvision.datasets as datasets
    import torchvision.transforms as transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train_set, _ = torch.utils.data.random_split(datasets.MNIST(str(root), train=True, transform=tf, download=True),
                                                 [50000, 10000])
    return torch.utils.data.DataLoader(train_set, batch_size=OUTER, shuffle=True)


def official(code: str, n: int, epochs: int, loader_root: Path | None) -> dict[str, float]:
    """The official ``train``: 5 warm-up batches, then ``epochs`` epochs from its own DataLoader (``loader_root``)
    or from in-memory batches (None)."""
    import io
    from contextlib import redirect_stdout

    import torch

    from benchmarks.data import load_dataset

    sys.path.insert(0, code)
    import label_distillation_or2 as ld  # type: ignore[import-not-found]
    import model_architectures as arch  # type: ignore[import-not-found]

    data = load_dataset("mnist").for_distillation()
    ld.args = SimpleNamespace(target="mnist", num_base_examples=n, inner_batch_size=SIZES[n], inner_lr=0.01,
                              resnet=False, print_freq=10**9, verbose=False, epochs=1)
    ld.device = torch.device("cpu")
    arch.LeNetMeta.meta = True
    torch.manual_seed(0)
    fixed = data.normalize(data.train_x[:n])
    model = arch.LeNetMeta(ld.args)
    optimizer = torch.optim.Adam(model.parameters())
    labels = torch.full((n, 10), 0.1, requires_grad=True)
    labels_opt = torch.optim.Adam([labels])
    state: tuple[Any, ...] = ([], 0, 999999999, 0, [], 0)
    criterion = torch.nn.CrossEntropyLoss()

    def run(loader: list[tuple[Any, Any]]) -> None:
        nonlocal model, optimizer, labels, state
        with redirect_stdout(io.StringIO()):
            out = ld.train(loader, model, fixed, labels, criterion, labels_opt, 0, optimizer, *state)
        labels, state, model, optimizer = out[2], out[4:10], out[10], out[11]

    run(_batches(data, WARMUP, 1))
    if loader_root is not None:
        write_idx(data, loader_root)
        loader = official_loader(loader_root)
        return _timed(lambda: [run(loader) for _ in range(epochs)], epochs * BATCHES_PER_EPOCH)
    timed = _batches(data, BATCHES_PER_EPOCH, 2)
    return _timed(lambda: [run(timed) for _ in range(epochs)], epochs * BATCHES_PER_EPOCH)


def ld_run(n: int, iterations: int) -> Any:
    """``ld``'s run on N = ``n`` MNIST base images with the official settings, after WARMUP meta-iterations."""
    import torch

    from benchmarks.data import load_dataset
    from methods.label_distillation import LD_DEFAULTS, LDSettings, Learner, SecondOrder, start_run

    data = load_dataset("mnist").for_distillation()
    s = LDSettings(**{**LD_DEFAULTS, "inner_batch": SIZES[n], "outer_batch": OUTER, "label_lr": 1e-3})
    run = start_run(data, n // 10, WARMUP + iterations, 0, torch.device("cpu"), s,
                    lambda make: SecondOrder(Learner(make, 1e-3), 0.01))
    for _ in range(WARMUP):
        run.step()
    return run


def ddbench(n: int, epochs: int) -> dict[str, float]:
    """ddbench's ``ld`` meta-iteration (``LabelRun.step``) with the official settings."""
    iterations = epochs * BATCHES_PER_EPOCH
    run = ld_run(n, iterations)

    def loop() -> None:
        for _ in range(iterations):
            run.step()

    return _timed(loop, iterations)


def _timed(fn: Any, iterations: int) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_s_per_iteration": cpu / iterations, "wall_s_per_iteration": wall / iterations,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(side: str, args: argparse.Namespace, n: int) -> dict[str, float]:
    cmd = [PY, "-m", "benchmarks.perf.bench_ld", "--worker", side, "--sizes", str(n), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--ld-code", args.ld_code]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if r.returncode:
        raise SystemExit(f"the {side} worker failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(next(line[7:] for line in r.stdout.splitlines() if line.startswith("RESULT ")))


def _stats(xs: list[float], digits: int = 4) -> dict[str, float]:
    return {"mean": round(statistics.fmean(xs), digits), "std": round(statistics.stdev(xs), digits) if len(xs) > 1 else 0.0}


def measure(args: argparse.Namespace, n: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SIDES}
    for i in range(args.n):
        for side in SIDES[i % len(SIDES):] + SIDES[:i % len(SIDES)]:
            runs[side].append(child(side, args, n))
            print(f"N={n} round {i + 1}/{args.n} {side}: {runs[side][-1]['cpu_s_per_iteration']:.4f} CPU s/it",
                  file=sys.stderr, flush=True)
    paper_its = PAPER_EPOCHS[n] * BATCHES_PER_EPOCH
    out: dict[str, Any] = {"n_base": n, "inner_batch": SIZES[n], "rounds": args.n, "paper_iterations": paper_its}
    for side, rs in runs.items():
        cpu = [r["cpu_s_per_iteration"] for r in rs]
        out[side] = {"cpu_s_per_iteration": _stats(cpu),
                     "wall_s_per_iteration": _stats([r["wall_s_per_iteration"] for r in rs]),
                     "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs)),
                     "paper_budget_cpu_min": round(statistics.fmean(cpu) * paper_its / 60, 1)}
    d = out["ddbench"]["cpu_s_per_iteration"]["mean"]
    out["speedup_cpu"] = round(out["official"]["cpu_s_per_iteration"]["mean"] / d, 2)
    out["speedup_cpu_compute_only"] = round(out["official_compute"]["cpu_s_per_iteration"]["mean"] / d, 2)
    out["speedup_cpu_same_malloc"] = round(out["official_compute_kept"]["cpu_s_per_iteration"]["mean"] / d, 2)
    return out


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# Label distillation: the meta-iteration against the official code", "",
             f"Generated by `{doc['command']}`. Official code: {doc['reference']}. {doc['threads']} thread(s); per child "
             f"process 5 warm-up meta-iterations, then {doc['epochs']} epoch(s) of 49; rounds rotate the order; CPU "
             "seconds of each child process. *official*: its `train` fed by its own DataLoader (torchvision MNIST, "
             "ToTensor + Normalize); *official compute*: the same `train` on in-memory batches; *kept memory*: that with "
             "ddbench's malloc setting (`benchmarks/allocator.py`); *ddbench*: `ld`'s meta-iteration. Paper budget: 400 epochs of 49 outer batches of 1,024 (800 at N = 500), CPU minutes.", "",
             f"Machine: {doc['machine']}; torch {doc['torch']}; {doc['date']}, commit {doc['commit']}.", "",
             "| N | inner batch | rounds | official CPU s / it | official compute | official compute, kept memory | "
             "ddbench | speed-up (compute only; same malloc) | paper budget: official / ddbench | peak RSS MB "
             "(official / ddbench) |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(side: dict[str, Any]) -> str:
        c = side["cpu_s_per_iteration"]
        return f"{c['mean']:.4f} ± {c['std']:.4f}"

    for r in doc["results"]:
        o, c, k, d = r["official"], r["official_compute"], r["official_compute_kept"], r["ddbench"]
        lines.append(f"| {r['n_base']} | {r['inner_batch']} | {r['rounds']} | {cell(o)} | {cell(c)} | {cell(k)} | {cell(d)} | "
                     f"{r['speedup_cpu']:.2f}x ({r['speedup_cpu_compute_only']:.2f}x; {r['speedup_cpu_same_malloc']:.2f}x) | "
                     f"{o['paper_budget_cpu_min']} / "
                     f"{d['paper_budget_cpu_min']} min | {o['peak_rss_mb']} / {d['peak_rss_mb']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.perf.bench_ld", description=__doc__.splitlines()[0])
    p.add_argument("--ld-code", default=os.environ.get("DDBENCH_LD_CODE"),
                   help="a local copy of github.com/ondrejbohdal/label-distillation (default: $DDBENCH_LD_CODE)")
    p.add_argument("--sizes", default="10,100,500", help="comma-separated N (10, 100, 500)")
    p.add_argument("--n", type=int, default=3, help="rounds per size (default 3)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs of 49 meta-iterations per child (default 1)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="reports/bench/ld_meta_step.json")
    p.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    if any(n not in SIZES for n in sizes):
        p.error(f"--sizes takes {', '.join(map(str, SIZES))}")
    if not args.ld_code or not (Path(args.ld_code) / "label_distillation_or2.py").is_file():
        p.error(f"--ld-code {args.ld_code}: no label_distillation_or2.py there; give a copy of the official code")
    if args.worker:
        import torch

        from benchmarks.allocator import keep_freed_memory

        if args.worker in ("official_compute_kept", "ddbench"):
            keep_freed_memory()
        torch.set_num_threads(args.threads)
        n = sizes[0]
        if args.worker == "ddbench":
            res = ddbench(n, args.epochs)
        else:
            with tempfile.TemporaryDirectory(prefix="ddbench-ld-") as tmp:
                res = official(args.ld_code, n, args.epochs, Path(tmp) if args.worker == "official" else None)
        print("RESULT " + json.dumps(res), flush=True)
        return 0
    from benchmarks.cost import provenance, resolve_device

    prov = provenance(resolve_device("cpu"))
    commit = (Path(args.ld_code) / "COMMIT")
    doc = {"command": "python -m benchmarks.perf.bench_ld " + " ".join(argv if argv is not None else sys.argv[1:]),
           "reference": "label-distillation " + (commit.read_text().strip()[:7] if commit.is_file() else "(commit unknown)"),
           "threads": args.threads, "epochs": args.epochs,
           "machine": prov.get("cpu") or prov.get("device"), "torch": prov.get("torch"), "commit": prov.get("commit"),
           "date": time.strftime("%Y-%m-%d"), "results": [measure(args, n) for n in sizes]}
    print(write_bench(doc, args.out, markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
