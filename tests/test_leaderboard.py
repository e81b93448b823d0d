"""The cross-suite leaderboard: statistics, label regimes, published numbers, stale records, escaping, determinism."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest
from site_records import fake_record, write_records

from benchmarks.errors import UserError
from benchmarks.spec import cell_key
from reports.leaderboard import label_regime, load_suite_data, suite_rows, t_interval
from reports.leaderboard_cli import add_parser, build_leaderboard, run

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("method", "kind", "regime"), [
    ("random", "hard", "hard"), ("soft_random", "soft", "static soft"), ("rded", "online", "online soft"),
    ("ld", "soft", "learned"), ("ld_rr", "soft", "learned"), ("ld_warm", "soft", "learned"),
    ("base_smooth", "soft", "static soft"), ("ldx", "hard", "hard"), ("dm", None, "unknown"),
])
def test_label_regime_rule(method, kind, regime):
    assert label_regime(method, kind) == regime


def test_t_interval():
    low, high = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.302653
    assert low == pytest.approx(2 - 4.302653 / 3**0.5, abs=1e-5) and high == pytest.approx(2 + 4.302653 / 3**0.5, abs=1e-5)
    assert t_interval([5.0]) is None


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    records = [fake_record("alpha", "random", acc, seed=s) for s, acc in enumerate([80.0, 82.0, 84.0])]
    records += [fake_record("alpha", "ld", 90.0, label_kind="soft", label_bytes=400),
                fake_record("alpha", "ld", None, seed=1),
                fake_record("beta", "rded", 70.0, label_kind="online", ipc=10, robustness={"flip_acc": 55.5, "note": "x"}),
                fake_record("beta", "<img src=x onerror=alert(1)>", 10.0, ipc=10)]
    write_records(tmp_path / "reports", records)
    return tmp_path / "reports"


def _build(root: Path) -> tuple[str, str]:
    md, index = build_leaderboard(root, None, root / "LEADERBOARD.md", root / "site")
    return md.read_text(), index.read_text()


def _table(md: str, title: str) -> list[list[str]]:
    block = md.split(f"## {title}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [[c.strip() for c in line.strip("|").split("|")] for line in block]


def test_rows_statistics_and_order(root):
    md, _ = _build(root)
    table = _table(md, "digits, ipc 1")
    head, rows = table[0], table[2:]
    assert [r[head.index("method")] for r in rows] == ["ld", "random"]  # best first
    ld, rnd = (dict(zip(head, r, strict=True)) for r in rows)
    assert (rnd["test acc (%)"], rnd["std"], rnd["n"], rnd["95% CI"]) == ("82.00", "2.00", "3", "[77.03, 86.97]")
    assert (rnd["label regime"], rnd["distill (s)"], rnd["eval (s)"], rnd["label storage"]) == ("hard", "1.5", "2.5", "80 B")
    assert (ld["label regime"], ld["n"], ld["95% CI"], ld["failed"], ld["label storage"]) == ("learned", "1", "-", "1", "400 B")
    assert "robustness: flip_acc" not in head  # no record of this table has robustness


def test_robustness_columns_only_where_present(root):
    md, html = _build(root)
    table = _table(md, "digits, ipc 10")
    head = table[0]
    assert "robustness: flip_acc" in head and "robustness: note" not in head  # numeric keys only
    rded = next(dict(zip(head, r, strict=True)) for r in table[2:] if r[head.index("method")] == "rded")
    assert rded["robustness: flip_acc"] == "55.50" and rded["label regime"] == "online soft"
    assert html.count("robustness: flip_acc") == 1


def test_html_escapes_text_and_output_is_deterministic(root):
    md1, html1 = _build(root)
    md2, html2 = _build(root)
    assert (md1, html1) == (md2, html2)
    assert "<img src=x onerror" not in html1 and "&lt;img src=x onerror=alert(1)&gt;" in html1
    assert "Content-Security-Policy" in html1 and "http://" not in html1 and "https://" not in html1


def test_published_numbers_and_provenance_from_a_committed_suite(tmp_path):
    md, html = (p.read_text() for p in build_leaderboard(REPO / "reports", ["ld-paper-mnist"], tmp_path / "L.md",
                                                         tmp_path / "site"))
    table = _table(md, "mnist, ipc 10")
    head = table[0]
    ld = next(dict(zip(head, r, strict=True)) for r in table[2:] if r[head.index("method")] == "ld")
    assert (ld["published"], ld["source"], ld["n"]) == ("87.3 ± 0.7", "LD", "20")
    committed = (REPO / "reports" / "ld-paper-mnist" / "leaderboard.md").read_text()
    digest = committed.split("record-set hash `", 1)[1][:16]
    assert f"`{digest}`" in md and digest in html  # the same hash the suite's own report prints
    assert "Bohdal" in md
    targets = re.findall(r"\]\(([^)]+)\)", md)
    assert any(t.endswith("ld-paper-mnist/leaderboard.md") for t in targets)
    assert all((tmp_path / t).resolve().is_file() for t in targets)  # relative links that work from the file system


def test_stale_records_are_left_out(tmp_path):
    src = REPO / "reports" / "ld-cross-mnist" / "records"
    dst = tmp_path / "ld-cross-mnist" / "records"
    shutil.copytree(src, dst)
    old = json.loads(next(iter(sorted(dst.glob("*.json")))).read_text())
    old["config"]["eval"]["steps"] = 7  # a cell the suite does not define
    old["key"] = cell_key(old["config"])  # a valid record of a cell the suite does not define
    (dst / f"{old['key']}.json").write_text(json.dumps(old))
    data = load_suite_data("ld-cross-mnist", tmp_path)
    assert data.stale == 1 and len(data.records) == len(list(src.glob("*.json")))
    assert sum(r.n for r in suite_rows(data)) == len(data.records)


def test_protocol_presets_get_their_own_lines_and_only_their_own_published_number():
    data = load_suite_data("protocols-mnist", REPO / "reports")
    rows = [r for r in suite_rows(data) if r.method == "random" and r.ipc == "1"]
    by_preset = {r.averaged_over.split(";")[0]: r for r in rows}
    assert set(by_preset) == {"protocol dc", "protocol dsa"}
    assert by_preset["protocol dc"].published is not None and by_preset["protocol dsa"].published is None
    assert sum(r.n for r in rows) == sum(1 for rec in data.records if rec["config"]["method"] == "random"
                                         and rec["config"]["ipc"] == 1)


def test_unknown_suite_is_a_user_error(root):
    with pytest.raises(UserError, match="did you mean 'alpha'"):
        build_leaderboard(root, ["alpah"], root / "L.md", root / "site")


def test_cli_module(root, capsys):
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="cmd"))
    run(parser.parse_args(["leaderboard", "beta", "--reports-dir", str(root)]))
    assert (root / "LEADERBOARD.md").is_file() and (root / "site" / "index.html").is_file()
    assert "wrote" in capsys.readouterr().out
    md = (root / "LEADERBOARD.md").read_text()
    assert "**beta**" in md and "**alpha**" not in md


def test_a_partial_suite_says_how_many_of_its_cells_it_holds(tmp_path):
    """Two records of ld-cross-mnist removed: its report and the cross-suite line name the gap, by method."""
    from benchmarks.suite import load_suite
    from reports.generate import write_suite_report

    src = REPO / "reports" / "ld-cross-mnist" / "records"
    dst = tmp_path / "ld-cross-mnist" / "records"
    shutil.copytree(src, dst)
    whole = load_suite_data("ld-cross-mnist", tmp_path)
    assert whole.planned == len(whole.records) and "partial" not in whole.held()
    gone = [json.loads(p.read_text()) for p in sorted(dst.glob("*.json"))[:2]]
    for rec in gone:
        (dst / f"{rec['key']}.json").unlink()
    part = load_suite_data("ld-cross-mnist", tmp_path)
    assert part.held() == f"{whole.planned - 2} records of {whole.planned} cells, partial"
    write_suite_report(load_suite("ld-cross-mnist"), "ld-cross-mnist", dst, tmp_path / "out")
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    methods = sorted({rec["config"]["method"] for rec in gone})
    assert f"it holds {whole.planned - 2} of the suite's {whole.planned} cells" in text
    for m in methods:
        assert f"{m} ({sum(r['config']['method'] == m for r in gone)})" in text
    write_suite_report(load_suite("ld-cross-mnist"), "ld-cross-mnist", src, tmp_path / "whole")
    assert "Partial report" not in (tmp_path / "whole" / "leaderboard.md").read_text()
