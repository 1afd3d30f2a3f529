"""SynthReID's people: appearance sampling, hard-negative variants, the 3-D stick skeleton
and its drawing (PIL polygons at 2x resolution) with the landmarks' visibility.

Part of :mod:`reidlab.data.synthetic` (import from there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Optional, Sequence

import numpy as np
from PIL import ImageDraw

from reidlab.data.synthetic.config import RGB
from reidlab.errors import ConfigError

# --------------------------------------------------------------------------------------
# appearance
# --------------------------------------------------------------------------------------

# (name, rgb, weight): real clothing is mostly dark or neutral.
_CLOTH = (
    ("black", (28, 28, 32), 5.0), ("charcoal", (62, 62, 68), 3.0), ("grey", (125, 125, 128), 2.0),
    ("white", (222, 222, 216), 3.0), ("navy", (32, 42, 82), 3.0), ("blue", (50, 92, 172), 2.0),
    ("lightblue", (132, 170, 212), 1.5), ("red", (172, 32, 38), 1.5), ("maroon", (108, 28, 40), 1.0),
    ("green", (42, 112, 62), 1.0), ("olive", (98, 100, 52), 1.0), ("khaki", (182, 162, 112), 1.5),
    ("beige", (204, 188, 152), 1.0), ("brown", (102, 70, 46), 1.0), ("yellow", (222, 190, 52), 0.7),
    ("orange", (222, 112, 42), 0.6), ("pink", (222, 142, 172), 0.8), ("purple", (102, 62, 132), 0.7),
    ("denim", (62, 82, 122), 0.5),
)
_LOWER = (("black", 5.0), ("charcoal", 2.0), ("grey", 1.5), ("navy", 2.0), ("denim", 5.0), ("khaki", 2.0),
          ("beige", 1.0), ("brown", 1.0), ("white", 0.7), ("blue", 0.7), ("olive", 0.7), ("red", 0.3))
_SHOES = ((28, 28, 30), (60, 45, 35), (230, 230, 228), (120, 120, 125), (150, 40, 40), (40, 60, 120))
_SKIN = ((250, 218, 190), (238, 198, 164), (222, 178, 140), (198, 150, 110), (160, 112, 78), (118, 80, 56), (88, 60, 42))
_HAIR = ((20, 16, 14), (48, 32, 22), (92, 62, 38), (190, 160, 100), (150, 150, 150), (120, 58, 30))
_CLOTH_RGB = {n: c for n, c, _ in _CLOTH}


def _choice_w(rng: np.random.Generator, items: Sequence, weights: Sequence[float]):
    p = np.asarray(weights, dtype=np.float64)
    return items[int(rng.choice(len(items), p=p / p.sum()))]


def _jitter(rng: np.random.Generator, rgb: RGB, amount: float = 10.0) -> RGB:
    return tuple(int(np.clip(c + rng.normal(0.0, amount), 0, 255)) for c in rgb)  # type: ignore[return-value]


def _cloth(rng: np.random.Generator) -> RGB:
    name = _choice_w(rng, [c[0] for c in _CLOTH], [c[2] for c in _CLOTH])
    return _jitter(rng, _CLOTH_RGB[name])


def _lower_colour(rng: np.random.Generator) -> RGB:
    name = _choice_w(rng, [c[0] for c in _LOWER], [c[1] for c in _LOWER])
    return _jitter(rng, _CLOTH_RGB[name])


@dataclass(frozen=True)
class Person:
    """Appearance of one person (colours RGB 0-255; lengths in body-height units)."""

    height: float
    build: float
    leg_ratio: float
    skin: RGB
    hair: RGB
    hair_long: bool
    upper: RGB
    upper2: RGB
    upper_pattern: str  # "plain" | "stripes" | "logo"
    logo_shape: int  # 0 circle, 1 square, 2 triangle
    sleeves: str  # "long" | "short"
    lower_type: str  # "trousers" | "shorts" | "skirt"
    lower: RGB
    shoes: RGB
    backpack: Optional[RGB]
    handbag: Optional[RGB]
    handbag_side: int  # +1 person's left, -1 right
    hat: Optional[RGB]


def sample_person(rng: np.random.Generator) -> Person:
    """Draw a random appearance."""
    female = rng.random() < 0.45
    upper = _cloth(rng)
    upper2 = _cloth(rng)
    while sum(abs(a - b) for a, b in zip(upper, upper2)) < 120:
        upper2 = _cloth(rng)
    lower_type = _choice_w(rng, ["trousers", "shorts", "skirt"], [0.74, 0.14, 0.12] if female else [0.82, 0.18, 0.0])
    return Person(
        height=float(rng.uniform(0.92, 1.08)),
        build=float(rng.uniform(0.85, 1.2) * (0.93 if female else 1.0)),
        leg_ratio=float(rng.uniform(0.94, 1.06)),
        skin=_jitter(rng, _SKIN[int(rng.integers(len(_SKIN)))], 6.0),
        hair=_jitter(rng, _HAIR[int(rng.integers(len(_HAIR)))], 6.0),
        hair_long=bool(rng.random() < (0.65 if female else 0.08)),
        upper=upper,
        upper2=upper2,
        upper_pattern=_choice_w(rng, ["plain", "stripes", "logo"], [0.6, 0.2, 0.2]),
        logo_shape=int(rng.integers(3)),
        sleeves="long" if rng.random() < 0.6 else "short",
        lower_type=lower_type,
        lower=_lower_colour(rng),
        shoes=_jitter(rng, _SHOES[int(rng.integers(len(_SHOES)))], 6.0),
        backpack=_cloth(rng) if rng.random() < 0.3 else None,
        handbag=_cloth(rng) if rng.random() < (0.3 if female else 0.1) else None,
        handbag_side=int(rng.choice([-1, 1])),
        hat=_cloth(rng) if rng.random() < 0.15 else None,
    )


#: Local cues a hard-negative group member may change.
HARD_NEGATIVE_CUES = ("lower", "shoes", "bag", "hat")


def _vary_person(base: Person, cue: str, rng: np.random.Generator) -> Person:
    """Copy ``base`` with one local cue changed (guaranteed different)."""
    if cue == "lower":
        if rng.random() < 0.5:
            options = [t for t in ("trousers", "shorts", "skirt") if t != base.lower_type]
            return replace(base, lower_type=options[int(rng.integers(len(options)))])
        col = _lower_colour(rng)
        while sum(abs(a - b) for a, b in zip(col, base.lower)) < 90:
            col = _lower_colour(rng)
        return replace(base, lower=col)
    if cue == "shoes":
        col = _jitter(rng, _SHOES[int(rng.integers(len(_SHOES)))], 6.0)
        while sum(abs(a - b) for a, b in zip(col, base.shoes)) < 90:
            col = _jitter(rng, _SHOES[int(rng.integers(len(_SHOES)))], 6.0)
        return replace(base, shoes=col)
    if cue == "bag":
        if base.backpack is not None:
            return replace(base, backpack=None, handbag=None if rng.random() < 0.5 else _cloth(rng))
        if base.handbag is not None:
            return replace(base, handbag=None, backpack=_cloth(rng) if rng.random() < 0.5 else None)
        if rng.random() < 0.5:
            return replace(base, backpack=_cloth(rng))
        return replace(base, handbag=_cloth(rng))
    if cue == "hat":
        return replace(base, hat=None if base.hat is not None else _cloth(rng))
    raise ConfigError(f"unknown hard-negative cue {cue!r}; expected one of {HARD_NEGATIVE_CUES}")


# --------------------------------------------------------------------------------------
# skeleton and drawing
# --------------------------------------------------------------------------------------

# keypoint indices (COCO-18 / OpenPose order, see reidlab.data.records.KEYPOINT_NAMES)
NOSE, NECK, R_SH, R_EL, R_WR, L_SH, L_EL, L_WR, R_HIP, R_KNEE, R_ANK, L_HIP, L_KNEE, L_ANK, R_EYE, L_EYE, R_EAR, L_EAR = range(18)
_RIGHT_SIDE = (R_SH, R_EL, R_WR, R_HIP, R_KNEE, R_ANK, R_EYE, R_EAR)
_LEFT_SIDE = (L_SH, L_EL, L_WR, L_HIP, L_KNEE, L_ANK, L_EYE, L_EAR)


def view_label(yaw: float) -> str:
    """``"front"`` (|yaw| < 60 deg), ``"back"`` (|yaw| > 120 deg) or ``"side"``.

    ``yaw`` (radians) is the person's facing direction relative to the camera: 0 faces the
    camera, pi faces away, +pi/2 walks towards the image's right (right side nearer).
    """
    c = math.cos(yaw)
    return "front" if c > 0.5 else "back" if c < -0.5 else "side"


def far_side(yaw: float) -> Optional[str]:
    """For side views the body side away from the camera (``"left"``/``"right"``), else ``None``."""
    if view_label(yaw) != "side":
        return None
    return "left" if math.sin(yaw) > 0 else "right"


def skeleton(person: Person, yaw: float, phase: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """3-D joints of a walking person and their self-visibility.

    Body coordinates (height units, the person's total height is ``person.height``):
    ``x`` towards the person's left, ``y`` up from the floor, ``z`` forward. Projection for
    ``yaw``: image ``u = x cos(yaw) + z sin(yaw)`` (right in the image), depth
    ``d = z cos(yaw) - x sin(yaw)`` (towards the camera).

    Returns:
        ``(joints (18, 3) xyz, uv_depth (18, 3) [u, y, depth], self_visible (18,) bool)``.
    """
    h, b, lr = person.height, person.build, person.leg_ratio
    c, s = math.cos(yaw), math.sin(yaw)
    j = np.zeros((18, 3), dtype=np.float64)
    thigh, shin = 0.245 * h * lr, 0.235 * h * lr
    amp = 0.36
    legs = {}
    for side, ph in ((-1, phase), (1, phase + math.pi)):
        a = amp * math.sin(ph)  # thigh angle, + forward
        flex = 0.6 * max(0.0, math.cos(ph)) ** 1.5  # knee flex while the leg swings forward
        bb = a - flex
        knee = np.array([0.0, -thigh * math.cos(a), thigh * math.sin(a)])
        ankle = knee + np.array([0.0, -shin * math.cos(bb), shin * math.sin(bb)])
        legs[side] = (knee, ankle)
    drop = max(-legs[-1][1][1], -legs[1][1][1])
    hip_y = 0.045 * h + drop
    for side, (hip_i, knee_i, ank_i) in ((-1, (R_HIP, R_KNEE, R_ANK)), (1, (L_HIP, L_KNEE, L_ANK))):
        hip = np.array([side * 0.085 * b * h, hip_y, 0.0])
        knee, ankle = legs[side]
        j[hip_i], j[knee_i], j[ank_i] = hip, hip + knee + [side * 0.005, 0, 0], hip + ankle + [side * 0.01, 0, 0]
    torso_len = (0.815 - 0.525) * h
    sh_y = hip_y + torso_len
    neck_y = sh_y + 0.03 * h
    upper_arm, fore_arm = 0.165 * h, 0.155 * h
    for side, (sh_i, el_i, wr_i), ph in ((-1, (R_SH, R_EL, R_WR), phase), (1, (L_SH, L_EL, L_WR), phase + math.pi)):
        g = -0.55 * amp * math.sin(ph)
        e = 0.25 + 0.25 * max(0.0, -math.sin(ph))
        sh = np.array([side * 0.13 * b * h, sh_y, 0.0])
        el = sh + [side * 0.02 * h, -upper_arm * math.cos(g), upper_arm * math.sin(g)]
        wr = el + [side * 0.01 * h, -fore_arm * math.cos(g + e), fore_arm * math.sin(g + e)]
        j[sh_i], j[el_i], j[wr_i] = sh, el, wr
    head_y = neck_y + 0.085 * h
    j[NECK] = [0.0, neck_y, 0.0]
    j[NOSE] = [0.0, head_y - 0.005 * h, 0.058 * h]
    j[R_EYE] = [-0.024 * h, head_y + 0.012 * h, 0.048 * h]
    j[L_EYE] = [0.024 * h, head_y + 0.012 * h, 0.048 * h]
    j[R_EAR] = [-0.054 * h, head_y + 0.003 * h, -0.004 * h]
    j[L_EAR] = [0.054 * h, head_y + 0.003 * h, -0.004 * h]
    uvd = np.stack([j[:, 0] * c + j[:, 2] * s, j[:, 1], j[:, 2] * c - j[:, 0] * s], axis=1)

    vis = np.ones(18, dtype=bool)
    label = view_label(yaw)
    if c < -0.2:
        vis[[NOSE, R_EYE, L_EYE]] = False
    if label == "side":
        far = _LEFT_SIDE if s > 0 else _RIGHT_SIDE
        far_sh, far_el, far_wr, far_hip, far_knee, far_ank, far_eye, far_ear = far
        vis[[far_sh, far_el, far_wr, far_hip, far_eye, far_ear]] = False
        near_knee, near_ank = (R_KNEE, R_ANK) if s > 0 else (L_KNEE, L_ANK)
        sep = 0.07 * h * b
        if abs(uvd[far_knee, 0] - uvd[near_knee, 0]) < sep:
            vis[far_knee] = False
        if abs(uvd[far_ank, 0] - uvd[near_ank, 0]) < sep:
            vis[far_ank] = False
    return j, uvd, vis


class _Canvas:
    """Maps body coordinates (u, y in height units) to 2x-resolution pixels."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, foot_y: float, scale: float):
        self.d, self.cx, self.fy, self.k = draw, cx, foot_y, scale

    def p(self, u: float, y: float) -> tuple[float, float]:
        return (self.cx + self.k * u, self.fy - self.k * y)

    def capsule(self, a, b, width: float, fill: RGB) -> None:
        pa, pb = self.p(*a), self.p(*b)
        w = max(1.0, width * self.k)
        self.d.line([pa, pb], fill=fill, width=int(round(w)))
        r = w / 2.0
        for q in (pa, pb):
            self.d.ellipse([q[0] - r, q[1] - r, q[0] + r, q[1] + r], fill=fill)

    def poly(self, pts, fill: RGB) -> None:
        self.d.polygon([self.p(u, y) for u, y in pts], fill=fill)

    def ellipse(self, u: float, y: float, ru: float, ry: float, fill: RGB) -> None:
        x0, y0 = self.p(u - ru, y + ry)
        x1, y1 = self.p(u + ru, y - ry)
        if x1 - x0 >= 0.5 and y1 - y0 >= 0.5:
            self.d.ellipse([x0, y0, x1, y1], fill=fill)


def _draw_person(cv: _Canvas, person: Person, yaw: float, phase: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``person`` and return ``(uvd (18, 3), self_visible (18,))`` of its skeleton.

    Long: one drawing pass in painter's order whose local helpers (limbs, garments, head) share
    the projected skeleton; kept as one sequence so the order, which fixes the output bytes, is
    visible in one place."""
    _, uvd, vis = skeleton(person, yaw, phase)
    h, b = person.height, person.build
    c, s = math.cos(yaw), math.sin(yaw)
    ac, as_ = abs(c), abs(s)
    U = lambda i: (uvd[i, 0], uvd[i, 1])  # noqa: E731
    lower_on_thigh = person.lower_type in ("trousers", "shorts")
    hip_y = uvd[R_HIP, 1]
    sh_y = uvd[R_SH, 1]
    neck_y = uvd[NECK, 1]
    head_y = neck_y + 0.085 * h
    fwd = s  # image direction of "forward" in side views

    def leg(side: int) -> None:
        hip_i, knee_i, ank_i = (R_HIP, R_KNEE, R_ANK) if side < 0 else (L_HIP, L_KNEE, L_ANK)
        tw, sw = 0.078 * b * h, 0.058 * b * h
        if person.lower_type == "trousers":
            cv.capsule(U(hip_i), U(knee_i), tw, person.lower)
            cv.capsule(U(knee_i), U(ank_i), sw + 0.006 * h, person.lower)
        else:
            cv.capsule(U(knee_i), U(ank_i), sw * 0.85, person.skin)
            if person.lower_type == "shorts":
                cv.capsule(U(hip_i), U(knee_i), tw * 0.9, person.skin)
                mid = (0.45 * uvd[hip_i, 0] + 0.55 * uvd[knee_i, 0], 0.45 * uvd[hip_i, 1] + 0.55 * uvd[knee_i, 1])
                cv.capsule(U(hip_i), mid, tw * 1.05, person.lower)
            else:
                cv.capsule(U(hip_i), U(knee_i), tw * 0.85, person.skin)
        au, ay = U(ank_i)
        cv.ellipse(au + fwd * 0.025 * h, ay - 0.02 * h, (0.03 + 0.035 * as_) * h, 0.022 * h, person.shoes)

    def arm(side: int) -> None:
        sh_i, el_i, wr_i = (R_SH, R_EL, R_WR) if side < 0 else (L_SH, L_EL, L_WR)
        aw = 0.052 * b * h
        cv.capsule(U(el_i), U(wr_i), aw * 0.8, person.upper if person.sleeves == "long" else person.skin)
        cv.capsule(U(sh_i), U(el_i), aw, person.upper)
        wu, wy = U(wr_i)
        cv.ellipse(wu, wy - 0.01 * h, 0.017 * h, 0.021 * h, person.skin)

    def torso() -> None:
        hw_sh = 0.118 * b * h * ac + 0.07 * h * as_
        hw_hip = 0.1 * b * h * ac + 0.075 * h * as_
        hw_w = 0.098 * b * h * ac + 0.066 * h * as_
        bottom = hip_y - 0.035 * h
        waist = (sh_y + bottom) / 2
        if lower_on_thigh:  # pelvis in the lower garment
            cv.poly([(-hw_hip, hip_y + 0.02 * h), (hw_hip, hip_y + 0.02 * h), (hw_hip * 0.95, hip_y - 0.06 * h), (-hw_hip * 0.95, hip_y - 0.06 * h)], person.lower)
        if person.lower_type == "skirt":
            sw0, sw1 = hw_hip * 1.02, 0.15 * b * h * ac + 0.1 * h * as_
            ky = uvd[R_KNEE, 1] + 0.03 * h
            cv.poly([(-sw0, hip_y + 0.01 * h), (sw0, hip_y + 0.01 * h), (sw1, ky), (-sw1, ky)], person.lower)
        pts = [(-hw_sh, sh_y + 0.012 * h), (hw_sh, sh_y + 0.012 * h), (hw_w, waist), (hw_hip, bottom), (-hw_hip, bottom), (-hw_w, waist)]
        cv.poly(pts, person.upper)
        r = 0.03 * h
        for side in (-1, 1):
            cv.ellipse(side * (hw_sh - r * 0.9), sh_y - 0.008 * h, r, r * 0.8, person.upper)
        if person.upper_pattern == "stripes":
            n = 4
            for k in range(n):
                y0 = sh_y - 0.03 * h - k * (sh_y - bottom - 0.03 * h) / n
                y1 = y0 - 0.45 * (sh_y - bottom - 0.03 * h) / n
                def hw_at(y):
                    t = (sh_y - y) / (sh_y - bottom)
                    return hw_sh + (hw_w - hw_sh) * 2 * t if t < 0.5 else hw_w + (hw_hip - hw_w) * (2 * t - 1)
                cv.poly([(-hw_at(y0), y0), (hw_at(y0), y0), (hw_at(y1), y1), (-hw_at(y1), y1)], person.upper2)
        elif person.upper_pattern == "logo" and c > 0.3:
            lu, ly, r = 0.03 * h * s, sh_y - 0.1 * h, 0.04 * h * (0.6 + 0.4 * c)
            if person.logo_shape == 0:
                cv.ellipse(lu, ly, r * c, r, person.upper2)
            elif person.logo_shape == 1:
                cv.poly([(lu - r * c, ly + r), (lu + r * c, ly + r), (lu + r * c, ly - r), (lu - r * c, ly - r)], person.upper2)
            else:
                cv.poly([(lu, ly + r * 1.1), (lu + r * c * 1.1, ly - r), (lu - r * c * 1.1, ly - r)], person.upper2)

    def backpack() -> None:
        if person.backpack is None or c > 0.5:  # front views: hidden behind the body
            return
        bu = -0.13 * h * s
        half = 0.1 * b * h * ac + 0.06 * h * as_
        top, bot = sh_y - 0.02 * h, sh_y - 0.28 * h
        cv.poly([(bu - half, top), (bu + half, top), (bu + half * 1.05, bot), (bu - half * 1.05, bot)], person.backpack)
        cv.ellipse(bu, top, half, 0.03 * h, person.backpack)
        if c < -0.5:  # pocket
            dark = tuple(int(v * 0.7) for v in person.backpack)
            cv.poly([(bu - half * 0.6, bot + 0.1 * h), (bu + half * 0.6, bot + 0.1 * h), (bu + half * 0.6, bot + 0.02 * h), (bu - half * 0.6, bot + 0.02 * h)], dark)

    def handbag() -> None:
        if person.handbag is None:
            return
        x = person.handbag_side * 0.17 * b * h
        bu = x * c
        sh_i = L_SH if person.handbag_side > 0 else R_SH
        half = 0.07 * h * (0.45 + 0.55 * as_)
        top, bot = hip_y + 0.03 * h, hip_y - 0.11 * h
        strap = tuple(int(v * 0.6) for v in person.handbag)
        cv.capsule(U(sh_i), (bu, top), 0.012 * h, strap)
        cv.poly([(bu - half, top), (bu + half, top), (bu + half * 1.1, bot), (bu - half * 1.1, bot)], person.handbag)

    def head() -> None:
        rx, ry = 0.052 * h, 0.064 * h
        hu = 0.0
        cv.capsule((0.0, sh_y), (0.0, neck_y + 0.02 * h), 0.05 * h, person.skin)
        cv.ellipse(hu, head_y, rx, ry, person.hair)
        if c > -0.45:  # face visible
            fu = hu + s * rx * 0.4
            frx = rx * (0.82 - 0.3 * as_) * min(1.0, 0.55 + c)
            cv.ellipse(fu, head_y - 0.018 * h, frx, ry * 0.74, person.skin)
            if c > 0.3:
                eye = tuple(int(v * 0.35) for v in person.skin)
                for i in (R_EYE, L_EYE):
                    cv.ellipse(uvd[i, 0], uvd[i, 1], 0.008 * h, 0.006 * h, eye)
        if person.hat is not None:
            cv.ellipse(hu, head_y + 0.045 * h, rx * 1.08, ry * 0.55, person.hat)
            cv.ellipse(hu + fwd * 0.03 * h + 0.0, head_y + 0.025 * h, rx * (0.9 + 0.4 * as_), 0.014 * h, person.hat)

    def long_hair(front: bool) -> None:
        if not person.hair_long:
            return
        w0 = 0.058 * h
        w1 = 0.075 * h * (0.7 + 0.3 * ac)
        u0 = -s * 0.02 * h
        y1 = sh_y - (0.06 if front else 0.1) * h
        cv.poly([(u0 - w0, head_y), (u0 + w0, head_y), (u0 + w1, y1), (u0 - w1, y1)], person.hair)

    # painter's order: things behind the torso, legs, torso, things in front
    far_arm_sides = [sd for sd, i in ((-1, R_SH), (1, L_SH)) if uvd[i, 2] < -0.04 * h]
    near_arm_sides = [sd for sd in (-1, 1) if sd not in far_arm_sides]
    bag_behind = person.handbag is not None and -(person.handbag_side * 0.17 * b * h) * s < -0.03 * h
    if c > -0.3:
        backpack()  # behind the torso (front and side views)
        long_hair(True)
    for sd in far_arm_sides:
        arm(sd)
    if bag_behind:
        handbag()
    for sd in sorted((-1, 1), key=lambda sd: uvd[R_KNEE if sd < 0 else L_KNEE, 2]):
        leg(sd)
    torso()
    if c <= -0.3:
        backpack()
    head()
    if c <= -0.3:
        long_hair(False)
    for sd in near_arm_sides:
        arm(sd)
    if person.handbag is not None and not bag_behind:
        handbag()
    return uvd, vis
