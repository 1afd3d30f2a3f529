"""Presets: the papers' recipes as data, their CPU variants, serialisation and overrides."""

from __future__ import annotations

import json

import pytest

from reidlab.errors import ConfigError
from reidlab.presets import Preset, apply_overrides, get_preset, list_presets, parse_override

MODELS = ("pfn", "mgwp", "lgeu", "se", "baseline", "jlpose", "bot", "pcb")


def test_every_model_has_paper_cpu_demo_and_smoke_scales():
    names = set(list_presets())
    for m in MODELS:
        assert {f"{m}-paper", f"{m}-cpu-demo", f"{m}-smoke"} <= names
    for row in ("baseline", "global-local", "triplet-1-0.5", "triplet-1-1", "triplet-0.5-1"):
        assert {f"jlpose-{row}-paper", f"jlpose-{row}-cpu-demo", f"jlpose-{row}-smoke"} <= names
    assert list_presets("pfn") == ["pfn-cpu-demo", "pfn-paper", "pfn-smoke"]
    # the names before Table IV was mapped resolve but are not listed by default
    legacy = {f"jlpose-{w}-{s}" for w in ("1-0.5", "1-1", "0.5-1", "softmax") for s in ("paper", "cpu-demo", "smoke")}
    assert not legacy & names and legacy <= set(list_presets(include_legacy=True))
    assert all(get_preset(n).name == n for n in legacy)


def test_every_preset_names_a_registered_model_and_round_trips_through_json():
    from reidlab.models import list_models

    models = set(list_models())
    for name in list_presets():
        p = get_preset(name)
        assert p.name == name and p.model in models
        again = Preset.from_dict(json.loads(json.dumps(p.to_dict())))
        assert again == p


def test_pfn_paper_recipe():
    p = get_preset("pfn-paper")
    assert (p.model, p.backbone, p.init, p.input_size) == ("pfn", "resnet50", "imagenet", (384, 192))
    assert (p.optimizer, p.lr, p.milestones, p.gamma, p.epochs) == ("adam", 3.5e-4, (40, 70), 0.1, 160)
    assert (p.sampler, p.p, p.k, p.images_per_batch) == ("pk", 16, 4, 64)
    assert p.flip_p > 0 and p.pad > 0 and p.erase_p > 0
    assert (p.test_flip, p.margin, p.label_smoothing, p.eval_st) == ("concat", 0.3, 0.1, True)


def test_mgwp_paper_recipe_has_two_learning_rates_and_reranked_multi_query_eval():
    p = get_preset("mgwp-paper")
    assert (p.optimizer, p.momentum, p.nesterov, p.weight_decay) == ("sgd", 0.9, True, 5e-4)
    assert p.lr == 0.05 and p.lr * p.backbone_lr_mult == pytest.approx(0.005)
    assert (p.milestones, p.epochs, p.p, p.k, p.pad) == ((40, 80), 100, 8, 4, 10)
    assert p.eval_rerank and p.eval_multi_query


def test_lgeu_paper_recipe_is_softmax_only_with_random_batches():
    p = get_preset("lgeu-paper")
    assert (p.optimizer, p.lr, p.milestones, p.epochs, p.input_size) == ("sgd", 0.1, (40,), 60, (256, 128))
    assert (p.sampler, p.batch_size, p.images_per_batch, p.metric_weight, p.metric) == ("random", 32, 32, 0.0, "cosine")
    for other in ("se-paper", "baseline-paper"):
        q = get_preset(other)
        assert (q.lr, q.milestones, q.epochs, q.batch_size, q.metric_weight) == (0.1, (40,), 60, 32, 0.0)


def test_jlpose_presets_are_table_iv_row_by_row():
    # (local branches, softmax weight, triplet weight) per Table IV row, as printed
    rows = {
        "jlpose-baseline-paper": (False, 1.0, 0.0),       # baseline: backbone + identification
        "jlpose-global-local-paper": (True, 1.0, 0.0),    # Global+Local
        "jlpose-triplet-1-0.5-paper": (False, 1.0, 0.5),  # Softmax+Triplet 1:0.5 on the baseline setting
        "jlpose-triplet-1-1-paper": (False, 1.0, 1.0),    # Softmax+Triplet 1:1
        "jlpose-triplet-0.5-1-paper": (False, 0.5, 1.0),  # Softmax+Triplet 0.5:1
        "jlpose-paper": (True, 0.5, 1.0),                 # Whole Architecture 0.5:1 (86.10 / 67.97)
    }
    got = {n: (get_preset(n).model_options["local_branches"], get_preset(n).id_weight, get_preset(n).metric_weight)
           for n in rows}
    assert got == rows
    # legacy names keep their old (global + local) recipes; two equal a Table IV row
    assert get_preset("jlpose-softmax-paper").replace(name="x") == get_preset("jlpose-global-local-paper").replace(
        name="x", notes=get_preset("jlpose-softmax-paper").notes)
    assert get_preset("jlpose-0.5-1-paper").replace(name="x", notes="") == get_preset("jlpose-paper").replace(
        name="x", notes="")
    assert (get_preset("jlpose-1-0.5-paper").model_options, get_preset("jlpose-1-0.5-paper").metric_weight) == \
        ({"local_branches": True}, 0.5)
    p = get_preset("jlpose-paper")
    assert p.backbone is None and p.init == "scratch"   # its own backbone, trained from scratch
    assert p.input_size == (219, 103) and "not a multiple" not in p.notes


def test_bot_and_pcb_recipes():
    b = get_preset("bot-paper")
    assert (b.optimizer, b.lr, b.warmup_epochs, b.warmup_factor, b.milestones, b.epochs) == ("adam", 3.5e-4, 10.0, 0.1, (40, 70), 120)
    c = get_preset("pcb-paper")
    assert (c.input_size, c.optimizer, c.lr, c.backbone_lr_mult, c.epochs, c.metric_weight) == ((384, 128), "sgd", 0.1, 0.1, 60, 0.0)


def test_cpu_demo_and_smoke_variants_are_cpu_sized():
    for m in MODELS:
        paper, demo, smoke = (get_preset(f"{m}-{s}") for s in ("paper", "cpu-demo", "smoke"))
        assert demo.input_size == smoke.input_size == (128, 64)
        assert demo.amp == "bf16" and demo.init == "scratch"
        assert demo.backbone == ("resnet18" if paper.backbone else None)
        assert demo.epochs < paper.epochs and demo.warmup_epochs > 0
        assert demo.backbone_lr_mult == smoke.backbone_lr_mult == 1.0     # trained from scratch
        assert (demo.optimizer, demo.sampler, demo.id_weight, demo.metric_weight, demo.test_flip) == \
            (paper.optimizer, paper.sampler, paper.id_weight, paper.metric_weight, paper.test_flip)
        # from scratch, Adam recipes use a higher rate; SGD recipes keep the paper's
        assert demo.lr == (1e-3 if paper.optimizer == "adam" else paper.lr)
        assert smoke.epochs * smoke.iters_per_epoch <= 5 and smoke.images_per_batch <= 16
    assert get_preset("jlpose-cpu-demo").model_options == {"local_branches": True, "backbone_width": 0.5}
    assert get_preset("jlpose-baseline-smoke").model_options == {"local_branches": False, "backbone_width": 0.5}


def test_unknown_names_and_fields_fail_with_a_did_you_mean():
    with pytest.raises(ConfigError, match=r"unknown preset 'pfn-cpu-dmeo'; did you mean 'pfn-cpu-demo'\?") as e:
        get_preset("pfn-cpu-dmeo")
    assert "\n" not in str(e.value) and "mgwp-paper" in str(e.value)
    with pytest.raises(ConfigError, match="unknown preset field 'epoch'; did you mean 'epochs'"):
        get_preset("pfn-paper", epoch=3)
    with pytest.raises(ConfigError, match=r"optimizer='adamw' is invalid"):
        get_preset("pfn-paper", optimizer="adamw")
    with pytest.raises(ConfigError, match=r"flip_p=1.5 is invalid"):
        get_preset("pfn-paper", flip_p=1.5)
    with pytest.raises(ConfigError, match="unknown preset field"):
        Preset.from_dict(dict(get_preset("bot-paper").to_dict(), colour="red"))


def test_overrides_parse_and_merge_model_options():
    assert parse_override("lr=0.001") == ("lr", 0.001)
    assert parse_override("test_flip=none") == ("test_flip", None)
    assert parse_override("input_size=[64, 32]") == ("input_size", [64, 32])
    assert parse_override("metric=cosine") == ("metric", "cosine")
    assert parse_override("nesterov=True") == ("nesterov", True)
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("lr")
    p = get_preset("jlpose-cpu-demo")
    q = apply_overrides(p, {"model_options.local_branches": False, "input_size": [64, 32], "epochs": 2})
    assert q.model_options == {"backbone_width": 0.5, "local_branches": False}
    assert q.input_size == (64, 32) and q.epochs == 2 and q.name == p.name
    assert p.model_options == {"local_branches": True, "backbone_width": 0.5}   # the original is untouched


# ------------------------------------------------------------------ PK epoch length
def test_pk_epoch_field_defaults_to_images_and_is_validated():
    assert all(get_preset(n).pk_epoch == "images" for n in list_presets())
    with pytest.raises(ConfigError, match=r"pk_epoch='epochs' is invalid; expected 'images'"):
        get_preset("pfn-paper", pk_epoch="epochs")
    assert get_preset("pfn-paper", pk_epoch="identities").pk_epoch == "identities"


def test_stored_configs_from_before_pk_epoch_load_with_the_identity_epoch():
    old = get_preset("bot-cpu-demo").to_dict()
    del old["pk_epoch"]                                     # a config.json written before the field
    assert Preset.from_dict(old).pk_epoch == "identities"
    assert Preset.from_dict({"name": "x", "model": "bot"}).pk_epoch == "images"   # a hand-written dict


def test_iterations_per_epoch_on_published_sizes():
    from reidlab.presets import DATASET_SIZES, iterations_per_epoch

    ids, images = DATASET_SIZES["market1501"]
    assert (ids, images) == (751, 12936)
    # images epoch, estimated: round((12936 - 751 * 1.5) / 4) = 2952 chunks -> 2952 // 16 = 184
    assert iterations_per_epoch(get_preset("pfn-paper"), ids, images) == (184, False)
    assert iterations_per_epoch(get_preset("mgwp-paper"), ids, images) == (2952 // 8, False)
    assert iterations_per_epoch(get_preset("pfn-paper", pk_epoch="identities"), ids, images) == (46, True)
    assert iterations_per_epoch(get_preset("lgeu-paper"), ids, images) == (12936 // 32, True)
    assert iterations_per_epoch(get_preset("pfn-smoke"), ids, images) == (3, False)   # iters_per_epoch cap
    counts = [2, 3, 4, 9, 13] * 4                                # exact from per-identity counts
    chunks = sum(max(n // 4, 1) for n in counts)                 # 1 + 1 + 1 + 2 + 3 = 8 per five ids
    assert iterations_per_epoch(get_preset("bot-paper", p=4), counts=counts) == (chunks // 4, True)
    with pytest.raises(ConfigError, match="give counts= or both"):
        iterations_per_epoch(get_preset("pfn-paper"), num_ids=5)


def test_cpu_demo_pk_budgets_keep_their_old_iterations_on_synthreid():
    """The demo schedules were sized for the identity epoch (300 // P batches x 24 epochs on the
    default SynthReID); in image epochs (650 chunks at K=4 on that set) the totals stay within 2%."""
    from reidlab.presets import DATASET_SIZES, iterations_per_epoch

    ids, images = DATASET_SIZES["synthreid"]
    for name in ("pfn-cpu-demo", "bot-cpu-demo", "mgwp-cpu-demo", "jlpose-cpu-demo", "jlpose-baseline-cpu-demo"):
        p = get_preset(name)
        old_total = 24 * (300 // p.p)
        it, _ = iterations_per_epoch(p, ids, images)
        assert it == 650 // p.p
        assert abs(it * p.epochs - old_total) <= 0.02 * old_total, (name, it * p.epochs, old_total)
        for new_m, old_m in zip(p.milestones, (16, 21)):         # lr drops within an epoch of where they were
            assert abs(new_m * it - old_m * (300 // p.p)) <= it
        assert abs(p.warmup_epochs * it - 2 * (300 // p.p)) <= 0.05 * it
    assert (get_preset("pfn-cpu-demo").epochs, get_preset("pfn-cpu-demo").milestones) == (11, (7, 9))
    assert (get_preset("mgwp-cpu-demo").epochs, get_preset("mgwp-cpu-demo").milestones) == (11, (7, 10))
    assert get_preset("lgeu-cpu-demo").epochs == 10                 # random-batch epochs: unchanged


def test_readme_recipes_table_matches_the_presets():
    """The README's "Recipes" table: input, epochs, P x K and Market iterations per preset."""
    import re
    from pathlib import Path

    from reidlab.presets import DATASET_SIZES, iterations_per_epoch

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9.-]+-paper)` \| (\d+)x(\d+) \| [^|]+ \| (\d+) \| ([^|]+) \| ~?([\d,]+) \| ~?([\d,]+) \|$",
                      text, re.M)
    assert {r[0] for r in rows} >= {"pfn-paper", "mgwp-paper", "lgeu-paper", "jlpose-paper"}
    for name, h, w, epochs, batch, it, total in rows:
        p = get_preset(name)
        n, _ = iterations_per_epoch(p, *DATASET_SIZES["market1501"])
        assert (int(h), int(w), int(epochs)) == (*p.input_size, p.epochs), name
        assert batch.strip() == (f"{p.p}x{p.k}" if p.sampler == "pk" else f"({p.batch_size})"), name
        assert (int(it.replace(",", "")), int(total.replace(",", ""))) == (n, n * p.epochs), name
