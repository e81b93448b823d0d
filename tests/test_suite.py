import pytest

from benchmarks.errors import UserError
from benchmarks.suite import load_suite, packaged_suites, parse_suite


def test_quick_suite_meets_the_spec():
    s = load_suite("quick")
    g = s.grid
    assert g["datasets"] == ["digits"] and {"random", "herding", "full"} <= set(g["methods"])
    assert set(g["ipc"]) == {1, 10} and len(g["models"]) >= 3 and len(g["optimizers"]) >= 3 and len(g["seeds"]) >= 2
    cells = s.cells()
    assert len({c.method for c in cells}) == len(g["methods"])
    assert all(c.ipc is None for c in cells if c.method == "full")
    assert len(cells) == len({str(c.config) for c in cells})


@pytest.mark.parametrize("name", sorted(packaged_suites()))
def test_packaged_suites_parse(name):
    assert load_suite(name).cells()


@pytest.mark.parametrize(("doc", "message"), [
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adma"]}},
     "did you mean .*'adam'"),
    ({"grid": {"datasets": ["digits"], "methods": ["randon"], "models": ["convnet3"], "optimizers": ["adam"]}},
     "did you mean 'random'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "model": ["convnet3"], "optimizers": ["adam"]}},
     "unknown grid key 'model'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"],
               "ipc": [0]}}, "ipc must be"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]},
      "eval": {"step": 3}}, "did you mean 'steps'"),
    ({"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]},
      "eval": {"steps": -3}}, "must be positive"),
])
def test_bad_suites_fail_before_running(doc, message):
    with pytest.raises(UserError, match=message):
        parse_suite(doc)


def test_unknown_suite_name():
    with pytest.raises(UserError, match="did you mean 'quick'"):
        load_suite("quik")


def test_eval_seeds_repeat_evaluation_of_one_artifact_per_distillation_seed():
    doc = {"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"],
                    "seeds": [0, 1], "eval_seeds": [5, 6, 7]}}
    cells = parse_suite(doc).cells()
    assert len(cells) == 6 and len({str(c.config) for c in cells}) == 6
    assert {str(c.distill_config) for c in cells if c.distill_seed == 0} != {str(c.distill_config) for c in cells if c.distill_seed == 1}
    for seed in (0, 1):
        mine = [c for c in cells if c.distill_seed == seed]
        assert {c.eval.seed for c in mine} == {5, 6, 7}
        assert len({str(c.distill_config) for c in mine}) == 1  # one artifact, three evaluations


def test_without_eval_seeds_the_seed_drives_both():
    doc = {"grid": {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"],
                    "seeds": [3]}}
    (cell,) = parse_suite(doc).cells()
    assert cell.distill_seed == cell.eval.seed == 3 and cell.distill_config["seed"] == 3


def test_sweep_varies_evaluation_settings_and_keeps_old_keys_stable():
    grid = {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]}
    plain = parse_suite({"grid": grid}).cells()
    swept = parse_suite({"grid": grid, "sweep": {"steps_offset": [-10, 0, 10], "order_seed": [None, 4]}}).cells()
    assert len(swept) == 6 and {c.eval.steps_offset for c in swept} == {-10, 0, 10}
    # the default point of a sweep is the same cell (and record key) as the plain suite's
    same = [c for c in swept if c.eval.steps_offset == 0 and c.eval.order_seed is None]
    assert [c.config for c in same] == [c.config for c in plain]
    assert plain[0].config["eval"]["steps_offset"] == 0  # every field is in the config (schema 2), at its default


@pytest.mark.parametrize(("sweep", "message"), [({"step_offset": [1]}, "did you mean 'steps_offset'"),
                                                 ({"steps_offset": 3}, "non-empty list"),
                                                 ({"steps": [0]}, "must be positive")])
def test_bad_sweeps_fail_before_running(sweep, message):
    grid = {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]}
    with pytest.raises(UserError, match=message):
        parse_suite({"grid": grid, "sweep": sweep})


def test_method_losses_replace_the_losses_axis_for_their_method_only():
    grid = {"datasets": ["digits"], "methods": ["random", "soft_random"], "models": ["convnet3"],
            "optimizers": ["adam"], "losses": ["soft_ce"]}
    plain = parse_suite({"grid": grid})
    mixed = parse_suite({"grid": grid, "method_losses": {"soft_random": ["soft_ce", "gift"]}})
    losses = {m: sorted(c.eval.loss_spec().name for c in mixed.cells() if c.method == m) for m in grid["methods"]}
    assert losses == {"random": ["soft_ce"], "soft_random": ["gift", "soft_ce"]}
    assert {c.config["eval"]["loss"]["name"] for c in plain.cells()} == {"soft_ce"}
    assert [c.config for c in plain.cells()] == [c.config for c in mixed.cells() if c.eval.loss_spec().name == "soft_ce"]
    assert plain.hash != mixed.hash


@pytest.mark.parametrize(("table", "message"), [({"softrandom": ["gift"]}, "did you mean 'soft_random'"),
                                                 ({"soft_random": []}, "non-empty list"),
                                                 ({"soft_random": ["gfit"]}, "gift")])
def test_bad_method_losses_fail_before_running(table, message):
    grid = {"datasets": ["digits"], "methods": ["soft_random"], "models": ["convnet3"], "optimizers": ["adam"]}
    with pytest.raises(UserError, match=message):
        parse_suite({"grid": grid, "method_losses": table})


def test_iterations_axis_makes_one_artifact_per_budget():
    doc = {"grid": {"datasets": ["digits"], "methods": ["dm"], "models": ["convnet3"], "optimizers": ["adam"],
                    "iterations": [5, 50]}}
    cells = parse_suite(doc).cells()
    assert sorted(c.iterations for c in cells) == [5, 50]
    assert len({str(c.distill_config) for c in cells}) == 2
    with pytest.raises(UserError, match="iterations must be"):
        parse_suite({"grid": {**doc["grid"], "iterations": [0]}})


def test_seconds_axis_makes_one_artifact_per_cap():
    doc = {"grid": {"datasets": ["digits"], "methods": ["dm"], "models": ["convnet3"], "optimizers": ["adam"]}}
    plain = parse_suite(doc).cells()[0]
    capped = parse_suite({"grid": {**doc["grid"], "seconds": [30, 120.5]}}).cells()
    assert sorted(c.seconds for c in capped) == [30, 120.5]
    assert plain.distill_config["seconds"] is None  # no cap
    assert {c.distill_config["seconds"] for c in capped} == {30, 120.5}
    for bad in ([0], [-1.0], ["60"], [True]):
        with pytest.raises(UserError, match="seconds must be"):
            parse_suite({"grid": {**doc["grid"], "seconds": bad}})


def test_published_numbers_are_parsed_and_do_not_change_the_hash():
    grid = {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]}
    row = {"dataset": "digits", "method": "random", "ipc": 1, "acc": 60.0, "std": 2.0, "ref": "X", "source": "paper X"}
    with_pub = parse_suite({"grid": grid, "published": [row]})
    assert with_pub.published == [row] and with_pub.hash == parse_suite({"grid": grid}).hash


@pytest.mark.parametrize(("change", "message"), [({"accuracy": 1.0}, "did you mean 'acc'"),
                                                 ({"acc": "high"}, "acc has the wrong type"),
                                                 ({"ref": None}, "needs ref")])
def test_bad_published_rows_fail_before_running(change, message):
    grid = {"datasets": ["digits"], "methods": ["random"], "models": ["convnet3"], "optimizers": ["adam"]}
    row = {"dataset": "digits", "method": "random", "ipc": 1, "acc": 60.0, "ref": "X", "source": "paper X", **change}
    row = {k: v for k, v in row.items() if v is not None}
    with pytest.raises(UserError, match=message):
        parse_suite({"grid": grid, "published": [row]})


# (suite, suite whose artifacts it reuses, its methods that are its own): a suite that says it reuses
# another's cached artifacts must ask for exactly the same distillations, or it silently re-distils.
ARTIFACT_REUSE = [
    ("baselines-cross-arch", "baselines-mnist", set()),
    ("ld-flex-optimizers", "ld-paper-mnist", set()),
    ("ld-flex-training", "ld-paper-mnist", set()),
    ("ld-flex-order", "ld-paper-mnist", set()),
    ("ld-flex-architectures", "ld-paper-mnist", set()),
    ("ld-warm-mnist", "ld-paper-mnist", {"ld_warm"}),
    ("loss-study", "ld-paper-mnist", {"rded", "soft_random"}),
    ("cross-optimizer", "loss-study", set()),
    ("robustness-mnist", "baselines-mnist", {"soft_random", "rded", "ld", "ld_rr", "rded_static", "random_online"}),
    ("cross-arch-fair", "robustness-mnist", set()),
]


@pytest.mark.parametrize(("consumer", "producer", "own"), ARTIFACT_REUSE)
def test_suites_that_reuse_artifacts_ask_for_the_same_distillations(consumer, producer, own):
    produced = {c.distill_key for c in load_suite(producer).cells()}
    wanted = {(c.method, c.distill_key) for c in load_suite(consumer).cells()
              if c.method != "full" and c.method not in own}
    assert wanted, "nothing to compare"
    assert {m for m, k in wanted if k not in produced} == set()


def test_model_eval_gives_one_architecture_its_own_settings_and_keeps_other_hashes():
    grid = {"datasets": ["digits"], "methods": ["random", "full"], "models": ["convnet3", "vit_tiny"],
            "optimizers": ["adam"]}
    plain = parse_suite({"grid": grid, "eval": {"steps": 300}})
    slow = parse_suite({"grid": grid, "eval": {"steps": 300}, "model_eval": {"vit_tiny": {"steps": 100}},
                        "method_eval": {"full": {"steps": 50}}})
    steps = {(c.method, c.eval.model): c.eval.steps for c in slow.cells()}
    assert steps == {("random", "convnet3"): 300, ("random", "vit_tiny"): 100, ("full", "convnet3"): 50,
                     ("full", "vit_tiny"): 50}  # the method's own settings come last
    assert plain.hash == parse_suite({"grid": grid, "eval": {"steps": 300}}).hash != slow.hash
    with pytest.raises(UserError, match="not in the grid's models"):
        parse_suite({"grid": grid, "model_eval": {"lenet": {"steps": 10}}})
    with pytest.raises(UserError, match="cannot set 'model'"):
        parse_suite({"grid": grid, "model_eval": {"vit_tiny": {"model": "lenet"}}})


def test_the_cross_architecture_suite_uses_zoo_models_that_train_on_real_data():
    from benchmarks.models import ZOO

    models = load_suite("cross-arch-fair").grid["models"]
    assert len(models) >= 10 and set(models) <= set(ZOO.names())  # each trained on real digits by test_models


def test_a_distillation_budget_per_ipc():
    """``iterations = { 1 = 5, 2 = 7 }`` gives each ipc its own budget (papers give budgets per set size); an ipc
    the table leaves out keeps the method's default; a grid axis of budgets still wins."""
    grid = {"datasets": ["digits"], "methods": ["dm"], "ipc": [1, 2, 3], "models": ["convnet3"], "optimizers": ["adam"]}
    cells = parse_suite({"grid": grid, "iterations": {"1": 5, "2": 7}}).cells()
    assert [(c.ipc, c.iterations) for c in cells] == [(1, 5), (2, 7), (3, None)]
    assert len({c.distill_key for c in cells}) == 3
    axis = parse_suite({"grid": {**grid, "iterations": [4]}, "iterations": {"1": 5}}).cells()
    assert {c.iterations for c in axis} == {4}


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "10", {}, {"one": 5}, {"1": 0}, {"0": 5}, {"1": "5"}])
def test_bad_budgets_are_refused(bad):
    grid = {"datasets": ["digits"], "methods": ["dm"], "ipc": [1], "models": ["convnet3"], "optimizers": ["adam"]}
    with pytest.raises(UserError, match="iterations must be a positive integer"):
        parse_suite({"grid": grid, "iterations": bad})
