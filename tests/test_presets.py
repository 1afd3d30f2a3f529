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
    for w in ("1-0.5", "1-1", "0.5-1", "softmax"):
        assert {f"jlpose-{w}-paper", f"jlpose-{w}-cpu-demo", f"jlpose-{w}-smoke"} <= names
    assert list_presets("pfn") == ["pfn-cpu-demo", "pfn-paper", "pfn-smoke"]


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


def test_jlpose_loss_weightings_follow_table_iv():
    weights = {n: (get_preset(n).id_weight, get_preset(n).metric_weight) for n in (
        "jlpose-paper", "jlpose-1-1-paper", "jlpose-1-0.5-paper", "jlpose-0.5-1-paper", "jlpose-softmax-paper")}
    assert weights == {"jlpose-paper": (1.0, 1.0), "jlpose-1-1-paper": (1.0, 1.0), "jlpose-1-0.5-paper": (1.0, 0.5),
                       "jlpose-0.5-1-paper": (0.5, 1.0), "jlpose-softmax-paper": (1.0, 0.0)}
    p = get_preset("jlpose-paper")
    assert p.backbone is None and p.init == "scratch"   # its own backbone, trained from scratch


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
    assert get_preset("jlpose-cpu-demo").model_options == {"backbone_width": 0.5}


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
    assert p.model_options == {"backbone_width": 0.5}        # the original is untouched
