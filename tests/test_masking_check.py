"""The gradient-masking check attacks each chosen cell's model with stronger and transferred attacks, on real
digits: at epsilon 0 every attack leaves the clean accuracy, and a real budget never raises it."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.perf.masking_check import ATTACK_COLUMNS, DEFAULT_CELLS, check, markdown, pick_cells
from benchmarks.suite import load_suite

SUITE = """name = "masking-tiny"
[grid]
datasets = ["digits"]
methods = ["random", "full", "soft_random"]
ipc = [5]
models = ["convnet3_w32"]
optimizers = ["adam"]
[method_losses]
soft_random = [{ name = "kl", T = 4.0 }, "gift"]
[methods.soft_random]
teacher_model = "convnet3_w32"
teacher_epochs = 1
[eval]
steps = 15
batch_size = 32
val_size = 40
[eval.robustness]
"""


@pytest.fixture(scope="module")
def suite_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("suite") / "masking-tiny.toml"
    path.write_text(SUITE)
    return str(path)


def test_cells_are_named_by_method_and_loss_and_ambiguity_is_refused(suite_path):
    suite = load_suite(suite_path)
    (gift,) = pick_cells(suite, ["soft_random:gift"], 0)
    assert gift.method == "soft_random" and gift.eval.loss_spec().name == "gift"
    (kl,) = pick_cells(suite, ["soft_random:kl(T=4.0,t2=False)"], 0)
    assert kl.eval.loss_spec().params == {"T": 4.0, "t2": False}
    with pytest.raises(SystemExit, match="names 2 cells"):
        pick_cells(suite, ["soft_random"], 0)
    with pytest.raises(SystemExit, match="names 0 cells"):
        pick_cells(suite, ["random"], 7)


def test_the_default_cells_each_name_one_cell_of_the_packaged_suite():
    cells = pick_cells(load_suite("robustness-mnist"), list(DEFAULT_CELLS), 0)
    assert [c.method for c in cells] == ["full", "herding", "soft_random", "rded", "rded"]


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_attacks_keep_clean_accuracy_at_zero_and_never_raise_it(suite_path, eps, cpu, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no records folder here: the record columns stay empty, nothing is written
    doc = check(suite_path, ["random", "soft_random:kl"], 0, eps, 60, 5, cpu, with_teachers=True)
    rows = {r["cell"]: r for r in doc["rows"]}
    assert list(rows) == ["full:ce(label_smoothing=0.0)", "random:ce(label_smoothing=0.0)", "soft_random:kl(T=4.0,t2=False)",
                          "teacher:convnet3_w32(1 epochs)"]  # the soft labels' teacher, once
    assert doc["subset"] == 60
    for name, r in rows.items():
        attacked = [r[c] for c in ATTACK_COLUMNS if r[c] is not None]
        assert len(attacked) == len(ATTACK_COLUMNS) - name.startswith("full:")  # the source is not attacked by itself
        assert r["record_clean_acc"] is None and r["clean_subset"] > 20
        if eps == 0.0:
            assert attacked == [r["clean_subset"]] * len(attacked)
        else:
            assert all(a <= r["clean_subset"] for a in attacked)
            assert min(attacked) < r["clean_subset"]
    assert list(Path(tmp_path).iterdir()) == []
    doc.update(machine="m", threads=1, torch="t", commit="c", date="d", command="cmd")
    text = markdown(doc)
    assert all(name in text for name in rows) and "cmd" in text
