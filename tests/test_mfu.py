"""MFU against a peak that does not depend on the moment's load, and never above 1 (fresh and stored records)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import cost
from benchmarks.errors import UserError
from benchmarks.migrate import correct_mfu, migrate_dir, upgrade
from benchmarks.spec import RECORD_SCHEMA

REPORTS = Path(__file__).resolve().parents[1] / "reports"


@pytest.fixture(autouse=True)
def _fresh_peak(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(cost.PEAK_ENV, raising=False)
    cost.matmul_peak_flops.cache_clear()
    yield
    cost.matmul_peak_flops.cache_clear()


def test_a_rate_above_the_peak_raises_the_denominator_and_says_so() -> None:
    f = cost.mfu_fields(3e10, 2e10)
    assert f["mfu"] == 1.0 and f["mfu_peak_raised"] is True
    assert f["matmul_peak_flops_per_s"] == 2e10 and f["mfu_peak_flops_per_s"] == 3e10
    g = cost.mfu_fields(1e10, 4e10)
    assert g["mfu"] == 0.25 and g["mfu_peak_raised"] is False and g["mfu_peak_flops_per_s"] == 4e10


def test_the_peak_is_the_best_measurement_ever_made_here(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = iter([2e10, 1e10, 3e10, 9e10])  # idle, then under load, then a better moment
    monkeypatch.setattr(cost, "measure_matmul_flops", lambda device, precision: next(rates))
    seen = []
    for _ in range(5):
        cost.matmul_peak_flops.cache_clear()  # a new process
        seen.append(cost.matmul_peak_flops("cpu", "fp32"))
    assert cost.PEAK_PROCESSES == 3 and seen == [2e10, 2e10, 3e10, 3e10, 3e10]  # then the cache, not a measurement


def test_a_pinned_peak_is_used_without_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost, "measure_matmul_flops", lambda device, precision: pytest.fail("measured"))
    monkeypatch.setenv(cost.PEAK_ENV, "fp32=1.5e11,bf16=4e11")
    assert cost.matmul_peak_flops("cpu", "fp32") == 1.5e11 and cost.matmul_peak_flops("cpu", "bf16") == 4e11
    monkeypatch.setenv(cost.PEAK_ENV, "2e11")
    cost.matmul_peak_flops.cache_clear()
    assert cost.matmul_peak_flops("cpu", "bf16") == 2e11


@pytest.mark.parametrize("bad", ["fast", "-3", "0", "fp32=inf"])
def test_a_bad_pinned_peak_is_a_user_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(cost.PEAK_ENV, bad)
    with pytest.raises(UserError, match=cost.PEAK_ENV):
        cost.pinned_peak("fp32")


def test_measurement_is_a_real_rate() -> None:
    import torch

    assert cost.measure_matmul_flops(torch.device("cpu"), "fp32", repeats=1) > 1e8


def test_migration_bounds_stored_mfu_and_keeps_the_recorded_peak(tmp_path: Path) -> None:
    records = tmp_path / "records"
    shutil.copytree(REPORTS / "quick" / "records", records)
    before = {p.name: json.loads(p.read_text()) for p in records.glob("*.json")}
    over = [n for n, r in before.items() if (r["cost"].get("mfu") or 0) > 1]
    counts = migrate_dir(records, None)
    after = {p.name: json.loads(p.read_text()) for p in records.glob("*.json")}
    renamed = {n: f"{upgrade(r, {})['key']}.json" for n, r in before.items()}  # older schemas get new keys
    assert set(after) == set(renamed.values())
    assert counts["migrated"] == sum(r["schema"] != RECORD_SCHEMA for r in before.values())
    assert all((r["cost"].get("mfu") or 0) <= 1 for r in after.values())
    for n in over:
        c, old = after[renamed[n]]["cost"], before[n]["cost"]
        assert c["mfu"] == 1.0 and c["mfu_peak_raised"] and c["mfu_peak_flops_per_s"] == old["achieved_flops_per_s"]
        assert c["matmul_peak_flops_per_s"] == old["matmul_peak_flops_per_s"]
    assert migrate_dir(records, None)["corrected"] == 0  # idempotent
    assert correct_mfu({"cost": {}}, {}) == {"cost": {}}


def test_every_committed_record_has_mfu_at_most_one() -> None:
    over = []
    for path in sorted(REPORTS.glob("*/records/*.json")):
        mfu = (json.loads(path.read_text()).get("cost") or {}).get("mfu")
        if mfu is not None and mfu > 1:
            over.append(f"{path.relative_to(REPORTS)}: {mfu}")
    assert not over, f"{len(over)} record(s) with mfu > 1 (run `ddbench migrate`): {over[:3]}"
