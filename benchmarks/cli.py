"""``ddbench``: list, distill, evaluate, run, report, download.

User mistakes end with one line on stderr (``ddbench: error: ...``) and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from benchmarks.errors import UserError

LISTS = ("datasets", "methods", "models", "optimizers", "losses", "augmentations", "schedules", "suites")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"ddbench: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(2)


def parse_value(text: str) -> Any:
    """JSON for numbers, booleans, lists; otherwise the plain string (never evaluated as code)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs or []:
        if "=" not in p:
            raise UserError(f"{what} {p!r} must look like key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = parse_value(v)
    return out


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")
    p.add_argument("--data-root", default=None, help="torchvision-layout datasets (default $DDBENCH_DATA)")


def build_parser() -> Parser:
    p = Parser(prog="ddbench", description="Dataset-distillation benchmark suite with labels at its centre.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)

    ls = sub.add_parser("list", help="show what is registered")
    ls.add_argument("what", choices=LISTS)

    d = sub.add_parser("distill", help="distil a dataset with a method and save the artifact")
    d.add_argument("method")
    d.add_argument("--dataset", "--target-dataset", dest="dataset", default="digits",
                   help="the dataset whose classes are distilled (and evaluated)")
    d.add_argument("--base-dataset", default=None,
                   help="label distillation: take the base images from this dataset instead")
    d.add_argument("--ipc", type=int, default=10, help="images (base examples) per class")
    d.add_argument("--iterations", type=int, default=None, help="distillation compute budget, where the method has one")
    d.add_argument("--seconds", type=float, default=None,
                   help="cap the distillation loop's wall time (iterative methods; the record keeps iterations_run)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--param", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    d.add_argument("--out", default="artifacts", help="directory for <hash>.safetensors + <hash>.json")
    _common(d)

    e = sub.add_parser("evaluate", help="train a fresh model on an artifact and test it")
    e.add_argument("artifact", help="path of an artifact's .json or .safetensors")
    e.add_argument("--dataset", default=None, help="default: the artifact's dataset")
    e.add_argument("--model", default="convnet3")
    e.add_argument("--optimizer", default="momentum")
    e.add_argument("--lr", type=float, default=None)
    e.add_argument("--lr-grid", type=float, nargs="*", default=[], help="lr multipliers chosen on validation")
    e.add_argument("--weight-decay", type=float, default=5e-4)
    e.add_argument("--schedule", default="cosine")
    e.add_argument("--loss", default="ce")
    e.add_argument("--loss-param", action="append", metavar="KEY=VALUE")
    e.add_argument("--augment", default="none")
    e.add_argument("--steps", type=int, default=300)
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--precision", default="fp32")
    e.add_argument("--seed", type=int, default=0)
    _common(e)

    r = sub.add_parser("run", help="run a suite (what is stored is skipped), then write its report")
    r.add_argument("suite", help="a packaged suite name (see `ddbench list suites`) or a TOML path")
    r.add_argument("--records-dir", default=None, help="default: reports/<suite>/records")
    r.add_argument("--report-dir", default=None, help="default: reports/<suite>")
    r.add_argument("--limit", type=int, default=None, help="run at most this many missing cells")
    r.add_argument("--retry-errors", action="store_true", help="run cells stored with status error again")
    r.add_argument("--shard", default=None, metavar="K/N",
                   help="run only the K-th of N shares of the artifacts (0-based), to use N processes or machines")
    r.add_argument("--cached-only", action="store_true",
                   help="evaluate only cells whose artifact is already cached (leave distillation to another run)")
    r.add_argument("--no-report", action="store_true")
    r.add_argument("--no-progress", action="store_true")
    _common(r)

    rep = sub.add_parser("report", help="write a suite's leaderboard, CSV and figures from its records")
    rep.add_argument("suite")
    rep.add_argument("--records-dir", default=None)
    rep.add_argument("--report-dir", default=None)

    t = sub.add_parser("teacher", help="train (or find cached) and list teacher models")
    tsub = t.add_subparsers(dest="action", required=True, parser_class=Parser)
    tt = tsub.add_parser("train", help="train a teacher on a dataset's train split, or reuse the cached one")
    tt.add_argument("--dataset", default="digits")
    tt.add_argument("--model", default="convnet3")
    tt.add_argument("--epochs", type=int, default=2, help="fewer epochs = an early-stopped expert")
    tt.add_argument("--seed", type=int, default=0)
    _common(tt)
    tsub.add_parser("list", help="show cached teachers with their validation accuracy")

    dl = sub.add_parser("download", help="fetch a torchvision dataset into --data-root (needs the network)")
    dl.add_argument("dataset")
    dl.add_argument("--data-root", default=None)
    return p


def cmd_list(args: argparse.Namespace) -> None:
    from tabulate import tabulate

    rows: list[list[Any]]
    if args.what == "datasets":
        from benchmarks.data import DATASETS

        rows = [[n, i.description, i.val_size] for n, i in DATASETS.items()]
        headers = ["dataset", "description", "val size"]
    elif args.what == "methods":
        from benchmarks.methods import METHODS

        rows = [[n, e.label_kind, json.dumps(e.params, sort_keys=True), e.description] for n, e in METHODS.items()]
        headers = ["method", "labels", "parameters", "description"]
    elif args.what == "models":
        from benchmarks.models import ZOO

        rows = [[n, e.timm_name, e.description] for n, e in ZOO.items()]
        headers = ["model", "timm name", "description"]
    elif args.what == "optimizers":
        from benchmarks.optim import OPTIMIZERS

        rows = [[n, e.timm_name, e.lr, json.dumps(e.kwargs), e.description] for n, e in OPTIMIZERS.items()]
        headers = ["optimizer", "timm name", "default lr", "fixed args", "description"]
    elif args.what == "losses":
        from benchmarks.losses import LOSSES

        rows = [[n, json.dumps(e.params), e.description] for n, e in LOSSES.items()]
        headers = ["loss", "parameters", "description"]
    elif args.what == "augmentations":
        from benchmarks.augment import AUGMENTATIONS

        rows = [[n, e.description] for n, e in AUGMENTATIONS.items()]
        headers = ["augmentation", "description"]
    elif args.what == "schedules":
        from benchmarks.optim import SCHEDULES

        rows = [[n, e.description] for n, e in SCHEDULES.items()]
        headers = ["schedule", "description"]
    else:
        from benchmarks.suite import load_suite, packaged_suites

        rows = []
        for n in sorted(packaged_suites()):
            s = load_suite(n)
            rows.append([n, len(s.cells()), s.description])
        headers = ["suite", "cells", "description"]
    print(tabulate(rows, headers=headers, tablefmt="simple"))
    if args.what == "models":
        print("\nAny other timm model name works too (with a small stem where ddbench knows the family).")


def cmd_distill(args: argparse.Namespace) -> None:
    from benchmarks.cost import resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.methods import Budget, run_method

    data = load_dataset(args.dataset, args.data_root)
    params = parse_pairs(args.param, "--param")
    if args.base_dataset:
        params["base_dataset"] = args.base_dataset
    ds = run_method(args.method, data, Budget(args.ipc, args.iterations, args.seconds), args.seed, resolve_device(args.device),
                    params)
    path = ds.save(args.out)
    print(f"{path}  ({len(ds.images)} images, {ds.label_kind} labels, {ds.meta['cost']['wall_s']:.1f}s)")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from benchmarks.artifact import load_artifact
    from benchmarks.cost import provenance, resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.evaluator import EvalConfig, evaluate

    ds = load_artifact(args.artifact)
    dataset = args.dataset or ds.meta.get("dataset")
    if not dataset:
        raise UserError("the artifact names no dataset: pass --dataset")
    loss: Any = {"name": args.loss, **parse_pairs(args.loss_param, "--loss-param")}
    cfg = EvalConfig(model=args.model, optimizer=args.optimizer, lr=args.lr, lr_grid=tuple(args.lr_grid),
                     weight_decay=args.weight_decay, schedule=args.schedule, loss=loss, augment=args.augment,
                     steps=args.steps, batch_size=args.batch_size, seed=args.seed, precision=args.precision)
    device = resolve_device(args.device)
    result = evaluate(ds, load_dataset(dataset, args.data_root), cfg, device)
    out = {"config": cfg.resolved(), "artifact": ds.content_hash(), "dataset": dataset, **result,
           "provenance": provenance(device)}
    print(json.dumps(out, indent=1, sort_keys=True))


def _dirs(args: argparse.Namespace, suite_name: str) -> tuple[Path, Path]:
    from benchmarks.paths import reports_dir

    report = Path(args.report_dir) if args.report_dir else reports_dir() / suite_name
    records = Path(args.records_dir) if args.records_dir else report / "records"
    return records, report


def cmd_run(args: argparse.Namespace) -> None:
    from benchmarks.cost import resolve_device
    from benchmarks.runner import run_suite
    from benchmarks.suite import load_suite

    suite = load_suite(args.suite)
    records, report = _dirs(args, suite.name)
    counts = run_suite(suite, records, resolve_device(args.device), args.data_root, limit=args.limit,
                       retry_errors=args.retry_errors, progress=not args.no_progress, shard=parse_shard(args.shard),
                       cached_only=args.cached_only)
    print(f"{suite.name}: {counts['cells']} cells, {counts['skipped']} already stored, "
          f"{counts['ok']} ran ok, {counts['error']} failed; records in {records}")
    if not args.no_report:
        _report(suite.name, records, report, suite)


def _report(name: str, records: Path, report: Path, suite: Any = None) -> None:
    from reports.generate import write_report

    if not records.is_dir():
        raise UserError(f"no records for suite {name!r} at {records}: run `ddbench run {name}` first")
    cells = None if suite is None else [c.config for c in suite.cells()]
    for p in write_report(name, records, report, cells, None if suite is None else suite.published):
        print(f"wrote {p}")


def cmd_report(args: argparse.Namespace) -> None:
    from benchmarks.suite import packaged_suites

    name = Path(args.suite).stem if args.suite.endswith(".toml") else args.suite
    records, report = _dirs(args, name)
    if not records.is_dir() and name not in packaged_suites():
        from benchmarks.errors import suggest

        raise UserError(f"no records for suite {name!r} at {records}{suggest(name, packaged_suites())}")
    from benchmarks.suite import load_suite

    known = args.suite in packaged_suites() or Path(args.suite).is_file()
    _report(name, records, report, load_suite(args.suite) if known else None)


def cmd_teacher(args: argparse.Namespace) -> None:
    from tabulate import tabulate

    from benchmarks.cost import resolve_device
    from benchmarks.teachers import TeacherConfig, get_teacher, list_teachers

    if args.action == "train":
        from benchmarks.data import DATASETS
        from benchmarks.models import ZOO

        DATASETS.get(args.dataset)
        ZOO.get(args.model)
        teacher = get_teacher(TeacherConfig(args.dataset, args.model, args.seed, args.epochs),
                              resolve_device(args.device), args.data_root)
        print(json.dumps(teacher.record, indent=1, sort_keys=True))
        return
    rows = [[r["key"], r["dataset"], r["config"]["model"], r["config"]["epochs"], r["config"]["seed"], r["val_acc"],
             r["train_s"]] for r in list_teachers()]
    print(tabulate(rows, headers=["key", "dataset", "model", "epochs", "seed", "val acc", "train s"], tablefmt="github")
          if rows else "no cached teachers")


def cmd_download(args: argparse.Namespace) -> None:
    from benchmarks.data import download

    data = download(args.dataset, args.data_root)
    print(f"{args.dataset}: {data.info['n_train']} train, {data.info['n_val']} val, {data.info['n_test']} test")


COMMANDS = {"list": cmd_list, "distill": cmd_distill, "evaluate": cmd_evaluate, "run": cmd_run, "teacher": cmd_teacher,
            "report": cmd_report, "download": cmd_download}


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"1/3"`` -> (1, 3); a malformed or out-of-range shard is a user error."""
    if text is None:
        return None
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--shard takes K/N, e.g. 0/2 and 1/2 for two processes; got {text!r}") from None
    if not 0 <= k < n:
        raise UserError(f"--shard {text}: K must be in 0..N-1")
    return k, n


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.cmd](args)
    except UserError as e:
        sys.stderr.write(f"ddbench: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("ddbench: interrupted; stored records are kept, run the same command again to resume\n")
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
