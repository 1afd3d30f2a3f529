"""Model registry, output contract, shapes and test-feature dimensions at the papers' sizes,
pretrained-weight loading."""

import os
import urllib.error

import pytest
import torch
import torchvision

from reidlab.errors import ConfigError
from reidlab.models import ReIDModel, create_model, list_models, model_options
from reidlab.models.backbones import ResNetBackbone

ALL_MODELS = ["baseline", "bot", "jlpose", "lgeu", "mgwp", "pcb", "pfn", "se"]
MODELS = [m for m in ALL_MODELS if m in list_models()]

# test-feature dimension of each model with its paper defaults (ResNet50 / inception_jl)
FEATURE_DIMS = {
    "pfn": 8 * 512,              # global4 + global5 + 6 stripes, 512 each
    "bot": 2048,                 # BNNeck feature
    "pcb": 6 * 256,              # 6 reduced stripes
    "mgwp": 1024 + 2048,         # stage3 (avg+max) + stage4 (avg+max)
    "lgeu": 2048,                # LGEU output Y
    "se": 2048,
    "baseline": 2048,
    "jlpose": 256 + 64 + 128 + 128,  # global + head + trunk + lower limb
}


def _keypoints(b, h, w):
    """Plausible standing-person landmarks (COCO-18 order) scaled to an h x w image."""
    rel = torch.tensor([
        [.5, .12], [.5, .2], [.38, .21], [.33, .35], [.3, .48], [.62, .21], [.67, .35], [.7, .48],
        [.42, .5], [.42, .7], [.42, .9], [.58, .5], [.58, .7], [.58, .9], [.47, .1], [.53, .1],
        [.44, .11], [.56, .11]])
    kp = torch.cat([rel * torch.tensor([w, h]), torch.ones(18, 1)], 1)
    return kp.expand(b, 18, 3).clone()


def test_registry_lists_every_paper_model():
    assert list_models() == ALL_MODELS


def test_unknown_model_and_option_errors_list_valid_ones():
    with pytest.raises(ConfigError, match="unknown model 'nope'.*pfn"):
        create_model("nope", 10)
    with pytest.raises(ConfigError, match="'branchez'.*valid options are.*branches"):
        create_model("pfn", 10, branchez="both")
    with pytest.raises(ConfigError, match="branches='middle'.*'both'"):
        create_model("pfn", 10, branches="middle")
    with pytest.raises(ConfigError, match="does not support backbone 'vgg16'"):
        create_model("bot", 10, backbone="vgg16")
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("bot", 0)


@pytest.mark.parametrize("name", MODELS)
def test_model_options_are_documented(name):
    opts = model_options(name)
    assert {"backbone", "pretrained"} <= set(opts)
    for key, spec in opts.items():
        assert set(spec) == {"default", "doc"} and isinstance(spec["doc"], str) and spec["doc"], key


@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_feature_dims_at_paper_sizes(name):
    """ResNet50 (jlpose: its own backbone), batch 2, 256x128 and 384x192, train and eval."""
    num_classes = 7
    model = create_model(name, num_classes)
    assert isinstance(model, ReIDModel)
    assert model.feature_dim == FEATURE_DIMS[name]
    terms = model.loss_terms
    assert terms and all(t.group in ("id", "metric") for t in terms)
    for h, w in [(256, 128), (384, 192)]:
        x = torch.randn(2, 3, h, w)
        kp = _keypoints(2, h, w) if model.needs_keypoints else None
        with torch.no_grad():
            model.train()
            out = model(x, kp)
            model.eval()
            feat = model(x, kp)
        assert set(out) == {"logits", "embeddings", "aux"}
        for t in terms:
            src = out["logits"] if t.kind == "ce" else out["embeddings"]
            assert t.output in src, (t, sorted(src))
        for v in out["logits"].values():
            assert v.shape == (2, num_classes)
        for v in out["embeddings"].values():
            assert v.ndim == 2 and v.shape[0] == 2
        assert feat.shape == (2, model.feature_dim)
        assert torch.isfinite(feat).all()
    layers = model.cam_target_layers()
    assert layers and all(isinstance(m, torch.nn.Module) for m in layers)
    assert any(n.startswith("backbone.") for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", MODELS)
def test_explain_gives_feature_map_in_eval_mode(name):
    model = create_model(name, 5, backbone="inception_jl" if name == "jlpose" else "resnet18",
                         backbone_width=0.25)
    model.train()
    h, w = (128, 64)
    kp = _keypoints(2, h, w) if model.needs_keypoints else None
    ex = model.explain(torch.randn(2, 3, h, w), kp)
    assert model.training, "explain must restore the train/eval mode"
    assert ex["feature_map"].ndim == 4 and ex["feature_map"].shape[0] == 2
    if "part_features" in ex:
        assert ex["part_features"].ndim == 3 and ex["part_features"].shape[0] == 2


# ------------------------------------------------------------------ pretrained weights


def test_pretrained_from_local_state_dict(tmp_path):
    torch.manual_seed(3)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-local.pth"
    torch.save(ref.state_dict(), path)
    model = create_model("bot", 5, backbone="resnet18", pretrained=str(path), last_stride=2)
    assert torch.equal(model.backbone.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    assert torch.equal(model.backbone.bn1.running_mean, ref.bn1.running_mean)
    # same features as torchvision's own network up to layer4
    ref.eval(), model.backbone.eval()
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        want = ref.layer4(ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(x))))))))
        assert torch.allclose(model.backbone(x), want, atol=1e-5)


def test_pretrained_bad_files_give_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        create_model("bot", 5, backbone="resnet18", pretrained=str(tmp_path / "none.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="junk.pth: cannot be read"):
        create_model("bot", 5, backbone="resnet18", pretrained=str(junk))
    wrong = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), wrong)
    with pytest.raises(ConfigError, match="not a resnet18 state dict|shape mismatch"):
        create_model("bot", 5, backbone="resnet18", pretrained=str(wrong))
    with pytest.raises(ConfigError, match="backbone_width=1.0"):
        create_model("bot", 5, backbone="resnet18", pretrained=str(wrong), backbone_width=0.5)


def test_pretrained_true_offline_says_how_to_provide_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ConfigError) as err:
        create_model("bot", 5, backbone="resnet18", pretrained=True)
    msg = str(err.value)
    assert "\n" not in msg
    assert "resnet18-f37072fd.pth" in msg and "pretrained='/path/to/" in msg
    assert os.path.join(str(tmp_path), "hub", "checkpoints") in msg
    # the same file placed in the hub cache is used without any download
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), ckpt / "resnet18-f37072fd.pth")
    model = create_model("bot", 5, backbone="resnet18", pretrained=True)
    assert torch.equal(model.backbone.conv1.weight, ref.conv1.weight)


def test_resnet_backbone_last_stride_and_width():
    x = torch.randn(1, 3, 256, 128)
    with torch.no_grad():
        assert ResNetBackbone("resnet50", last_stride=2)(x).shape == (1, 2048, 8, 4)
        assert ResNetBackbone("resnet50", last_stride=1)(x).shape == (1, 2048, 16, 8)
        assert ResNetBackbone("resnet18", width=0.25)(x).shape == (1, 128, 8, 4)
    full = sum(p.numel() for p in ResNetBackbone("resnet50").parameters())
    tv = sum(p.numel() for n, p in torchvision.models.resnet50(weights=None).named_parameters()
             if not n.startswith("fc."))
    assert full == tv
