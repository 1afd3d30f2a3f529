"""SynthReID: the embedded, offline person re-ID benchmark (cameras, time, body landmarks).

``generate(out_dir, SynthConfig(...))`` (or ``reidlab synth --out data/synthreid``) writes a
dataset in the exact Market-1501 layout, so ``load_dataset("market1501", root)`` reads it
unchanged::

    <root>/bounding_box_train/  0042_c3s2_001234_01.jpg   training identities
    <root>/bounding_box_test/   gallery: test identities + distractors (0000_...) + junk (-1_...)
    <root>/query/               one image per test identity and camera it appears in
    <root>/gt_bbox/             hand-drawn-like boxes of the query visits (multi-query)
    <root>/keypoints.json       18 OpenPose/COCO-18 landmarks per image (x, y, v), see below
    <root>/sequence_lengths.json  {"c1": [len_s1, ...], ...} frames of each camera's sequences
    <root>/manifest.csv         the generator's ground truth, one row per image
    <root>/synthreid.json       generation parameters, seed, camera topology, identities
    <root>/.complete            written last (the Makefile tests it)

Names follow Market: ``{pid:04d}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg`` with ``cam`` and
``seq`` 1-based single digits and ``frame`` the frame within that sequence (restarting in
every sequence). All cameras share one wall clock at :data:`FPS` frames per second; the
camera's timeline ``[0, duration)`` is cut into sequences whose lengths are written to
``sequence_lengths.json``, so a reader that lays the sequences end to end recovers the
wall-clock frame (``manifest.csv`` column ``global_frame``), comparable across cameras.

The world:

* **People** are drawn procedurally (PIL polygons at 2x resolution, box-downsampled): a 3-D
  stick skeleton (body proportions, walking phase) projected orthographically for a yaw
  angle (front / back / side / oblique), with skin, hair, upper garment (plain / stripes /
  logo on the front only; long or short sleeves), lower garment (trousers / shorts / skirt),
  shoes and accessories (backpack: hidden by the torso in front views, handbag, hat). The
  landmarks are the projected skeleton joints; a landmark is visible (``v = 1``) when it lies
  inside the written image, is not self-occluded (far arm / hip / eye / ear in side views,
  face landmarks in back views, the far leg when the legs overlap) and not covered by an
  occluder. Hidden landmarks are written as ``(0, 0, 0)``; junk boxes (pid ``-1``) carry no
  landmarks (all hidden).
* **Cameras** have their own illumination gain and gamma, colour cast, background (wall
  gradient, doors/windows, floor texture), typical person scale, detector-box jitter (with
  heads or feet sometimes cut off), occluders (objects, poles, other people), blur or
  low resolution, sensor noise and JPEG quality, and a dominant walking direction (frontal,
  lateral or oblique views).
* **Hard negatives**: a share of identities come in groups that copy one appearance and
  differ only in one or two local cues (lower garment, shoes, bag, hat).
* **Time**: a directed camera graph with log-normal transit times (means of tens of seconds
  to minutes). Each identity enters at a random time, walks a path through 2-4 cameras
  following the graph's transition probabilities, and is visible a few seconds per camera;
  the detector keeps a few boxes from that visit. A share of walkers go off the usual paths
  (uniformly random next camera and transit time). Train and test identities walk the same
  graph, so a spatial-temporal model fitted on train transfers to test. Distractors and
  junk boxes appear at random cameras and times.

Determinism: every random draw comes from ``numpy.random.Generator(PCG64(SeedSequence(keys)))``
with keys derived from the seed and the object (identity, visit, image), so the output does
not depend on iteration order; JPEG settings are fixed and JSON keys sorted: the same seed
gives byte-identical files (same numpy / Pillow versions).

Camera numbers are **1-based** in file names, ``manifest.csv`` and ``synthreid.json``
(``cam``); ``ImageRecord.camid`` (0-based) is ``cam - 1``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import shutil
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from reidlab.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)

#: Frames per second of every camera (one shared wall clock).
FPS = 25
#: Format version written to ``synthreid.json``.
FORMAT_VERSION = 1
#: Split folders in Market-1501 order.
SPLITS = ("bounding_box_train", "bounding_box_test", "query", "gt_bbox")

PathLike = Union[str, os.PathLike]
RGB = tuple[int, int, int]

# Seed-sequence tags (keep fixed: changing one changes every dataset).
_T_TOPO, _T_CAM, _T_PERSON, _T_WALK, _T_IMG, _T_GROUP, _T_DISTR, _T_JUNK, _T_SPLIT, _T_VAR, _T_SEQ = range(1, 12)
#: Marker key of a non-default identity namespace (see :func:`_appearance_rng`).
_T_NAMESPACE = 0x1D5


def _rng(*keys: int) -> np.random.Generator:
    """Independent generator for a tuple of integer keys (order-independent sub-seeds)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys])))


def _appearance_rng(cfg: "SynthConfig", tag: int, *keys: int) -> np.random.Generator:
    """Generator of a person's *appearance* (identities, hard-negative variants, distractors,
    junk and occluding people), in the config's identity namespace.

    Namespace 0 (the default, every evaluation set) keys ``(seed, tag, *keys)`` exactly as
    before the namespace existed, so default datasets are unchanged byte for byte. Namespace
    ``n > 0`` keys ``(seed, _T_NAMESPACE, n, tag, *keys)``: a key tuple of another length and
    content than any namespace-0 tuple, so no person of a namespace-``n`` set is drawn from
    the same random stream as a person of a namespace-0 set, whatever the two seeds are
    (the pretraining sets of :mod:`reidlab.engine.pretrain` use namespace 1).
    """
    if cfg.id_namespace == 0:
        return _rng(cfg.seed, tag, *keys)
    return _rng(cfg.seed, _T_NAMESPACE, cfg.id_namespace, tag, *keys)


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthConfig:
    """Every knob of the SynthReID generator (defaults: the published SynthReID benchmark).

    Sizes and counts:
        seed: master seed; the same seed gives byte-identical output.
        num_train_ids / num_test_ids: identities per split (disjoint; pids ``1..N`` shuffled).
        num_cameras: cameras (2..9, Market names carry one digit).
        height / width: written image size in pixels (Market: 128 x 64).
        images_per_camera: (min, max) detector boxes kept per identity visit to a camera.
        gt_bbox_extra: (min, max) extra frames of a query visit written to ``gt_bbox/`` besides
            the query frame itself (multi-query).
        num_distractors: gallery images of pid ``0000`` (people outside the identity set,
            badly framed detections).
        num_junk: gallery images of pid ``-1`` (false detections: background, fragments).

    Time (seconds on the shared wall clock, converted to frames at :data:`FPS`):
        duration_s: length of every camera's timeline.
        path_cameras: (min, max) cameras an identity walks through (no camera twice).
        visit_s: (min, max) seconds an identity stays visible in one camera.
        transit_mean_s: (min, max) range of the topology's mean transit times.
        transit_sigma: log-normal shape (sigma of log transit time) of every edge.
        off_path_share: share of walkers ignoring the graph (uniform next camera and transit).
        off_path_transit_s: (min, max) uniform transit of off-path moves.
        sequences_per_camera: (min, max) sequences each camera's timeline is cut into.

    Appearance:
        hard_negative_share: share of identities in hard-negative groups.
        hard_negative_group_size: (min, max) identities per group.

    Nuisances (strengths multiply the default spread; 0 switches a nuisance off):
        illumination: camera gain / gamma spread and per-image gain jitter, shading ramps.
        colour_cast: per-camera RGB gain spread.
        blur: Gaussian blur sigma and the chance that a camera is low-resolution.
        noise: sensor noise level.
        jpeg_quality: (min, max) JPEG quality; each camera draws a sub-range.
        occlusion_prob: probability that an occluder (object, pole, other person) is drawn.
        crop_jitter: detector box jitter (scale and offset spread).
        cut_prob: probability that the box cuts the head or the feet off.
        view_jitter: radians of yaw noise around the camera's walking direction.

    Identity namespace:
        id_namespace: 0 for evaluation sets (the default); any other value draws every
            person's appearance from streams no namespace-0 set uses, whatever the seed
            (pretraining sets: disjoint identities by construction, see ``_appearance_rng``).
    """

    seed: int = 0
    num_train_ids: int = 300
    num_test_ids: int = 300
    num_cameras: int = 6
    height: int = 128
    width: int = 64
    images_per_camera: tuple[int, int] = (2, 5)
    gt_bbox_extra: tuple[int, int] = (1, 2)
    num_distractors: int = 400
    num_junk: int = 300
    duration_s: float = 7200.0
    path_cameras: tuple[int, int] = (2, 4)
    visit_s: tuple[float, float] = (2.0, 8.0)
    transit_mean_s: tuple[float, float] = (20.0, 180.0)
    transit_sigma: float = 0.25
    off_path_share: float = 0.1
    off_path_transit_s: tuple[float, float] = (10.0, 600.0)
    sequences_per_camera: tuple[int, int] = (3, 6)
    hard_negative_share: float = 0.3
    hard_negative_group_size: tuple[int, int] = (2, 3)
    illumination: float = 1.0
    colour_cast: float = 1.0
    blur: float = 1.0
    noise: float = 1.0
    jpeg_quality: tuple[int, int] = (60, 95)
    occlusion_prob: float = 0.2
    crop_jitter: float = 1.0
    cut_prob: float = 0.1
    view_jitter: float = 0.3
    id_namespace: int = 0

    @classmethod
    def small(cls, **overrides) -> "SynthConfig":
        """A tiny preset for tests and smoke runs: 40 + 40 identities, fewer distractors."""
        base = dict(num_train_ids=40, num_test_ids=40, num_distractors=40, num_junk=30, duration_s=3600.0)
        base.update(overrides)
        return cls(**base)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first inconsistent knob."""
        def rng_ok(name: str, lo_min: float) -> None:
            lo, hi = getattr(self, name)
            if not (lo_min <= lo <= hi):
                raise ConfigError(f"SynthConfig.{name}={getattr(self, name)!r}: expected (min, max) with {lo_min} <= min <= max; fix the range")

        if not 2 <= self.num_cameras <= 9:
            raise ConfigError(f"SynthConfig.num_cameras={self.num_cameras}: Market names carry one camera digit, expected 2..9")
        if self.num_train_ids < 1 or self.num_test_ids < 1 or self.num_train_ids + self.num_test_ids > 9999:
            raise ConfigError(f"SynthConfig ids {self.num_train_ids}+{self.num_test_ids}: expected >= 1 per split and <= 9999 in total (4-digit pids)")
        if self.height < 32 or self.width < 16:
            raise ConfigError(f"SynthConfig image size {self.height}x{self.width}: expected at least 32x16 pixels")
        for name, lo_min in (("images_per_camera", 2), ("gt_bbox_extra", 0), ("path_cameras", 2), ("visit_s", 0.5),
                             ("transit_mean_s", 1.0), ("off_path_transit_s", 1.0), ("sequences_per_camera", 1),
                             ("hard_negative_group_size", 2), ("jpeg_quality", 1)):
            rng_ok(name, lo_min)
        if self.sequences_per_camera[1] > 9:
            raise ConfigError(f"SynthConfig.sequences_per_camera={self.sequences_per_camera}: Market names carry one sequence digit, expected max <= 9")
        if self.jpeg_quality[1] > 100:
            raise ConfigError(f"SynthConfig.jpeg_quality={self.jpeg_quality}: expected qualities in 1..100")
        if self.path_cameras[0] > self.num_cameras:
            raise ConfigError(f"SynthConfig.path_cameras={self.path_cameras}: needs at least {self.path_cameras[0]} cameras, have {self.num_cameras}")
        longest = self.path_cameras[1] * (self.visit_s[1] + max(self.transit_mean_s[1] * 3.0, self.off_path_transit_s[1]))
        if self.duration_s < longest + 60.0:
            raise ConfigError(f"SynthConfig.duration_s={self.duration_s}: too short for the longest walk (need >= {longest + 60.0:.0f} s); raise duration_s or lower transit_mean_s")
        if self.duration_s * FPS / self.sequences_per_camera[0] > 1.5e6 - 1:
            raise ConfigError(f"SynthConfig.duration_s={self.duration_s}: sequences would exceed 6-digit frame numbers; use more sequences_per_camera")
        for name in ("off_path_share", "hard_negative_share", "occlusion_prob", "cut_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"SynthConfig.{name}={getattr(self, name)}: expected a probability in [0, 1]")
        for name in ("illumination", "colour_cast", "blur", "noise", "crop_jitter", "view_jitter", "transit_sigma"):
            if getattr(self, name) < 0:
                raise ConfigError(f"SynthConfig.{name}={getattr(self, name)}: expected a strength >= 0")
        if self.num_distractors < 0 or self.num_junk < 0:
            raise ConfigError("SynthConfig.num_distractors / num_junk: expected counts >= 0")
        if not isinstance(self.id_namespace, int) or isinstance(self.id_namespace, bool) or not 0 <= self.id_namespace < 2**31:
            raise ConfigError(f"SynthConfig.id_namespace={self.id_namespace!r}: expected an integer >= 0 (0 = evaluation sets)")

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists). ``id_namespace`` is left out when 0, so an
        evaluation set's ``synthreid.json`` is the same as before the field existed."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
                if not (k == "id_namespace" and v == 0)}

    @classmethod
    def from_dict(cls, data: dict) -> "SynthConfig":
        """Inverse of :meth:`to_dict` (unknown keys raise :class:`ConfigError`)."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"SynthConfig: unknown keys {sorted(unknown)}; expected some of {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})


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
    """Draw ``person`` and return ``(uvd (18, 3), self_visible (18,))`` of its skeleton."""
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


# --------------------------------------------------------------------------------------
# cameras
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    """Rendering parameters of one camera (see :class:`SynthConfig` for the strengths)."""

    cam: int  # 1-based
    axis: str  # "frontal" | "lateral" | "oblique": dominant walking direction
    gain: float
    gamma: float
    cast: tuple[float, float, float]
    blur_sigma: float  # pixels of the written image
    low_res: float  # 1.0 = full resolution, else down-up factor
    noise: float  # std in 0-255 levels
    jpeg: tuple[int, int]
    person_frac: float  # typical person height / image height
    wall: tuple[RGB, RGB]
    floor: RGB
    horizon: float  # fraction of image height where the floor starts
    texture: str  # "tiles" | "stripes" | "plain"


def _make_camera(cfg: SynthConfig, cam: int) -> Camera:
    rng = _rng(cfg.seed, _T_CAM, cam)
    axis = ("frontal", "lateral", "oblique")[int(rng.integers(3))] if cam > 3 else ("frontal", "lateral", "oblique")[cam - 1]
    cast = 1.0 + rng.uniform(-0.08, 0.08, 3) * cfg.colour_cast
    cast = cast / cast.mean()
    qlo, qhi = cfg.jpeg_quality
    q0 = int(rng.integers(qlo, qhi + 1))
    q1 = int(min(qhi, q0 + rng.integers(0, 15)))
    base = rng.uniform(80, 200)
    wall = tuple(int(np.clip(base + rng.normal(0, 18), 0, 255)) for _ in range(3))
    wall2 = tuple(int(np.clip(v * rng.uniform(0.6, 1.1), 0, 255)) for v in wall)
    grey = rng.integers(70, 190)
    floor = tuple(int(np.clip(grey + rng.normal(0, 18), 0, 255)) for _ in range(3))
    return Camera(
        cam=cam, axis=axis,
        gain=float(math.exp(rng.normal(0.0, 0.22 * cfg.illumination))),
        gamma=float(math.exp(rng.normal(0.0, 0.12 * cfg.illumination))),
        cast=(float(cast[0]), float(cast[1]), float(cast[2])),
        blur_sigma=float(rng.uniform(0.0, 0.8) * cfg.blur),
        low_res=float(rng.uniform(0.45, 0.75)) if (rng.random() < 0.3 or cam == 3) and cfg.blur > 0 else 1.0,
        noise=float(rng.uniform(1.0, 5.0) * cfg.noise),
        jpeg=(q0, q1),
        person_frac=float(rng.uniform(0.8, 0.92)),
        wall=(wall, wall2),  # type: ignore[arg-type]
        floor=floor,  # type: ignore[arg-type]
        horizon=float(rng.uniform(0.5, 0.72)),
        texture=("tiles", "stripes", "plain")[int(rng.integers(3))],
    )


def _background(cfg: SynthConfig, camera: Camera) -> np.ndarray:
    """2x-resolution panorama (H2, 3*W2, 3) uint8 for ``camera``; images crop from it."""
    rng = _rng(cfg.seed, _T_CAM, camera.cam, 99)
    H2, W2 = 2 * cfg.height, 2 * cfg.width
    Wp = 3 * W2
    t = np.linspace(0.0, 1.0, H2, dtype=np.float32)[:, None, None]
    a, b = np.asarray(camera.wall[0], np.float32), np.asarray(camera.wall[1], np.float32)
    img = np.broadcast_to(a * (1 - t) + b * t, (H2, Wp, 3)).copy()
    hz = int(camera.horizon * H2)
    # doors / windows / columns on the wall
    for _ in range(int(rng.integers(2, 6))):
        x0 = int(rng.integers(0, Wp - 10))
        w = int(rng.integers(10, W2))
        y0 = int(rng.integers(0, max(1, hz - 30)))
        col = np.clip(np.asarray(camera.wall[0], np.float32) * rng.uniform(0.4, 1.4) + rng.normal(0, 15, 3), 0, 255)
        img[y0:hz, x0:x0 + w] = col
        img[y0:y0 + 3, x0:x0 + w] *= 0.7
    fl = np.asarray(camera.floor, np.float32)
    img[hz:] = fl
    yy, xx = np.mgrid[hz:H2, 0:Wp]
    if camera.texture == "tiles":
        period = int(rng.integers(18, 40))
        lines = ((xx % period) < 2) | (((yy - hz) % max(6, period // 2)) < 2)
        img[hz:][lines] *= 0.8
    elif camera.texture == "stripes":
        period = int(rng.integers(24, 60))
        img[hz:][(xx // period) % 2 == 0] *= 0.88
    img[hz:hz + 2] *= 0.6
    img += rng.normal(0.0, 6.0, (H2, Wp, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------
# topology and walks
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """Directed camera-graph edge: log-normal transit time (exit of ``src`` to entry of ``dst``)."""

    src: int  # 1-based camera
    dst: int
    mean_s: float  # mean transit time in seconds
    sigma: float  # sigma of log transit time
    prob: float  # transition probability from src


def make_topology(cfg: SynthConfig) -> list[Edge]:
    """The camera graph: cameras placed in a unit square, each linked to its nearest
    neighbours (plus a minimum spanning tree so the graph is connected), both directions,
    mean transit proportional to distance within ``cfg.transit_mean_s`` (x0.85-1.15 per
    direction), transition probabilities favouring near cameras. Sorted by (src, dst)."""
    rng = _rng(cfg.seed, _T_TOPO)
    n = cfg.num_cameras
    pos = rng.random((n, 2))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=2)
    links = set()
    inside, rest = {0}, set(range(1, n))
    while rest:  # Prim's minimum spanning tree
        i, k = min(((i, k) for i in inside for k in rest), key=lambda e: d[e])
        links.add((min(i, k), max(i, k)))
        inside.add(k)
        rest.discard(k)
    for i in range(n):
        order = [k for k in np.argsort(d[i]) if k != i]
        for k in order[: 2]:
            links.add((min(i, int(k)), max(i, int(k))))
    dmax = max(d[i, k] for i, k in links)
    dmin = min(d[i, k] for i, k in links)
    lo, hi = cfg.transit_mean_s
    weights: dict[tuple[int, int], float] = {}
    means: dict[tuple[int, int], float] = {}
    for i, k in sorted(links):
        base = lo + (hi - lo) * (d[i, k] - dmin) / max(1e-9, dmax - dmin)
        for a, bb in ((i, k), (k, i)):
            means[(a, bb)] = float(np.clip(base * rng.uniform(0.85, 1.15), lo, hi))
            weights[(a, bb)] = float(rng.uniform(0.5, 1.5) / (0.2 + d[a, bb]))
    edges = []
    for (a, bb) in sorted(means):
        tot = sum(w for (x, _), w in weights.items() if x == a)
        edges.append(Edge(a + 1, bb + 1, round(means[(a, bb)], 3), float(cfg.transit_sigma), round(weights[(a, bb)] / tot, 6)))
    return edges


@dataclass(frozen=True)
class Visit:
    """One identity's stay in one camera (wall-clock frames, inclusive)."""

    cam: int
    enter: int
    exit: int
    yaw: float
    phase0: float
    frames: tuple[int, ...]  # global frames of the detector boxes kept
    boxes: tuple[int, ...]  # box index per kept frame
    off_path: bool  # reached by an off-graph move


def _lognormal(rng: np.random.Generator, mean: float, sigma: float) -> float:
    mu = math.log(mean) - sigma * sigma / 2.0
    return float(math.exp(rng.normal(mu, sigma)))


def _visit_yaw(camera_axis: str, rng: np.random.Generator, jitter: float) -> float:
    if camera_axis == "frontal":
        base = float(rng.choice([0.0, math.pi]))
    elif camera_axis == "lateral":
        base = float(rng.choice([-math.pi / 2, math.pi / 2]))
    else:
        base = float(rng.choice([math.pi / 4, -math.pi / 4, 3 * math.pi / 4, -3 * math.pi / 4]))
    return float((base + rng.normal(0.0, jitter) + math.pi) % (2 * math.pi) - math.pi)


def walk(cfg: SynthConfig, pid: int, edges: Sequence[Edge], cameras: Sequence[Camera]) -> tuple[list[Visit], bool]:
    """The visits of identity ``pid``: ``(visits in time order, off_path walker?)``."""
    rng = _rng(cfg.seed, _T_WALK, pid)
    n = cfg.num_cameras
    off = bool(rng.random() < cfg.off_path_share)
    want = int(rng.integers(cfg.path_cameras[0], min(n, cfg.path_cameras[1]) + 1))
    out_edges = {c: [e for e in edges if e.src == c] for c in range(1, n + 1)}
    path = [int(rng.integers(1, n + 1))]
    transits: list[float] = []
    off_moves: list[bool] = [False]
    while len(path) < want:
        cur = path[-1]
        options = [e for e in out_edges[cur] if e.dst not in path]
        if off or not options:
            rest = [k for k in range(1, n + 1) if k not in path]
            path.append(int(rest[int(rng.integers(len(rest)))]))
            transits.append(float(rng.uniform(*cfg.off_path_transit_s)))
            off_moves.append(True)
        else:
            p = np.asarray([e.prob for e in options])
            e = options[int(rng.choice(len(options), p=p / p.sum()))]
            path.append(e.dst)
            transits.append(min(_lognormal(rng, e.mean_s, e.sigma), 3.0 * e.mean_s))
            off_moves.append(False)
    durs = [float(rng.uniform(*cfg.visit_s)) for _ in path]
    total = sum(durs) + sum(transits)
    T = cfg.duration_s
    t = float(rng.uniform(0.0, T - total - 1.0))
    visits = []
    lo, hi = cfg.images_per_camera
    for k, cam in enumerate(path):
        enter = int(round(t * FPS))
        exit_ = max(enter + hi, int(round((t + durs[k]) * FPS)))
        m = int(rng.integers(lo, hi + 1))
        frames = np.sort(rng.choice(np.arange(enter, exit_ + 1), size=m, replace=False))
        boxes = rng.integers(1, 4, size=m)
        yaw = _visit_yaw(cameras[cam - 1].axis, rng, cfg.view_jitter)
        visits.append(Visit(cam, enter, exit_, yaw, float(rng.uniform(0, 2 * math.pi)), tuple(int(f) for f in frames),
                            tuple(int(x) for x in boxes), off_moves[k]))
        t = (exit_ / FPS) + (transits[k] if k < len(transits) else 0.0)
    return visits, off


def sequence_lengths(cfg: SynthConfig) -> dict[str, list[int]]:
    """``{"c1": [len_s1, ...], ...}``: each camera's timeline (``duration_s * FPS`` frames)
    cut into ``sequences_per_camera`` sequences."""
    total = int(round(cfg.duration_s * FPS))
    out = {}
    for cam in range(1, cfg.num_cameras + 1):
        rng = _rng(cfg.seed, _T_SEQ, cam)
        k = int(rng.integers(cfg.sequences_per_camera[0], cfg.sequences_per_camera[1] + 1))
        w = rng.uniform(0.6, 1.4, k)
        lens = np.floor(w / w.sum() * total).astype(np.int64)
        lens[-1] = total - lens[:-1].sum()
        out[f"c{cam}"] = [int(x) for x in lens]
    return out


def _seq_frame(lengths: Sequence[int], global_frame: int) -> tuple[int, int]:
    """Global frame -> (1-based sequence, frame within sequence)."""
    start = 0
    for i, L in enumerate(lengths):
        if global_frame < start + L:
            return i + 1, global_frame - start
        start += L
    raise ConfigError(f"frame {global_frame} beyond the camera timeline ({start} frames)")


# --------------------------------------------------------------------------------------
# plan: everything except pixels
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shot:
    """One image to write (the ground truth of ``manifest.csv``)."""

    split: str  # folder
    name: str  # file name
    pid: int  # id in the file name (0 distractor, -1 junk)
    cam: int  # 1-based
    seq: int  # 1-based
    frame: int  # frame within the sequence (as in the name)
    global_frame: int  # wall-clock frame (= frame + earlier sequence lengths)
    kind: str  # "id" | "gt" | "distractor" | "junk"
    yaw: float
    phase: float
    key: int  # person key: pid for identities, index for distractors / junk
    box: int


@dataclass
class Plan:
    """The generator's ground truth before rendering."""

    config: SynthConfig
    cameras: list[Camera]
    edges: list[Edge]
    seq_lengths: dict[str, list[int]]
    train_pids: list[int]
    test_pids: list[int]
    groups: dict[int, int]  # pid -> hard-negative group id (group members only)
    group_cue: dict[int, Optional[str]]  # pid -> changed cue (None for the group's base)
    walks: dict[int, list[Visit]]
    off_path: dict[int, bool]
    shots: list[Shot] = field(default_factory=list)

    def person(self, pid: int) -> Person:
        """Appearance of identity ``pid`` (hard-negative members derive from their group base)."""
        cfg = self.config
        if pid in self.groups:
            base = sample_person(_appearance_rng(cfg, _T_PERSON, 100000 + self.groups[pid]))
            cue = self.group_cue[pid]
            return base if cue is None else _vary_person(base, cue, _appearance_rng(cfg, _T_VAR, pid))
        return sample_person(_appearance_rng(cfg, _T_PERSON, pid))


def _name(pid: int, cam: int, seq: int, frame: int, box: int) -> str:
    head = "-1" if pid < 0 else f"{pid:04d}"
    return f"{head}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg"


def plan_dataset(cfg: SynthConfig) -> Plan:
    """Topology, identities, walks and the list of images (cheap: no pixels)."""
    cfg.validate()
    cameras = [_make_camera(cfg, c) for c in range(1, cfg.num_cameras + 1)]
    edges = make_topology(cfg)
    seqs = sequence_lengths(cfg)
    n_all = cfg.num_train_ids + cfg.num_test_ids
    perm = _rng(cfg.seed, _T_SPLIT).permutation(np.arange(1, n_all + 1))
    train = sorted(int(p) for p in perm[: cfg.num_train_ids])
    test = sorted(int(p) for p in perm[cfg.num_train_ids:])
    groups: dict[int, int] = {}
    group_cue: dict[int, Optional[str]] = {}
    gid = 0
    for split_i, pids in enumerate((train, test)):
        rng = _rng(cfg.seed, _T_GROUP, split_i)
        order = [int(p) for p in rng.permutation(pids)]
        budget = int(round(cfg.hard_negative_share * len(pids)))
        i = 0
        while budget - i >= cfg.hard_negative_group_size[0]:
            size = min(int(rng.integers(cfg.hard_negative_group_size[0], cfg.hard_negative_group_size[1] + 1)), budget - i)
            members = order[i:i + size]
            cues = [HARD_NEGATIVE_CUES[int(k)] for k in rng.permutation(len(HARD_NEGATIVE_CUES))]
            for m, pid in enumerate(members):
                groups[pid] = gid
                group_cue[pid] = None if m == 0 else cues[(m - 1) % len(cues)]
            gid += 1
            i += size
    walks, offs = {}, {}
    for pid in train + test:
        walks[pid], offs[pid] = walk(cfg, pid, edges, cameras)
    plan = Plan(cfg, cameras, edges, seqs, train, test, groups, group_cue, walks, offs)

    def shot(split, pid, cam, g, kind, yaw, phase, key, box) -> Shot:
        seq, fr = _seq_frame(seqs[f"c{cam}"], g)
        return Shot(split, _name(pid, cam, seq, fr, box), pid, cam, seq, fr, g, kind, yaw, phase, key, box)

    def phase_at(v: Visit, g: int) -> float:
        return float((v.phase0 + 2 * math.pi * 0.9 * (g - v.enter) / FPS) % (2 * math.pi))

    shots: list[Shot] = []
    for pid in train:
        for v in walks[pid]:
            for g, bx in zip(v.frames, v.boxes):
                shots.append(shot("bounding_box_train", pid, v.cam, g, "id", v.yaw, phase_at(v, g), pid, bx))
    for pid in test:
        for v in walks[pid]:
            rng = _rng(cfg.seed, _T_WALK, pid, v.cam, 7)
            q = int(rng.integers(len(v.frames)))
            for k, (g, bx) in enumerate(zip(v.frames, v.boxes)):
                split = "query" if k == q else "bounding_box_test"
                shots.append(shot(split, pid, v.cam, g, "id", v.yaw, phase_at(v, g), pid, bx))
            gq = v.frames[q]
            pool = np.asarray([f for f in range(v.enter, v.exit + 1) if f != gq])
            m = int(rng.integers(cfg.gt_bbox_extra[0], cfg.gt_bbox_extra[1] + 1))
            extra = sorted(int(f) for f in rng.choice(pool, size=min(m, len(pool)), replace=False))
            for g in sorted([gq] + extra):
                shots.append(shot("gt_bbox", pid, v.cam, g, "gt", v.yaw, phase_at(v, g), pid, 0))
    used = {s.name for s in shots if s.split == "bounding_box_test"}
    T = int(round(cfg.duration_s * FPS))
    for kind, tag, count, pid in (("distractor", _T_DISTR, cfg.num_distractors, 0), ("junk", _T_JUNK, cfg.num_junk, -1)):
        for i in range(count):
            rng = _rng(cfg.seed, tag, i)
            cam = int(rng.integers(1, cfg.num_cameras + 1))
            g = int(rng.integers(0, T))
            yaw = _visit_yaw(cameras[cam - 1].axis, rng, cfg.view_jitter)
            phase = float(rng.uniform(0, 2 * math.pi))
            box = int(rng.integers(0 if pid < 0 else 1, 7))
            s = shot("bounding_box_test", pid, cam, g, kind, yaw, phase, i, box)
            while s.name in used:
                box += 1
                if box > 99:
                    g = (g + 1) % T
                    box = 0
                s = shot("bounding_box_test", pid, cam, g, kind, yaw, phase, i, box)
            used.add(s.name)
            shots.append(s)
    plan.shots = shots
    return plan


# --------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------


def render_shot(plan: Plan, shot: Shot, backgrounds: Sequence[np.ndarray]) -> tuple[bytes, np.ndarray]:
    """Render one image: ``(JPEG bytes, keypoints (18, 3) float32 in written-image pixels)``.

    Keypoints use continuous pixel coordinates (the image spans ``[0, W] x [0, H]``); a
    landmark is visible when inside the image, not self-occluded and not under an occluder.
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


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------

_MANIFEST_COLUMNS = ("split", "name", "pid", "cam", "seq", "frame", "global_frame", "kind", "view", "yaw")


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, sort_keys=True, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def _identity_info(plan: Plan, pid: int, split: str) -> dict:
    p = plan.person(pid)
    info = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(p).items()}
    info.update(split=split, group=plan.groups.get(pid), cue=plan.group_cue.get(pid), off_path=plan.off_path[pid],
                path=[v.cam for v in plan.walks[pid]],
                visits=[{"cam": v.cam, "enter": v.enter, "exit": v.exit, "view": view_label(v.yaw), "off_path": v.off_path}
                        for v in plan.walks[pid]])
    return info


def _is_synthreid(path: Path) -> bool:
    return (path / "synthreid.json").is_file()


#: Files ``generate`` writes at the dataset root (besides the split folders).
OWN_FILES = ("keypoints.json", "sequence_lengths.json", "manifest.csv", "synthreid.json", ".complete")


def _foreign_entries(out: Path) -> tuple[list[str], list[str]]:
    """What in an existing SynthReID folder ``generate`` did not write.

    Returns ``(kept, strays)``: ``kept`` = top-level entries that are neither split folders nor
    :data:`OWN_FILES` (e.g. the user's ``my_annotations/``; moved into the new dataset
    unchanged), ``strays`` = paths inside the split folders not listed in ``manifest.csv``
    (they would be read as dataset images, so ``generate`` refuses to touch the folder).
    """
    kept = sorted(n for n in os.listdir(out) if n not in OWN_FILES and n not in SPLITS)
    own: set[str] = set()
    if (out / "manifest.csv").is_file():
        own = {f"{r['split']}/{r['name']}" for r in load_manifest(out)}
    strays = []
    for split in SPLITS:
        if (out / split).is_dir():
            for f in sorted((out / split).rglob("*")):
                rel = f.relative_to(out).as_posix()
                if f.is_dir() or rel not in own:
                    strays.append(rel)
        elif (out / split).exists():
            strays.append(split)
    return kept, strays


def _swap_in(tmp: Path, out: Path, kept: Sequence[str]) -> None:
    """Replace the SynthReID folder ``out`` by the new one in ``tmp``, carrying ``kept``
    (the user's top-level entries) over unchanged. Only the generator's own files are deleted."""
    moved: list[str] = []
    try:
        for name in kept:
            os.rename(out / name, tmp / name)
            moved.append(name)
    except OSError:
        for name in moved:   # put back what was already moved, then report
            os.rename(tmp / name, out / name)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(tmp, out)
    shutil.rmtree(old)


def _write_metadata(tmp: Path, plan: Plan, cfg: SynthConfig, rows: list, kps: dict[str, np.ndarray]) -> None:
    """Everything but the images: keypoints.json, sequence_lengths.json, manifest.csv,
    synthreid.json, then the ``.complete`` marker (last)."""
    _save_keypoints(tmp / "keypoints.json", kps)
    _write_json(tmp / "sequence_lengths.json", plan.seq_lengths)
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(tmp / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_MANIFEST_COLUMNS)
        w.writerows(rows)
    meta = {
        "format_version": FORMAT_VERSION,
        "fps": FPS,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "counts": {split: sum(1 for s in plan.shots if s.split == split) for split in SPLITS},
        "cameras": [asdict(c) for c in plan.cameras],
        "topology": [asdict(e) for e in plan.edges],
        "identities": {str(pid): _identity_info(plan, pid, split)
                       for split, pids in (("train", plan.train_pids), ("test", plan.test_pids)) for pid in pids},
    }
    _write_json(tmp / "synthreid.json", meta)
    (tmp / ".complete").write_text("SynthReID\n")


def generate(out_dir: PathLike, config: Optional[SynthConfig] = None, progress: bool = False) -> Path:
    """Generate a SynthReID dataset at ``out_dir`` (Market-1501 layout, see module docstring).

    The dataset is written into a temporary folder next to ``out_dir`` and renamed into
    place, with ``.complete`` written last. An existing ``out_dir`` is replaced only if it is
    empty or a previous SynthReID dataset, and then only the generator's own files are
    replaced: other top-level entries (``my_annotations/``, caches) are kept as they are.

    Args:
        out_dir: destination folder.
        config: generation knobs (default :class:`SynthConfig()`).
        progress: log a progress line every 1000 images (logger ``reidlab.data.synthetic``,
            level INFO; ``reidlab synth --progress`` shows them on stderr).

    Returns:
        ``Path(out_dir)``.

    Raises:
        ConfigError: inconsistent ``config``.
        DatasetError: ``out_dir`` exists and is not a SynthReID dataset, is a file, or holds
            files in its split folders that the generator did not write (nothing is changed).
    """
    cfg = config or SynthConfig()
    out = Path(out_dir)
    kept: list[str] = []
    if out.exists():
        if not out.is_dir():
            raise DatasetError(f"{out}: exists and is a file, not a dataset folder; choose another --out")
        if not _is_synthreid(out) and any(out.iterdir()):
            raise DatasetError(f"{out}: exists and is not a SynthReID dataset; choose another --out or remove it")
        if _is_synthreid(out):
            kept, strays = _foreign_entries(out)
            if strays:
                raise DatasetError(f"{out}: {len(strays)} file(s) in its split folders were not written by reidlab synth "
                                   f"(e.g. {strays[0]}); they would be replaced or read as dataset images: move them "
                                   "out of the split folders or choose another --out")
    plan = plan_dataset(cfg)
    backgrounds = [_background(cfg, c) for c in plan.cameras]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    for split in SPLITS:
        (tmp / split).mkdir(parents=True)
    kps: dict[str, np.ndarray] = {}
    rows = []
    try:
        for i, s in enumerate(plan.shots):
            data, kp = render_shot(plan, s, backgrounds)
            with open(tmp / s.split / s.name, "wb") as fh:
                fh.write(data)
            key = f"{s.split}/{s.name}"
            kps[key] = kp
            rows.append((s.split, s.name, s.pid, s.cam, s.seq, s.frame, s.global_frame, s.kind,
                         view_label(s.yaw) if s.kind in ("id", "gt", "distractor") else "", f"{s.yaw:.4f}"))
            if progress and (i + 1) % 1000 == 0:
                logger.info("synth: %d/%d images", i + 1, len(plan.shots))
        _write_metadata(tmp, plan, cfg, rows, kps)
        if out.exists():
            _swap_in(tmp, out, kept)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _save_keypoints(path: Path, kps: dict[str, np.ndarray]) -> None:
    try:
        from reidlab.data.keypoints import save_keypoints
    except ImportError:  # pragma: no cover - the keypoints module ships with reidlab
        payload = {"format": "openpose-coco18",
                   "keypoints": {k: [round(float(v), 3) for v in a.reshape(-1)] for k, a in sorted(kps.items())}}
        _write_json(path, payload)
        return
    save_keypoints(path, kps)


# --------------------------------------------------------------------------------------
# reading back the ground truth
# --------------------------------------------------------------------------------------


def _require(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_file():
        raise DatasetError(f"{path}: missing; {root} is not a complete SynthReID dataset, regenerate it with `reidlab synth --out {root}`")
    return path


def load_manifest(root: PathLike) -> list[dict]:
    """Rows of ``manifest.csv`` (ints for pid/cam/seq/frame/global_frame, float yaw)."""
    path = _require(Path(root), "manifest.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("pid", "cam", "seq", "frame", "global_frame"):
            r[k] = int(r[k])
        r["yaw"] = float(r["yaw"])
    return rows


def load_info(root: PathLike) -> dict:
    """The parsed ``synthreid.json`` (config, counts, cameras, topology, identities)."""
    path = _require(Path(root), "synthreid.json")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def sample_sheet(root: PathLike, n_ids: int = 8, split: str = "test", seed: int = 0, max_cameras: Optional[int] = None):
    """Matplotlib figure: ``n_ids`` identities (rows, most cameras first) across cameras (columns).

    Args:
        root: a generated SynthReID dataset.
        n_ids: rows.
        split: ``"test"`` (query / gallery images) or ``"train"``.
        seed: picks among identities with equal camera counts and the image per cell.
        max_cameras: columns (default: the dataset's number of cameras).
    """
    import matplotlib.pyplot as plt

    root = Path(root)
    info = load_info(root)
    rows = load_manifest(root)
    folders = ("bounding_box_train",) if split == "train" else ("query", "bounding_box_test")
    cells: dict[tuple[int, int], list[str]] = {}
    for r in rows:
        if r["split"] in folders and r["pid"] > 0:
            cells.setdefault((r["pid"], r["cam"]), []).append(f"{r['split']}/{r['name']}")
    ncam = max_cameras or info["config"]["num_cameras"]
    pids = sorted({p for p, _ in cells})
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pids))
    pids = sorted((pids[i] for i in order), key=lambda p: -sum((p, c) in cells for c in range(1, ncam + 1)))[:n_ids]
    fig, axes = plt.subplots(len(pids), ncam, figsize=(ncam * 0.9, len(pids) * 1.55), squeeze=False)
    for i, pid in enumerate(pids):
        for c in range(1, ncam + 1):
            ax = axes[i, c - 1]
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(False)
            files = cells.get((pid, c))
            if files:
                ax.imshow(Image.open(root / files[int(rng.integers(len(files)))]))
            if i == 0:
                ax.set_title(f"cam {c}", fontsize=8)
            if c == 1:
                ax.set_ylabel(f"id {pid}", fontsize=8)
    fig.subplots_adjust(wspace=0.05, hspace=0.08, left=0.08, right=0.99, top=0.95, bottom=0.01)
    return fig

