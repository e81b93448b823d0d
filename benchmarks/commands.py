"""The harness's commands: list, distill, evaluate, run, teacher, download, migrate."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from benchmarks.commandline import (
    COMMANDS,
    add_config_flags,
    command,
    common_flags,
    config_from_args,
    finite,
    parse_pairs,
)
from benchmarks.errors import UserError
from benchmarks.spec import EvalConfig

WIDTH = 100  # `ddbench list` fits this many columns unless --long


def _lists() -> dict[str, Any]:
    """Each listable kind -> a function giving (headers, short rows, long rows)."""
    from benchmarks.augment import AUGMENTATIONS
    from benchmarks.data import DATASETS
    from benchmarks.losses import LOSSES
    from benchmarks.methods import METHODS
    from benchmarks.models import ZOO
    from benchmarks.optim import OPTIMIZERS, SCHEDULES
    from benchmarks.protocols import PROTOCOLS
    from benchmarks.registry import origin
    from benchmarks.robustness.attacks import ATTACKS
    from benchmarks.robustness.corruptions import FAMILIES

    def corruptions() -> list[list[Any]]:
        return [[f"{fam}/{n}", "default" if n in family.default_corruptions else "on request",
                 ", ".join(map(str, c.default_severities)), c.max_severity, c.description]
                for fam, family in FAMILIES.items() for n, c in family.corruptions.items()]

    def suites() -> list[list[Any]]:
        from benchmarks.suite import load_suite, packaged_suites

        return [[n, len(load_suite(n).cells()), load_suite(n).description] for n in sorted(packaged_suites())]

    return {
        "datasets": (["dataset", "val split", "description"],
                     lambda: [[n, i.val_split, i.description] for n, i in DATASETS.items()], None),
        "methods": (["method", "labels", "description"],
                    lambda: [[n, e.label_kind, e.description] for n, e in METHODS.items()],
                    (["parameters", "defined in"],
                     lambda: [[json.dumps(e.params, sort_keys=True), origin(e.fn)] for _, e in METHODS.items()])),
        "models": (["model", "timm name", "description"],
                   lambda: [[n, e.timm_name, e.description] for n, e in ZOO.items()], None),
        "optimizers": (["optimizer", "default lr", "description"],
                       lambda: [[n, e.lr, e.description] for n, e in OPTIMIZERS.items()],
                       (["timm name", "fixed args"],
                        lambda: [[e.timm_name, json.dumps(e.kwargs)] for _, e in OPTIMIZERS.items()])),
        "losses": (["loss", "description"], lambda: [[n, e.description] for n, e in LOSSES.items()],
                   (["parameters"], lambda: [[json.dumps(e.params)] for _, e in LOSSES.items()])),
        "augmentations": (["augmentation", "description"],
                          lambda: [[n, e.description] for n, e in AUGMENTATIONS.items()], None),
        "schedules": (["schedule", "description"], lambda: [[n, e.description] for n, e in SCHEDULES.items()], None),
        "protocols": (["protocol", "augmentation", "epochs (the loop runs +1)", "paper"],
                      lambda: [[n, p.augment + ("" if p.augment_datasets is None else f" on {','.join(p.augment_datasets)}"),
                                f"{p.epochs_plain} / {p.epochs_augmented} augmented", p.paper]
                               for n, p in PROTOCOLS.items()],
                      (["lr", "batch", "schedule", "repeats", "code"],
                       lambda: [["learned" if p.lr is None else p.lr, p.batch_size, p.schedule,
                                 f"{p.distilled_sets} sets x {p.models_per_set} models", p.code]
                                for _, p in PROTOCOLS.items()])),
        "attacks": (["attack", "description"], lambda: [[n, e.description] for n, e in ATTACKS.items()], None),
        "corruptions": (["family/corruption", "in the panel", "default severities", "max severity", "description"],
                        corruptions, None),
        "suites": (["suite", "cells", "description"], suites, None),
    }


LISTS = ("datasets", "methods", "models", "optimizers", "losses", "augmentations", "schedules", "protocols", "attacks",
         "corruptions", "suites")


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="show what is registered (without a kind: the kinds)")
    p.add_argument("what", nargs="?", choices=LISTS)
    p.add_argument("--long", action="store_true", help="every column, not cut to fit the terminal")


@command("list", _add_list)
def cmd_list(args: argparse.Namespace) -> None:
    from tabulate import tabulate

    if args.what is None:
        print("ddbench list KIND, where KIND is one of: " + ", ".join(LISTS))
        return
    headers, rows_fn, extra = _lists()[args.what]
    rows = rows_fn()
    if args.long and extra:
        headers = headers + extra[0]
        rows = [r + x for r, x in zip(rows, extra[1](), strict=True)]
    table = tabulate(rows, headers=headers, tablefmt="simple")
    if not args.long:  # the last column (a description) is cut so the table fits WIDTH columns
        rule = tabulate([r[:-1] + ["x"] for r in rows], headers=headers[:-1] + ["x"], tablefmt="simple").splitlines()[1]
        lead = rule.rfind("  ") + 2  # where the last column starts (tabulate pads every column)
        room = max(20, WIDTH - lead)
        table = tabulate([r[:-1] + [textwrap.shorten(str(r[-1]), room, placeholder="...")] for r in rows],
                         headers=headers, tablefmt="simple")
    print(table)
    if args.what == "models":
        print("\nAny other timm model name works too (with a small stem where ddbench knows the family).")


def _add_distill(sub: Any) -> None:
    d = sub.add_parser("distill", help="distil a dataset with a method and save the artifact")
    d.add_argument("method")
    d.add_argument("--dataset", "--target-dataset", dest="dataset", default="digits",
                   help="the dataset whose classes are distilled (and evaluated)")
    d.add_argument("--base-dataset", default=None, help="label distillation: take the base images from this dataset")
    d.add_argument("--ipc", type=int, default=10, help="images (base examples) per class")
    d.add_argument("--iterations", type=int, default=None, help="distillation compute budget, where the method has one")
    d.add_argument("--seconds", type=finite, default=None,
                   help="cap the distillation loop's wall time (iterative methods; the record keeps iterations_run)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--param", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    d.add_argument("--out", default="artifacts", help="directory for <hash>.safetensors + <hash>.json")
    common_flags(d)
    d.set_defaults(interrupt_hint="no artifact was written; the same command resumes an iterative method from its "
                                  "last save")


@command("distill", _add_distill)
def cmd_distill(args: argparse.Namespace) -> None:
    from benchmarks import checkpoint
    from benchmarks.cost import resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.methods import Budget, resolve_params, run_method
    from benchmarks.spec import distill_config, stable_hash

    device = resolve_device(args.device)
    params = parse_pairs(args.param, "--param")
    if args.base_dataset:
        params["base_dataset"] = args.base_dataset
    resolve_params(args.method, params)  # bad parameters are refused before the dataset loads (and caches its split)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UserError(f"--out {args.out} is a file, not a directory")
    data = load_dataset(args.dataset, args.data_root)
    # the same checkpoint folder a suite cell of this artifact uses: an interrupted run resumes from either
    key = stable_hash(distill_config(args.dataset, args.method, params, args.ipc, args.iterations, args.seconds,
                                     args.seed))
    with checkpoint.resumable(checkpoint.folder_for(key)):
        ds = run_method(args.method, data, Budget(args.ipc, args.iterations, args.seconds), args.seed, device, params)
    try:
        path = ds.save(args.out)
    except OSError as e:
        raise UserError(f"cannot write the artifact to --out {args.out}: {e.strerror or e}") from None
    print(f"{path}  ({len(ds.images)} images, {ds.label_kind} labels, {ds.meta['cost']['wall_s']:.1f}s)")


def _add_evaluate(sub: Any) -> None:
    e = sub.add_parser("evaluate", help="train a fresh model on an artifact and test it")
    e.add_argument("artifact", help="path of an artifact's .json or .safetensors")
    e.add_argument("--dataset", default=None, help="default: the artifact's dataset")
    e.add_argument("--loss-param", action="append", metavar="KEY=VALUE", help="loss parameter (repeatable)")
    add_config_flags(e, EvalConfig, skip=("robustness",))
    e.add_argument("--robustness", action="store_const", const={}, default=None,
                   help="also measure the dataset family's robustness panel (corruptions, FGSM, PGD)")
    common_flags(e)
    e.set_defaults(interrupt_hint="nothing was stored")


@command("evaluate", _add_evaluate)
def cmd_evaluate(args: argparse.Namespace) -> None:
    from benchmarks.artifact import load_artifact
    from benchmarks.cost import provenance, resolve_device
    from benchmarks.data import load_dataset
    from benchmarks.evaluator import evaluate
    from benchmarks.protocols import expand

    device = resolve_device(args.device)
    ds = load_artifact(args.artifact)
    dataset = args.dataset or ds.meta.get("dataset")
    if not dataset:
        raise UserError("the artifact names no dataset: pass --dataset")
    loss: Any = {"name": args.loss, **parse_pairs(args.loss_param, "--loss-param")}
    cfg = config_from_args(EvalConfig, args, loss=loss)
    cfg.check()
    cfg = expand(cfg, dataset)  # --protocol dc: the paper's recipe, under the flags given explicitly
    result = evaluate(ds, load_dataset(dataset, args.data_root), cfg, device)
    out = {"config": cfg.resolved(), "artifact": ds.content_hash(), "dataset": dataset, **result,
           "provenance": provenance(device)}
    print(json.dumps(out, indent=1, sort_keys=True))


def _add_run(sub: Any) -> None:
    r = sub.add_parser("run", help="run a suite (what is stored is skipped), then write its report")
    r.add_argument("suite", help="a packaged suite name (see `ddbench list suites`) or a TOML path")
    r.add_argument("--records-dir", default=None, help="default: reports/<suite>/records")
    r.add_argument("--report-dir", default=None, help="default: reports/<suite>")
    r.add_argument("--limit", type=int, default=None, help="run at most this many missing cells")
    r.add_argument("--retry-errors", action="store_true", help="run cells stored with status error again")
    r.add_argument("--shard", default=None, metavar="K/N",
                   help="run only the K-th of N shares of the artifacts (0-based), to use N processes or machines")
    r.add_argument("--methods", default=None, type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
                   metavar="M1,M2", help="run only these methods' cells (each must be one of the suite's)")
    r.add_argument("--models", default=None, type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
                   metavar="A1,A2", help="run only these architectures' cells (each must be one of the suite's): "
                                         "e.g. a GPU for the heavy columns while CPUs take the rest")
    r.add_argument("--cached-only", action="store_true",
                   help="evaluate only cells whose artifact is already cached (leave distillation to another run)")
    r.add_argument("--no-report", action="store_true")
    r.add_argument("--no-progress", action="store_true", help="the same as --quiet")
    r.add_argument("--dry-run", action="store_true",
                   help="run nothing: list the cells this run would compute by architecture and method, with their "
                        "time estimated from the stored records' costs")
    x = r.add_argument_group("executor", "where the cells run (records are written by this process only)")
    x.add_argument("--executor", default="inprocess", choices=("inprocess", "local", "ray"),
                   help="inprocess (default); local: a pool of worker processes on this machine (faster for small "
                        "models on an idle CPU); ray: one Ray task per artifact and per evaluation group")
    x.add_argument("--workers", type=int, default=0,
                   help="local: worker processes (default 0: one per usable core)")
    x.add_argument("--threads-per-worker", type=int, default=0,
                   help="local: torch threads per worker (default 0: the usable cores divided among the workers)")
    x.add_argument("--address", default=None,
                   help="ray: an existing cluster (auto or HOST:PORT); default: a local Ray bound to 127.0.0.1")
    x.add_argument("--num-cpus", type=finite, default=1.0, help="ray: CPUs per task (torch threads) (default: 1)")
    x.add_argument("--num-gpus", type=finite, default=0.0, help="ray: GPUs per task (default: 0)")
    x.add_argument("--max-retries", type=int, default=3, help="ray: retries of a task whose worker died (default: 3)")
    x.add_argument("--shared-cache", default=None, metavar="DIR",
                   help="ray: a folder every node sees; artifacts go there instead of through the object store")
    common_flags(r)
    r.set_defaults(interrupt_hint="stored records are kept; run the same command again to resume")


def _dry_run(suite: Any, records: Path, args: argparse.Namespace, shard: tuple[int, int] | None) -> str:
    """``run --dry-run``: the plan the same flags would run, with its time estimated (``benchmarks.outlook``)."""
    from benchmarks.driver import plan
    from benchmarks.outlook import estimate, render
    from benchmarks.runner import is_cached
    from benchmarks.store import Store

    store = Store(records)
    p = plan(suite, store, args.retry_errors, args.limit, shard, args.cached_only, args.methods, args.models)
    todo = [c for g in p.groups for c in g]
    tunes = any(c.eval.lr_per_architecture for c in todo)
    return render(suite.name, len(p.cells), p.stored, p.not_selected, estimate(todo, store.records(), is_cached), tunes)


def suite_dirs(suite_name: str, records_dir: str | None, report_dir: str | None) -> tuple[Path, Path]:
    """Where a suite's records and report live: reports/<name>/records and reports/<name> by default."""
    from benchmarks.paths import reports_dir
    from benchmarks.validate import safe_name

    report = Path(report_dir) if report_dir else reports_dir() / safe_name(suite_name, "suite name")
    records = Path(records_dir) if records_dir else report / "records"
    return records, report


@command("run", _add_run)
def cmd_run(args: argparse.Namespace) -> None:
    from benchmarks.cost import resolve_device
    from benchmarks.driver import run_suite
    from benchmarks.executors import make_executor
    from benchmarks.suite import load_suite

    remote = args.executor == "ray" and args.address is not None
    device = args.device if remote else str(resolve_device(args.device))  # a remote cluster's workers resolve it
    shard = parse_shard(args.shard)
    suite = load_suite(args.suite)
    records, report = suite_dirs(suite.name, args.records_dir, args.report_dir)
    options = {"address": args.address, "num_cpus": args.num_cpus, "num_gpus": args.num_gpus,
               "max_retries": args.max_retries, "shared_cache": args.shared_cache} if args.executor == "ray" else {}
    if args.executor == "local":
        options = {"workers": args.workers, "threads": args.threads_per_worker}
    if args.dry_run:
        print(_dry_run(suite, records, args, shard))
        return
    counts = run_suite(suite, records, device, args.data_root, limit=args.limit, retry_errors=args.retry_errors,
                       progress=not (args.no_progress or args.quiet), shard=shard, cached_only=args.cached_only,
                       executor=make_executor(args.executor, **options), methods=args.methods,
                       models=args.models)
    left = f", {counts['not_selected']} left for another run" if counts["not_selected"] else ""
    left += f", {counts['other']} stored by a concurrent run" if counts["other"] else ""
    print(f"{suite.name}: {counts['cells']} cells, {counts['stored']} already stored, "
          f"{counts['ok']} ran ok, {counts['error']} failed{left}; records in {records}")
    if not args.no_report and "report" in COMMANDS:
        COMMANDS.get("report").run(argparse.Namespace(suite=args.suite, records_dir=str(records),
                                                      report_dir=str(report), check=None))


def _add_teacher(sub: Any) -> None:
    from benchmarks.teachers import TeacherConfig

    t = sub.add_parser("teacher", help="train (or find cached) and list teacher models")
    tsub = t.add_subparsers(dest="action", required=True, parser_class=type(t))
    tt = tsub.add_parser("train", help="train a teacher on a dataset's train split, or reuse the cached one")
    add_config_flags(tt, TeacherConfig)
    common_flags(tt)
    tsub.add_parser("list", help="show cached teachers with their validation accuracy")


@command("teacher", _add_teacher)
def cmd_teacher(args: argparse.Namespace) -> None:
    from tabulate import tabulate

    from benchmarks.cost import resolve_device
    from benchmarks.teachers import TeacherConfig, get_teacher, list_teachers

    if args.action == "train":
        from benchmarks.data import DATASETS
        from benchmarks.models import ZOO

        cfg = config_from_args(TeacherConfig, args)
        cfg.check()
        DATASETS.get(cfg.dataset)
        ZOO.get(cfg.model)
        teacher = get_teacher(cfg, resolve_device(args.device), args.data_root)
        print(json.dumps(teacher.record, indent=1, sort_keys=True))
        return
    rows = [[r["key"], r["dataset"], r["config"]["model"], r["config"]["epochs"], r["config"]["seed"], r["val_acc"],
             r["train_s"]] for r in list_teachers()]
    print(tabulate(rows, headers=["key", "dataset", "model", "epochs", "seed", "val acc", "train s"], tablefmt="github")
          if rows else "no cached teachers")


def _add_download(sub: Any) -> None:
    dl = sub.add_parser("download", help="fetch a torchvision dataset into --data-root (needs the network)")
    dl.add_argument("dataset")
    dl.add_argument("--data-root", default=None)


@command("download", _add_download)
def cmd_download(args: argparse.Namespace) -> None:
    from benchmarks.data import download

    data = download(args.dataset, args.data_root)
    print(f"{args.dataset}: {data.info['n_train']} train, {data.info['n_val']} val, {data.info['n_test']} test")


def _add_migrate(sub: Any) -> None:
    m = sub.add_parser("migrate", help="bring stored records to the current schema in place (re-key; nothing re-runs)")
    m.add_argument("suites", nargs="*", help="suite names (default: every suite with records under the reports folder)")


@command("migrate", _add_migrate)
def cmd_migrate(args: argparse.Namespace) -> None:
    from benchmarks.migrate import migrate_suites

    for line in migrate_suites(args.suites):
        print(line)


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


def _register_interop() -> None:
    from benchmarks.commandline import Command
    from benchmarks.interop import cli as interop_cli

    COMMANDS.register("import", Command(interop_cli.add_import, interop_cli.run))
    COMMANDS.register("export", Command(interop_cli.add_export, interop_cli.run))


_register_interop()
