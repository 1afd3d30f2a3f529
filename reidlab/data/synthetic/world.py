"""SynthReID's world: cameras and their backgrounds, the camera graph, identities' walks,
the sequences of each camera's timeline, and the :class:`Plan` (every image except its pixels).

Part of :mod:`reidlab.data.synthetic` (import from there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from reidlab.data.synthetic.config import (
    _T_CAM,
    _T_DISTR,
    _T_GROUP,
    _T_JUNK,
    _T_PERSON,
    _T_SEQ,
    _T_SPLIT,
    _T_TOPO,
    _T_VAR,
    _T_WALK,
    FPS,
    RGB,
    SynthConfig,
    _appearance_rng,
    _rng,
)
from reidlab.data.synthetic.person import HARD_NEGATIVE_CUES, Person, _vary_person, sample_person
from reidlab.errors import ConfigError

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
