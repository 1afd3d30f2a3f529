"""SynthReID's renderer: one planned shot to JPEG bytes and its landmarks (camera effects,
occluders, detector-box jitter).

Part of :mod:`reidlab.data.synthetic` (import from there).
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reidlab.data.synthetic.config import _T_DISTR, _T_IMG, _T_JUNK, RGB, SynthConfig, _appearance_rng, _rng
from reidlab.data.synthetic.person import _Canvas, _draw_person, sample_person
from reidlab.data.synthetic.world import Plan, Shot

# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------


def render_shot(plan: Plan, shot: Shot, backgrounds: Sequence[np.ndarray]) -> tuple[bytes, np.ndarray]:
    """Render one image: ``(JPEG bytes, keypoints (18, 3) float32 in written-image pixels)``.

    Keypoints use continuous pixel coordinates (the image spans ``[0, W] x [0, H]``); a
    landmark is visible when inside the image, not self-occluded and not under an occluder.

    Long: one image's pipeline in the order of its random draws (background crop, person,
    occluders, camera effects, box, JPEG); the draw order fixes the output bytes, so it stays
    one sequence that reads top to bottom.
    """
    cfg = plan.config
    cam = plan.cameras[shot.cam - 1]
    H, W = cfg.height, cfg.width
    H2, W2 = 2 * H, 2 * W
    rng = _rng(cfg.seed, _T_IMG, zlib.crc32(shot.split.encode()), shot.key, shot.cam, shot.global_frame, shot.box,
               {"id": 0, "gt": 1, "distractor": 2, "junk": 3}[shot.kind])
    bg = backgrounds[shot.cam - 1]
    x0 = int(rng.integers(0, bg.shape[1] - W2 + 1))
    crop = bg[:, x0:x0 + W2]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    img = Image.fromarray(np.ascontiguousarray(crop))
    draw = ImageDraw.Draw(img)
    cj = cfg.crop_jitter * (0.45 if shot.kind == "gt" else 1.0)

    if shot.kind == "distractor":
        person = sample_person(_appearance_rng(cfg, _T_DISTR, shot.key, 1))
    elif shot.kind == "junk":
        person = sample_person(_appearance_rng(cfg, _T_JUNK, shot.key, 1))
    else:
        person = plan.person(shot.key)

    frac = cam.person_frac * math.exp(rng.normal(0.0, 0.06 * cj))
    cx = W2 / 2 + rng.normal(0.0, 0.06 * W2 * cj)
    top = (H2 - frac * H2) / 2 + rng.normal(0.0, 0.03 * H2 * cj)
    cut = rng.random()
    if shot.kind != "gt" and cut < cfg.cut_prob / 2:
        top -= rng.uniform(0.08, 0.22) * H2  # head (partly) cut off
    elif shot.kind != "gt" and cut < cfg.cut_prob:
        top += rng.uniform(0.08, 0.22) * H2  # feet cut off
    if shot.kind == "distractor":  # badly framed detections: too big / off-centre / partial
        frac *= rng.uniform(1.0, 1.6)
        cx += rng.choice([-1, 1]) * rng.uniform(0.1, 0.45) * W2
        top -= rng.uniform(0.0, 0.35) * frac * H2
    scale = frac * H2 / person.height
    foot_y = top + frac * H2

    if shot.kind == "junk":
        kp = np.zeros((18, 3), dtype=np.float32)
        if rng.random() < 0.5:  # fragment of a person at the edge
            scale *= rng.uniform(1.2, 2.5)
            cx = rng.choice([-0.35, 1.35]) * W2 * rng.uniform(0.8, 1.0)
            _draw_person(_Canvas(draw, cx, foot_y + rng.uniform(0, 0.5) * H2, scale), person, shot.yaw, shot.phase)
    else:
        # ground shadow
        fl = np.asarray(cam.floor, np.float32) * 0.55
        sw = 0.16 * scale
        draw.ellipse([cx - sw, foot_y - 0.015 * scale, cx + sw, foot_y + 0.02 * scale], fill=tuple(int(v) for v in fl))
        uvd, vis = _draw_person(_Canvas(draw, cx, foot_y, scale), person, shot.yaw, shot.phase)
        # PIL draws coordinate p on pixel round(p), whose continuous span is [p - 0.5, p + 0.5)
        px = cx + scale * uvd[:, 0] + 0.5
        py = foot_y - scale * uvd[:, 1] + 0.5
        occluder = None
        if rng.random() < cfg.occlusion_prob:
            occluder = _occluder(cfg, rng, plan, shot, W2, H2, cx, foot_y, scale)
            img.paste(occluder, (0, 0), occluder)
        inside = (px >= 0) & (px < W2 - 0.01) & (py >= 0) & (py < H2 - 0.01)  # strict after rounding to 1/1000 px
        vis = vis & inside
        if occluder is not None:
            alpha = np.asarray(occluder.getchannel("A"))
            xi = np.clip(px.astype(np.int64), 0, W2 - 1)
            yi = np.clip(py.astype(np.int64), 0, H2 - 1)
            vis = vis & (alpha[yi, xi] < 128)
        kp = np.zeros((18, 3), dtype=np.float32)
        kp[:, 0] = np.where(vis, px / 2.0, 0.0)
        kp[:, 1] = np.where(vis, py / 2.0, 0.0)
        kp[:, 2] = vis

    img = img.reduce(2)
    if cam.low_res < 1.0:
        small = img.resize((max(8, int(W * cam.low_res)), max(16, int(H * cam.low_res))), Image.BILINEAR)
        img = small.resize((W, H), Image.BILINEAR)
    sigma = cam.blur_sigma + abs(rng.normal(0.0, 0.25 * cfg.blur))
    if shot.kind == "junk":
        sigma += rng.uniform(0.0, 1.5)
    if sigma > 0.3:
        img = img.filter(ImageFilter.GaussianBlur(sigma))
    arr = np.asarray(img, dtype=np.float32) / 255.0
    gamma = cam.gamma * math.exp(rng.normal(0.0, 0.05 * cfg.illumination))
    arr = arr ** gamma
    gain = cam.gain * math.exp(rng.normal(0.0, 0.1 * cfg.illumination))
    cast = np.asarray(cam.cast, np.float32) * (1.0 + rng.normal(0.0, 0.02 * cfg.colour_cast, 3)).astype(np.float32)
    arr = arr * (gain * cast)
    if cfg.illumination > 0:  # shading ramp (light from one side / top)
        strength = rng.uniform(0.0, 0.25) * cfg.illumination
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if rng.random() < 0.5:
            ramp = np.linspace(1 - sign * strength, 1 + sign * strength, W, dtype=np.float32)[None, :, None]
        else:
            ramp = np.linspace(1 - sign * strength, 1 + sign * strength, H, dtype=np.float32)[:, None, None]
        arr = arr * ramp
    arr = arr * 255.0 + rng.normal(0.0, cam.noise, arr.shape).astype(np.float32)
    out = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
    q = int(rng.integers(cam.jpeg[0], cam.jpeg[1] + 1))
    buf = io.BytesIO()
    out.save(buf, format="JPEG", quality=q, subsampling=2, optimize=False)
    return buf.getvalue(), kp


def _muted(rng: np.random.Generator, lo: float, hi: float) -> RGB:
    """A greyish colour with a small random tint."""
    base = rng.uniform(lo, hi)
    return tuple(int(np.clip(base + rng.normal(0.0, 25.0), 0, 255)) for _ in range(3))  # type: ignore[return-value]


def _occluder(cfg: SynthConfig, rng: np.random.Generator, plan: Plan, shot: Shot, W2: int, H2: int,
              cx: float, foot_y: float, scale: float) -> Image.Image:
    """RGBA layer with an occluder: another person, a low object or a pole (alpha = mask)."""
    layer = Image.new("RGBA", (W2, H2), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    kind = rng.choice(["person", "object", "pole"], p=[0.45, 0.4, 0.15])
    if kind == "person":
        other = sample_person(_appearance_rng(cfg, _T_IMG, 77, shot.key, shot.global_frame, shot.cam))
        side = rng.choice([-1.0, 1.0])
        ocx = cx + side * rng.uniform(0.45, 0.8) * W2
        s2 = scale * rng.uniform(1.0, 1.3)
        yaw = float(rng.uniform(-math.pi, math.pi))
        _draw_person(_Canvas(d, ocx, foot_y + rng.uniform(0.0, 0.25) * H2, s2), other, yaw, float(rng.uniform(0, 2 * math.pi)))
        alpha = layer.getchannel("A").point(lambda a: 255 if a else 0)
        layer.putalpha(alpha)
    elif kind == "object":
        w = rng.uniform(0.4, 1.1) * W2
        h = rng.uniform(0.12, 0.4) * H2
        ox = rng.uniform(-0.3, 1.0) * W2
        col = _muted(rng, 40, 200) + (255,)
        if rng.random() < 0.5:
            d.rectangle([ox, H2 - h, ox + w, H2], fill=col)
            d.rectangle([ox, H2 - h, ox + w, H2 - h + 4], fill=tuple(int(v * 0.7) for v in col[:3]) + (255,))
        else:
            d.ellipse([ox, H2 - h, ox + w, H2 + h], fill=col)
    else:
        w = rng.uniform(0.08, 0.2) * W2
        ox = rng.uniform(0.0, 1.0) * W2 - w / 2
        col = _muted(rng, 50, 180) + (255,)
        d.rectangle([ox, 0, ox + w, H2], fill=col)
    return layer
