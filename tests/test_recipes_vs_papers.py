"""Each ``-paper`` preset against a literal table of the published values (issue 11, point 6).

Every row names the paper and section the value comes from, or says "chosen" where the
paper is silent (the preset's ``notes`` say the same). A change to a recipe has to change
the table here too, so it cannot drift silently. Values are compared exactly.
"""

from __future__ import annotations

import pytest

from reidlab.presets import get_preset

# field -> (value, source)
PFN = {  # Prakayaphun & Usanavasin, Part-based Fusion Feature Learning (papers/pfn-*.md)
    "model": ("pfn", "Sec. III-A, Fig. 2"),
    "backbone": ("resnet50", "Sec. III: ResNet50"),
    "pretrained": (True, "Sec. IV-B: 'pre-trained weight from the ResNet50'"),
    "input_size": ((384, 192), "Sec. IV-B: 'image size to 384x192'"),
    "optimizer": ("adam", "Sec. IV-B: 'We use Adam'"),
    "lr": (3.5e-4, "Sec. IV-B: 'initial learning rate 0.00035'"),
    "milestones": ((40, 70), "Sec. IV-B: 'decreased by 0.1 at the 40th epoch and 70th epoch'"),
    "gamma": (0.1, "Sec. IV-B"),
    "epochs": (160, "Sec. IV-B: 'The total training are 160 epochs'"),
    "sampler": ("pk", "Sec. IV-B: P identities x K images"),
    "p": (16, "Sec. IV-B: 'P = 16'"),
    "k": (4, "Sec. IV-B: 'K = 4'"),
    "pk_epoch": ("images", "chosen: the bag-of-tricks sampler's epoch (PFN builds on [26])"),
    "margin": (0.3, "Sec. IV-B: 'margin ... set to 0.3'"),
    "label_smoothing": (0.1, "Sec. III-B, Eq. 1: 'epsilon is set to be 0.1'"),
    "id_weight": (1.0, "Sec. III-B: CE on all features (no weights given)"),
    "metric_weight": (1.0, "Sec. III-B: triplet on the global features (no weights given)"),
    "test_flip": ("concat", "Sec. IV-B: 'feature from a given image and the horizontally flipped image, then concatenate'"),
    "metric": ("euclidean", "chosen: Sec. IV-C ranks by 'the smallest distance' without naming it"),
    "eval_st": (True, "Sec. V / Table I: 'Ours+ST'"),
}

MGWP = {  # Tang et al., Multi-Scale Global + Weight-Driven Part (papers/mgwp-*.md + papers/README.md)
    "model": ("mgwp", "Sec. 'Method', Fig. 2"),
    "backbone": ("resnet50", "Sec. 'Method': 'ResNet50 as the backbone'"),
    "pretrained": (True, "chosen: ImageNet weights, as the released code"),
    "input_size": ((256, 128), "papers/README.md (released code): input 256x128"),
    "optimizer": ("sgd", "papers/README.md: SGD"),
    "momentum": (0.9, "papers/README.md: momentum 0.9"),
    "nesterov": (True, "papers/README.md: nesterov"),
    "weight_decay": (5e-4, "papers/README.md: weight decay 5e-4"),
    "lr": (0.05, "papers/README.md: heads lr 0.05"),
    "backbone_lr_mult": (0.1, "papers/README.md: backbone lr 0.005 = 0.05 x 0.1"),
    "milestones": ((40, 80), "papers/README.md: x0.1 every 40 epochs"),
    "gamma": (0.1, "papers/README.md"),
    "epochs": (100, "papers/README.md: 100 epochs"),
    "sampler": ("pk", "papers/README.md: batch 32 = 8 ids x 4 images"),
    "p": (8, "papers/README.md"),
    "k": (4, "papers/README.md"),
    "pk_epoch": ("images", "chosen: the released code's torchreid-style sampler"),
    "margin": (0.3, "papers/README.md: triplet margin 0.3; Eq. 8"),
    "label_smoothing": (0.1, "Eq. 7 label smoothing (epsilon not printed; chosen 0.1)"),
    "id_weight": (1.0, "Eq. 9: plain sum of the terms"),
    "metric_weight": (1.0, "Eq. 9"),
    "model_options": ({}, "model defaults: test feature = stage3 + stage4 ('Model test')"),
    "test_flip": (None, "chosen: 'Model test' mentions no flip"),
    "metric": ("euclidean", "table caption: 'using L2 distance and RK'"),
    "eval_rerank": (True, "table caption: 'L2 distance and RK'"),
    "eval_multi_query": (True, "table caption: 'single-query and multi-query'; the 96.1 / 90.3 sentence"),
}

LGEU = {  # Wang et al., Local-Global Extraction Unit (papers/lgeu-*.md)
    "model": ("lgeu", "Sec. 2"),
    "backbone": ("resnet50", "Sec. 3.2: 'ResNet50 fine-tuned from ImageNet'"),
    "pretrained": (True, "Sec. 3.2"),
    "input_size": ((256, 128), "Sec. 3.2: 'size of training inputs to be 256x128'"),
    "optimizer": ("sgd", "Sec. 3.2: 'SGD optimizer'"),
    "lr": (0.1, "Sec. 3.2: 'starting learning rate initialized at 0.1'"),
    "milestones": ((40,), "Sec. 3.2: 'decayed to 0.01 after 40 epochs'"),
    "gamma": (0.1, "Sec. 3.2: 0.1 -> 0.01"),
    "epochs": (60, "Sec. 3.2: 'trained for 60 epochs'"),
    "sampler": ("random", "Sec. 3.2: batch size only (softmax loss)"),
    "batch_size": (32, "Sec. 3.2: 'batchsize to 32'"),
    "label_smoothing": (0.0, "softmax loss (Sec. 2)"),
    "id_weight": (1.0, "softmax loss"),
    "metric_weight": (0.0, "no metric loss"),
    "test_flip": (None, "chosen: not mentioned"),
    "metric": ("cosine", "Sec. 3.1: 'we compute the cosine distance'"),
    "eval_multi_query": (False, "Sec. 3.1: 'The single-query setting is used'"),
}

JLPOSE = {  # Liu et al., Person Re-identification with Joint-loss (papers/jlpose-*.md)
    "model": ("jlpose", "Sec. III, Fig. 2"),
    "backbone": (None, "Table I: own Inception-style backbone"),
    "pretrained": (False, "Sec. III-B2: converges 'without pre-trained model'"),
    "input_size": ((219, 103), "Table I: Data 219x103"),
    "model_options": ({"local_branches": True}, "Table IV 'Whole Architecture': global + local"),
    "id_weight": (0.5, "Table IV 'Whole Architecture': weight ratio 0.5:1"),
    "metric_weight": (1.0, "Table IV 'Whole Architecture': weight ratio 0.5:1"),
    "label_smoothing": (0.0, "Sec. III-C1, Eq. 2: plain softmax cross-entropy"),
    "sampler": ("pk", "chosen: triplets need several images per identity"),
    "optimizer": ("sgd", "chosen: not stated"),
    "lr": (0.05, "chosen: not stated"),
    "milestones": ((60, 90), "chosen: not stated"),
    "epochs": (100, "chosen: not stated"),
    "p": (16, "chosen: not stated"),
    "k": (4, "chosen: not stated"),
    "margin": (0.3, "chosen: Eq. 3's alpha is not given"),
    "test_flip": (None, "chosen: not mentioned"),
    "metric": ("euclidean", "Sec. III-C2: 'd(x, y) represents Euclidean distance'"),
}

BOT = {  # Luo et al. 2019, Bag of Tricks (the baseline PFN and MGWP compare with)
    "input_size": ((256, 128), "BoT: 256x128"),
    "optimizer": ("adam", "BoT: Adam"),
    "lr": (3.5e-4, "BoT: 3.5e-4"),
    "warmup_epochs": (10.0, "BoT: 10 warm-up epochs from 3.5e-5"),
    "warmup_factor": (0.1, "BoT: 3.5e-5 / 3.5e-4"),
    "milestones": ((40, 70), "BoT: x0.1 at 40 and 70"),
    "epochs": (120, "BoT: 120 epochs"),
    "p": (16, "BoT: P=16"),
    "k": (4, "BoT: K=4"),
    "pk_epoch": ("images", "BoT's RandomIdentitySampler"),
    "label_smoothing": (0.1, "BoT: label smoothing 0.1"),
    "margin": (0.3, "BoT: margin 0.3"),
    "metric": ("euclidean", "BoT"),
}

PCB = {  # Sun et al. 2018, Beyond Part Models (the 6-stripe baseline)
    "input_size": ((384, 128), "PCB: 384x128"),
    "optimizer": ("sgd", "PCB: SGD momentum 0.9"),
    "lr": (0.1, "PCB: 0.1 for new layers"),
    "backbone_lr_mult": (0.1, "PCB: 0.01 for the backbone"),
    "milestones": ((40,), "PCB: x0.1 after 40 epochs"),
    "epochs": (60, "PCB: 60 epochs"),
    "batch_size": (64, "PCB: batch 64"),
    "metric_weight": (0.0, "PCB: softmax per stripe"),
}


def _check(name: str, table: dict) -> None:
    p = get_preset(name)
    wrong = {f: (getattr(p, f), v, src) for f, (v, src) in table.items() if getattr(p, f) != v}
    assert not wrong, f"{name} differs from the published values (field: (preset, paper, source)): {wrong}"


def test_pfn_paper_preset_matches_the_paper():
    _check("pfn-paper", PFN)


def test_mgwp_paper_preset_matches_the_paper():
    _check("mgwp-paper", MGWP)


def test_lgeu_paper_preset_matches_the_paper_and_its_comparisons_share_it():
    _check("lgeu-paper", LGEU)
    shared = {f: v for f, v in LGEU.items() if f != "model"}
    _check("se-paper", shared)          # LGEU Table 1 trains SE and the baseline the same way
    _check("baseline-paper", shared)


def test_jlpose_paper_preset_matches_the_paper():
    _check("jlpose-paper", JLPOSE)


def test_bot_and_pcb_paper_presets_match_their_papers():
    _check("bot-paper", BOT)
    _check("pcb-paper", PCB)


def test_the_check_fails_on_a_drifted_value():
    with pytest.raises(AssertionError, match="lr"):
        _check("pfn-paper", dict(PFN, lr=(3.5e-3, "a typo")))
