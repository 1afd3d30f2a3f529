"""jlpose's backbone at the joint-loss paper's Table I input (219x103): channels as printed,
map sizes as documented in InceptionJLBackbone (where they differ from Table I and why)."""

from __future__ import annotations

import itertools
import math

import torch

from reidlab.models import create_model
from reidlab.models.backbones import InceptionJLBackbone
from reidlab.presets import get_preset

#: Table I as printed: module -> (output H x W, channels)
TABLE_I = {
    "conv1_3": ((53, 25), 64), "conv2_x": ((51, 23), 192), "conv3_x": ((51, 23), 288),
    "conv4_x": ((51, 23), 288), "conv5_x": ((25, 11), 768), "conv6_x": ((25, 11), 768),
    "conv7_x": ((25, 11), 768), "conv8_x": ((25, 11), 768), "conv9_x": ((12, 5), 1280),
}
#: ours at 219x103 (the backbone docstring's table)
OURS = {"conv1_3": (53, 24), "conv2_x": (53, 24), "conv3_x": (53, 24), "conv4_x": (53, 24),
        "conv5_x": (26, 11), "conv6_x": (26, 11), "conv7_x": (26, 11), "conv8_x": (26, 11), "conv9_x": (12, 5)}


def test_map_sizes_and_channels_at_table_i_input():
    assert get_preset("jlpose-paper").input_size == (219, 103)
    bb = InceptionJLBackbone(width=1.0).eval()
    names = ["conv1_3", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "conv6_x", "conv7_x", "conv8_x", "conv9_x"]
    mods = list(bb.lower.children()) + list(bb.upper.children())
    x = torch.zeros(1, 3, 219, 103)
    got = {}
    with torch.no_grad():
        for name, m in zip(names, mods):
            x = m(x)
            got[name] = (tuple(x.shape[-2:]), x.shape[1])
    assert {n: c for n, (_, c) in got.items()} == {n: c for n, (_, c) in TABLE_I.items()}   # channels as printed
    assert {n: s for n, (s, _) in got.items()} == OURS
    assert got["conv9_x"][0] == TABLE_I["conv9_x"][0]                                     # final map as printed
    differ = sorted(n for n in names if got[n][0] != TABLE_I[n][0])
    assert differ == ["conv1_3", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "conv6_x", "conv7_x", "conv8_x"]


def test_no_symmetric_stride_4_stem_gives_table_i_53x25():
    """The docstring's claim: over paddings 0/1 of three 3x3 convs (first stride 2) and a
    3x3/2 max pool, floor or ceil, 219x103 never becomes 53x25; 53 rows come with 24 columns."""
    def out(n, k, s, p, ceil=False):
        v = (n + 2 * p - k) / s
        return (math.ceil(v) if ceil else math.floor(v)) + 1

    sizes = set()
    for p1, p2, p3, pp, ceil in itertools.product((0, 1), (0, 1), (0, 1), (0, 1), (False, True)):
        f = lambda n: out(out(out(out(n, 3, 2, p1), 3, 1, p2), 3, 1, p3), 3, 2, pp, ceil)  # noqa: E731, B023 (called at once)
        sizes.add((f(219), f(103)))
    assert (53, 25) not in sizes and (53, 24) in sizes
    assert sorted(sizes) == [(52, 23), (53, 24), (54, 25), (55, 26), (56, 27)]


def test_jlpose_runs_at_the_paper_input():
    m = create_model("jlpose", 4, backbone_width=0.125).eval()
    kp = torch.zeros(2, 18, 3)
    with torch.no_grad():
        f = m(torch.randn(2, 3, 219, 103), keypoints=kp)
    assert f.shape == (2, 576) and torch.isfinite(f).all()
