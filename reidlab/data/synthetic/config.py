"""SynthReID's constants, seeded random streams and :class:`SynthConfig` (every knob of the generator).

Part of :mod:`reidlab.data.synthetic` (import from there); the seed-sequence tags below are
fixed: changing one changes every dataset.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Union

import numpy as np

from reidlab.errors import ConfigError

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
