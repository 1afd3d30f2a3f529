"""BatchAugment: geometry (flip, pad+crop, resize) on pixels and keypoints, erasing, determinism."""

from __future__ import annotations

import pytest
import torch

from reidlab.data import (
    FLIP_PERMUTATION, IMAGENET_MEAN, IMAGENET_STD, BatchAugment, denormalize, eval_transform,
    hflip_keypoints, make_generator,
)


def _rand_uint8(b=4, h=16, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)


def _to_uint8(x):
    return (denormalize(x) * 255).round().to(torch.uint8)


def test_identity_settings_equal_eval_transform():
    x = _rand_uint8()
    aug = BatchAugment(size=(16, 8), flip_p=0.0, pad=0, erase_p=0.0)
    out, kp = aug(x, generator=make_generator(0))
    assert out.dtype == torch.float32 and out.shape == (4, 3, 16, 8) and kp is None
    ref = eval_transform(x, (16, 8))
    assert torch.allclose(out, ref, atol=1e-6)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(ref, (x.float() / 255 - mean) / std, atol=1e-6)
    assert torch.equal(_to_uint8(out), x)                       # denormalize inverts exactly


def test_flip_twice_is_identity_and_matches_torch_flip():
    x = _rand_uint8()
    aug = BatchAugment(size=(16, 8), flip_p=1.0, pad=0, erase_p=0.0)
    once, _ = aug(x, generator=make_generator(1))
    assert torch.allclose(once, eval_transform(x.flip(-1), (16, 8)), atol=1e-6)
    twice, _ = aug(_to_uint8(once), generator=make_generator(2))
    assert torch.allclose(twice, eval_transform(x, (16, 8)), atol=1e-6)
    kp = torch.rand(4, 18, 3) * torch.tensor([8.0, 16.0, 1.0])
    kp[..., 2] = 1.0
    back = hflip_keypoints(hflip_keypoints(kp, 8.0), 8.0)
    assert torch.allclose(back, kp, atol=1e-5)


def test_flip_keypoints_swap_left_right():
    kp = torch.zeros(1, 18, 3)
    kp[0, 2] = torch.tensor([1.5, 4.5, 1.0])        # r_shoulder at pixel column 1
    aug = BatchAugment(size=(16, 8), flip_p=1.0, pad=0, erase_p=0.0)
    _, out = aug(torch.zeros(1, 3, 16, 8, dtype=torch.uint8), kp, generator=make_generator(0))
    assert FLIP_PERMUTATION[5] == 2
    assert out[0, 5].tolist() == [8 - 1.5, 4.5, 1.0]      # now the l_shoulder, x -> W - x
    assert out[0, 2].tolist() == [0.0, 0.0, 0.0]


def _dot_batch(b, h, w, gen):
    """Black images with one white pixel each; its keypoint (landmark 2) at the pixel centre."""
    rows = torch.randint(0, h, (b,), generator=gen)
    cols = torch.randint(0, w, (b,), generator=gen)
    x = torch.zeros(b, 3, h, w, dtype=torch.uint8)
    x[torch.arange(b), :, rows, cols] = 255
    kp = torch.zeros(b, 18, 3)
    kp[:, 2, 0] = cols.float() + 0.5
    kp[:, 2, 1] = rows.float() + 0.5
    kp[:, 2, 2] = 1.0
    return x, kp


def test_keypoints_follow_pixels_through_flip_pad_crop():
    gen = torch.Generator().manual_seed(3)
    x, kp = _dot_batch(256, 24, 12, gen)
    aug = BatchAugment(size=(24, 12), flip_p=0.5, pad=6, erase_p=0.0)
    out, kp_out = aug(x, kp, generator=make_generator(4))
    flipped = aug.last_params["flip"]
    assert 0 < int(flipped.sum()) < 256
    bright = _to_uint8(out)[:, 0] > 127                                      # [B, H, W]
    seen = bright.flatten(1).any(1)
    vis = kp_out[..., 2] > 0
    assert vis.sum(1).max() <= 1                                             # one landmark, possibly moved
    assert torch.equal(vis.any(1), seen)                                     # cropped away <-> invisible
    assert 0 < int((~seen).sum()) < 256                                      # both cases occur
    for i in torch.nonzero(seen).flatten().tolist():
        r, c = divmod(int(bright[i].flatten().float().argmax()), 12)
        j = 5 if flipped[i] else 2                                           # flip swaps left/right
        assert vis[i, j]
        assert kp_out[i, j, :2].tolist() == [c + 0.5, r + 0.5]
    assert (kp_out[~vis][:, :2] == 0).all()
    off = aug.last_params["offset"]
    assert off.min() >= 0 and off.max() <= 12 and off.unique().numel() > 5


def test_keypoints_follow_pixels_through_resize():
    gen = torch.Generator().manual_seed(5)
    x, kp = _dot_batch(16, 16, 8, gen)
    aug = BatchAugment(size=(32, 16), flip_p=0.5, pad=0, erase_p=0.0)
    out, kp_out = aug(x, kp, generator=make_generator(6))
    img = denormalize(out)[:, 0]                                              # [B, 32, 16]
    ys = torch.arange(32).float().view(1, 32, 1) + 0.5
    xs = torch.arange(16).float().view(1, 1, 16) + 0.5
    mass = img.sum((1, 2))
    cy, cx = (img * ys).sum((1, 2)) / mass, (img * xs).sum((1, 2)) / mass
    j = torch.where(aug.last_params["flip"], 5, 2)
    kx, ky = kp_out[torch.arange(16), j, 0], kp_out[torch.arange(16), j, 1]
    # interior dots: blob centroid = transformed keypoint (edge dots are clipped by the border)
    interior = (kx > 2) & (kx < 14) & (ky > 2) & (ky < 30)
    assert interior.sum() >= 4
    assert torch.allclose(cx[interior], kx[interior], atol=0.05) and torch.allclose(cy[interior], ky[interior], atol=0.05)


@pytest.mark.parametrize("fill", ["mean", "random"])
def test_random_erasing_area_ratio_and_fill(fill):
    b, H, W = 200, 64, 32
    x = torch.full((b, 3, H, W), 255, dtype=torch.uint8)
    aug = BatchAugment(size=(H, W), flip_p=0.0, pad=0, erase_p=1.0, erase_fill=fill)
    out, _ = aug(x, generator=make_generator(7))
    white = eval_transform(x[:1], (H, W))[0]
    erased = (out != white).any(1)                                           # [B, H, W]
    top, left, eh, ew = aug.last_params["erase"].unbind(1)
    assert (eh > 0).float().mean() > 0.97                                    # nearly always a fitting rectangle
    for i in range(b):
        if eh[i] == 0:
            assert not erased[i].any()
            continue
        rect = torch.zeros(H, W, dtype=torch.bool)
        rect[top[i]:top[i] + eh[i], left[i]:left[i] + ew[i]] = True
        if fill == "mean":
            assert torch.equal(erased[i], rect)
            assert (out[i][:, rect].abs() < 1e-6).all()                      # mean colour -> 0
        else:
            assert not erased[i][~rect].any() and erased[i][rect].float().mean() > 0.95
        area = float(eh[i] * ew[i]) / (H * W)
        assert 0.02 * 0.8 <= area <= 0.4 * 1.2                               # rounding of h, w
        assert 0.3 * 0.7 <= float(eh[i]) / float(ew[i]) <= 3.3 * 1.4
    if fill == "random":
        vals = denormalize(out)[erased[:, None].expand(-1, 3, -1, -1)]
        assert vals.std() > 0.2 and 0.4 < vals.mean() < 0.6                  # uniform [0, 1] colours


def test_probabilities():
    x = _rand_uint8(b=1000, h=8, w=4)
    aug = BatchAugment(size=(8, 4), flip_p=0.3, pad=2, erase_p=0.6, erase_area=(0.1, 0.3))
    aug(x, generator=make_generator(8))
    p = aug.last_params
    assert abs(p["flip"].float().mean().item() - 0.3) < 0.05
    assert abs((p["erase"][:, 2] > 0).float().mean().item() - 0.6) < 0.06


def test_deterministic_given_generator():
    x = _rand_uint8(b=8, h=20, w=10)
    kp = torch.rand(8, 18, 3) * torch.tensor([10.0, 20.0, 1.0])
    aug = BatchAugment(size=(24, 12), pad=3)
    a, ka = aug(x, kp, generator=make_generator(11))
    b, kb = aug(x, kp, generator=make_generator(11))
    c, _ = aug(x, kp, generator=make_generator(12))
    assert torch.equal(a, b) and torch.equal(ka, kb) and not torch.equal(a, c)
    torch.manual_seed(0)
    d, _ = aug(x)
    torch.manual_seed(0)
    e, _ = aug(x)
    assert torch.equal(d, e)


def test_bad_input():
    aug = BatchAugment(size=(16, 8))
    with pytest.raises(ValueError, match="expected uint8 images"):
        aug(torch.zeros(2, 3, 16, 8))
    with pytest.raises(ValueError, match="keypoints must be"):
        aug(torch.zeros(2, 3, 16, 8, dtype=torch.uint8), torch.zeros(2, 17, 3))
    with pytest.raises(ValueError, match="erase_fill"):
        BatchAugment(erase_fill="noise")


def test_eval_transform_single_image_and_resize():
    x = torch.full((3, 8, 4), 128, dtype=torch.uint8)
    y = eval_transform(x, (16, 8))
    assert y.shape == (3, 16, 8)
    assert torch.allclose(denormalize(y), torch.full((3, 16, 8), 128 / 255), atol=1e-5)
