"""The field benchmark's report names the commands that measured its rows, not every run that once wrote it."""

from benchmarks.perf.bench_field import attach_commands, row_commands

A = "python -m benchmarks.perf.bench_field --settings convnet3:10 convnet3:1 --n 3 --out x.json --conditions busy"
B = "python -m benchmarks.perf.bench_field --settings convnet3:10 --n 4 --out x.json --conditions busy"
ABORTED = "python -m benchmarks.perf.bench_field --settings convnet3:10 --n 3 --out x.json --conditions stopped"


def row(model: str, ipc: int, n: int, conditions: str | None = None) -> dict:
    return {"model": model, "ipc": ipc, "n": n, **({"measured": {"conditions": conditions}} if conditions else {})}


def test_each_row_gets_the_one_run_that_measured_it():
    doc = {"commands": [A, B, ABORTED], "settings": [row("convnet3", 1, 3, "busy"), row("convnet3", 10, 4, "busy")]}
    attach_commands(doc)
    assert [s["measured"]["command"] for s in doc["settings"]] == [A, B]
    assert row_commands(doc) == [A, B] and "commands" not in doc  # the aborted run is not listed


def test_rows_without_conditions_match_on_settings_and_n():
    doc = {"commands": [A, B], "settings": [row("convnet3", 10, 4), row("convnet3", 1, 3)]}
    attach_commands(doc)
    assert row_commands(doc) == [B, A]


def test_an_ambiguous_row_is_left_without_a_command():
    doc = {"commands": [A, A + " "], "settings": [row("convnet3", 1, 3)]}
    attach_commands(doc)
    assert row_commands(doc) == []


def test_a_row_that_kept_its_command_keeps_it():
    doc = {"commands": [A], "settings": [{**row("convnet3", 1, 3), "measured": {"command": "mine"}}]}
    attach_commands(doc)
    assert row_commands(doc) == ["mine"]
