"""The protocol-parity benchmark compares like with like: its random sets are the suite's, its official-code
settings are the presets' (the latter only where a checkout of DatasetCondensation is given)."""

import os
import sys
from pathlib import Path

import pytest

from benchmarks.artifact import load_artifact
from benchmarks.perf.bench_field import make_sets
from benchmarks.perf.protocol_parity import SUITE, ours, published
from benchmarks.protocols import PROTOCOLS
from benchmarks.suite import load_suite
from reports.cells import suite_records_dir
from reports.frame import load_records


def test_the_parity_sets_are_the_ones_the_suite_evaluated(tmp_path):
    records = load_records(suite_records_dir(SUITE))
    hashes = {load_artifact(a).content_hash() for a in make_sets(1, 5, tmp_path)}
    for protocol in ("dc", "dsa"):
        accs = ours(records, protocol, 1, hashes)
        mine = [r for r in records if r["config"]["method"] == "random" and r["config"]["ipc"] == 1
                and r["config"]["eval"].get("protocol") == protocol]
        assert len(accs) == len(mine) == 5  # every record of the cell found by its set's content hash
    suite_published = load_suite(SUITE).published
    assert published(suite_published, "dc", 1).startswith("64.9") and published(suite_published, "dsa", 1) == "-"


DC_CODE = os.environ.get("DDBENCH_DC_CODE")


@pytest.mark.skipif(not DC_CODE or not (Path(DC_CODE) / "utils.py").is_file(),
                    reason="needs a checkout of DatasetCondensation in $DDBENCH_DC_CODE")
@pytest.mark.parametrize("name", sorted(PROTOCOLS.names()))
def test_the_official_side_is_set_as_the_papers_scripts_set_it(name, monkeypatch):
    monkeypatch.syspath_prepend(DC_CODE)
    from benchmarks.perf.dc_worker import protocol_args

    proto = PROTOCOLS.get(name)
    args = protocol_args(name, "mnist", hflip=False, ipc=10, lr=0.02)
    assert args.epoch_eval_train + 1 == proto.epochs("mnist") and args.batch_train == 256
    assert args.lr_net == (0.02 if proto.lr is None else proto.lr)
    if proto.augment == "dsa_paper":
        assert args.dsa and args.dsa_strategy == "color_crop_cutout_scale_rotate" and args.dc_aug_param is None
    else:
        assert not args.dsa and args.dc_aug_param["strategy"] == "crop_scale_rotate"
    sys.modules.pop("utils", None)  # the official module's generic name must not shadow another test's import
