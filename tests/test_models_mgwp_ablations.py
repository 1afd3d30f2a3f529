"""MGWP's per-branch switch of the multi-scale module ("Effect of each branch of C-P2") and
its input size as a preset field ("different image sizes")."""

from __future__ import annotations

import pytest
import torch

from reidlab.engine.trainer import build_model
from reidlab.errors import ConfigError
from reidlab.models import create_model
from reidlab.models.mgwp import MS_BRANCHES
from reidlab.presets import get_preset

TINY = dict(backbone="resnet18", backbone_width=0.125)


def test_branch_switches_keep_the_named_branches():
    assert list(MS_BRANCHES) == [1, 2, 3, 4]
    full = create_model("mgwp", 5, **TINY).multi_scale
    assert full.branch_ids == (1, 2, 3, 4) and len(full.branches) == len(full.tsas) == 4
    c = create_model("mgwp", 5, **TINY).backbone.out_channels["layer4"]
    for keep in ([1], [2, 4], [1, 2, 3]):
        ms = create_model("mgwp", 5, ms_branches=keep, **TINY).multi_scale
        assert ms.branch_ids == tuple(keep) and len(ms.branches) == len(ms.tsas) == len(keep)
        assert ms.fuse[0].in_channels == len(keep) * (c // 2)
        # the kept modules are the named ones: branch 2 has a 5x5, branch 4 starts with an avg pool
        for i, br in zip(keep, ms.branches):
            convs = [m for m in br.modules() if isinstance(m, torch.nn.Conv2d)]
            kernels = [m.kernel_size for m in convs]
            assert kernels == {1: [(1, 1)], 2: [(1, 1), (5, 5)], 3: [(1, 1), (3, 3), (3, 3)], 4: [(1, 1)]}[i]
            assert isinstance(br[0], torch.nn.AvgPool2d) == (i == 4)
    # parameters drop with each removed branch; the test feature does not change (stage3 + stage4)
    models = [create_model("mgwp", 5, ms_branches=k, **TINY) for k in ([1, 2, 3, 4], [1, 2, 3], [1])]
    sizes = [sum(p.numel() for p in m.multi_scale.parameters()) for m in models]
    assert sizes[0] > sizes[1] > sizes[2]
    assert len({m.feature_dim for m in models}) == 1


def test_branch_switch_runs_and_its_explain_maps_follow():
    m = create_model("mgwp", 5, ms_branches=[2, 3], **TINY).train()
    x = torch.randn(4, 3, 128, 64)
    out = m(x)
    assert "multiscale" in out["logits"]
    sum(v.sum() for v in out["logits"].values()).backward()
    m.eval()
    assert m(x).shape == (4, m.feature_dim)
    assert m.explain(x)["tsa_maps"].shape[1] == 2


@pytest.mark.parametrize("bad", [[], [0], [5], [1, 1], [True], "1,2", 3])
def test_bad_branch_lists_fail_with_one_line(bad):
    with pytest.raises(ConfigError, match=r"ms_branches=.* is not valid: expected distinct branch numbers"):
        create_model("mgwp", 5, ms_branches=bad, **TINY)


def test_branches_and_input_size_are_preset_overrides():
    for size in ([128, 64], [192, 96], [192, 64], [256, 128]):
        p = get_preset("mgwp-smoke", input_size=size, **{"model_options.ms_branches": [1, 3],
                                                          "model_options.backbone_width": 0.125})
        assert p.input_size == tuple(size) and p.model_options["ms_branches"] == [1, 3]
        model = build_model(p, num_classes=3).train()
        out = model(torch.randn(2, 3, *p.input_size))
        assert all(torch.isfinite(v).all() for v in out["logits"].values())
        assert len(out["logits"]) == 2 + 1 + 6                      # stage3, stage4, multiscale, 6 parts
