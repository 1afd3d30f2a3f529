"""SynthReID generator: determinism, Market round trip, landmarks, statistics, hard negatives."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from reidlab.data import synthetic as syn
from reidlab.data.cli import synth_main
from reidlab.data.records import KEYPOINT_NAMES
from reidlab.errors import ConfigError, DatasetError

NAME_RE = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
KP = {n: i for i, n in enumerate(KEYPOINT_NAMES)}

TINY = dict(num_train_ids=20, num_test_ids=20, num_cameras=3, num_distractors=12, num_junk=8,
            path_cameras=(2, 3), duration_s=2400.0)


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return syn.generate(tmp_path_factory.mktemp("synth") / "a", syn.SynthConfig.small(seed=3, **TINY))


@pytest.fixture(scope="module")
def manifest(tiny) -> list[dict]:
    return syn.load_manifest(tiny)


# ------------------------------------------------------------------ determinism and layout


def test_same_seed_same_bytes_different_seed_different_data(tiny, tmp_path):
    again = syn.generate(tmp_path / "b", syn.SynthConfig.small(seed=3, **TINY))
    assert _tree_hash(again) == _tree_hash(tiny)
    other = syn.generate(tmp_path / "c", syn.SynthConfig.small(seed=4, **TINY))
    assert _tree_hash(other) != _tree_hash(tiny)
    names = lambda r: {p.name for p in (r / "bounding_box_train").iterdir()}  # noqa: E731
    assert names(other) != names(tiny)
    # the rendering itself differs, not just the names: same plan slot, different pixels
    a = sorted((tiny / "query").iterdir())[0].read_bytes()
    b = sorted((other / "query").iterdir())[0].read_bytes()
    assert a != b


def test_layout_names_and_markers(tiny, manifest):
    for split in syn.SPLITS:
        files = sorted(p.name for p in (tiny / split).iterdir())
        assert files, split
        assert all(NAME_RE.match(f) for f in files), [f for f in files if not NAME_RE.match(f)][:3]
        assert Counter(r["split"] for r in manifest)[split] == len(files)
    assert (tiny / ".complete").is_file()
    assert not list(tiny.parent.glob(".a.tmp-*"))  # temp dir renamed away
    info = syn.load_info(tiny)
    assert info["seed"] == 3 and info["config"]["num_cameras"] == 3
    assert syn.SynthConfig.from_dict(info["config"]) == syn.SynthConfig.small(seed=3, **TINY)
    # sequence lengths cover each camera's timeline exactly, frames fit their sequence
    seqs = json.loads((tiny / "sequence_lengths.json").read_text())
    assert sorted(seqs) == ["c1", "c2", "c3"]
    total = int(TINY["duration_s"] * syn.FPS)
    assert all(sum(v) == total and 3 <= len(v) <= 6 for v in seqs.values())
    for r in manifest:
        lengths = seqs[f"c{r['cam']}"]
        assert 0 <= r["frame"] < lengths[r["seq"] - 1]
        assert r["global_frame"] == r["frame"] + sum(lengths[: r["seq"] - 1])


def test_splits_follow_market_protocol(tiny, manifest):
    info = syn.load_info(tiny)
    train_ids = {int(p) for p, v in info["identities"].items() if v["split"] == "train"}
    test_ids = {int(p) for p, v in info["identities"].items() if v["split"] == "test"}
    assert len(train_ids) == 20 and len(test_ids) == 20 and not train_ids & test_ids
    by = defaultdict(list)
    for r in manifest:
        by[r["split"]].append(r)
    assert {r["pid"] for r in by["bounding_box_train"]} == train_ids
    assert {r["pid"] for r in by["query"]} == test_ids
    # one query per (test identity, camera it appears in); the rest of the visit in the gallery
    q = Counter((r["pid"], r["cam"]) for r in by["query"])
    assert set(q.values()) == {1}
    visits = {(int(p), v["cam"]) for p, v in info["identities"].items() for v in v["visits"] if int(p) in test_ids}
    assert set(q) == visits
    gal = by["bounding_box_test"]
    assert {r["pid"] for r in gal if r["pid"] > 0} == test_ids
    assert Counter(r["pid"] for r in gal if r["pid"] <= 0) == {0: 12, -1: 8}
    # every query identity has a gallery image in another camera (a valid match exists)
    for pid, cam in q:
        assert any(r["pid"] == pid and r["cam"] != cam for r in gal)
    # gt_bbox: the query frame plus 1-2 further frames of the same visit
    gt = Counter((r["pid"], r["cam"]) for r in by["gt_bbox"])
    assert set(gt) == set(q) and set(gt.values()) <= {2, 3}
    qframes = {(r["pid"], r["cam"], r["global_frame"]) for r in by["query"]}
    assert qframes <= {(r["pid"], r["cam"], r["global_frame"]) for r in by["gt_bbox"]}


def test_round_trip_through_market_reader(tiny, manifest):
    from reidlab.data.datasets import load_dataset

    ds = load_dataset("market1501", tiny)
    truth = {(r["split"], r["name"]): r for r in manifest}
    folder = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test", "multi_query": "gt_bbox"}
    for split, records in ds.splits().items():
        expected = [r for r in manifest if r["split"] == folder[split]]
        if split == "train":
            expected = [r for r in expected if r["pid"] > 0]
        assert len(records) == len(expected), split
        for rec in records:
            t = truth[(folder[split], Path(rec.path).name)]
            assert rec.orig_pid == t["pid"]
            assert rec.camid == t["cam"] - 1
            assert rec.seq == t["seq"]
            assert rec.frame == t["global_frame"]  # the reader's global frame = generator's wall clock
            assert rec.keypoints is not None and rec.keypoints.shape == (18, 3)
    assert ds.num_train_pids == 20 and ds.num_cams == 3
    # train ids relabelled 0..N-1 in sorted original order
    pairs = {(r.orig_pid, r.pid) for r in ds.train}
    assert sorted(pairs) == [(p, i) for i, p in enumerate(sorted(p for p, _ in pairs))]


# ------------------------------------------------------------------ landmarks


def test_keypoints_inside_image_and_hidden_flagged(tiny, manifest):
    from reidlab.data.keypoints import load_keypoints

    kps = load_keypoints(tiny / "keypoints.json")
    assert set(kps) == {f"{r['split']}/{r['name']}" for r in manifest}
    arr = np.stack(list(kps.values()))
    vis = arr[..., 2] == 1
    assert set(np.unique(arr[..., 2])) <= {0.0, 1.0}
    xs, ys = arr[..., 0][vis], arr[..., 1][vis]
    assert xs.min() >= 0 and xs.max() < 64 and ys.min() >= 0 and ys.max() < 128
    assert np.all(arr[..., :2][~vis] == 0)
    assert vis.mean() > 0.5  # most landmarks of a walking person are seen
    for r in manifest:
        kp = kps[f"{r['split']}/{r['name']}"]
        v = kp[:, 2] == 1
        if r["kind"] == "junk":
            continue
        if r["view"] == "side":  # the far arm, hip, eye and ear are self-occluded
            far = "l_" if syn.far_side(r["yaw"]) == "left" else "r_"
            for part in ("shoulder", "elbow", "wrist", "hip", "eye", "ear"):
                assert not v[KP[far + part]], (r["name"], far + part)
        if r["view"] == "back":
            assert not v[KP["nose"]] and not v[KP["r_eye"]] and not v[KP["l_eye"]]
        if r["view"] == "front" and v[KP["r_shoulder"]] and v[KP["l_shoulder"]]:
            # the person's right appears on the image's left when facing the camera
            assert kp[KP["r_shoulder"], 0] < kp[KP["l_shoulder"], 0]
        if r["view"] == "back" and v[KP["r_shoulder"]] and v[KP["l_shoulder"]]:
            assert kp[KP["r_shoulder"], 0] > kp[KP["l_shoulder"], 0]
        if v[KP["neck"]] and v[KP["r_ankle"]]:
            assert kp[KP["neck"], 1] < kp[KP["r_ankle"], 1]  # upright


def test_keypoints_leave_the_image_when_the_box_cuts_the_person():
    """Landmarks outside the detector box are hidden: boxes that cut the head or the feet
    hide the ears/neck or the ankles far more often than well-framed boxes do."""
    def count_cut(cut_prob: float) -> tuple[int, int]:
        cfg = syn.SynthConfig.small(seed=5, num_train_ids=6, num_test_ids=6, num_cameras=2, num_distractors=0,
                                    num_junk=0, cut_prob=cut_prob, occlusion_prob=0.0, path_cameras=(2, 2))
        plan = syn.plan_dataset(cfg)
        bgs = [syn._background(cfg, c) for c in plan.cameras]
        cut = n = 0
        for shot in plan.shots:
            if shot.kind != "id":
                continue
            _, kp = syn.render_shot(plan, shot, bgs)
            head = kp[[KP["neck"], KP["r_ear"], KP["l_ear"]], 2]
            feet = kp[[KP["r_ankle"], KP["l_ankle"]], 2]
            cut += int(not head.any() or not feet.any())
            n += 1
        return cut, n

    cut, n = count_cut(1.0)
    assert cut >= 0.35 * n
    cut0, n0 = count_cut(0.0)
    assert n0 == n and cut0 <= 0.1 * n


def _pixels(person: syn.Person, yaw: float, colour: tuple[int, int, int]) -> int:
    img = Image.new("RGB", (128, 256), (255, 255, 255))
    syn._draw_person(syn._Canvas(ImageDraw.Draw(img), 64.0, 240.0, 220.0), person, yaw, 0.7)
    return int(np.all(np.asarray(img) == colour, axis=-1).sum())


def test_backpack_only_from_back_and_side_logo_only_from_front():
    person = syn.sample_person(syn._rng(0, 1))
    magenta, cyan = (255, 0, 255), (0, 255, 255)
    person = syn.replace(person, backpack=magenta, handbag=None, upper_pattern="logo", upper2=cyan)
    assert _pixels(person, 0.0, magenta) == 0  # front: behind the torso
    assert _pixels(person, math.pi, magenta) > 200  # back
    assert _pixels(person, math.pi / 2, magenta) > 100  # side: sticks out behind
    assert _pixels(person, 0.0, cyan) > 20 and _pixels(person, math.pi, cyan) == 0


def test_skeleton_geometry():
    person = syn.replace(syn.sample_person(syn._rng(0, 2)), height=1.0)
    _, uvd, vis = syn.skeleton(person, 0.0, 0.0)
    assert vis.all()  # front view: all 18 landmarks
    assert uvd[KP["nose"], 1] > uvd[KP["neck"], 1] > uvd[KP["r_hip"], 1] > uvd[KP["r_knee"], 1] > uvd[KP["r_ankle"], 1]
    assert min(uvd[KP["r_ankle"], 1], uvd[KP["l_ankle"], 1]) == pytest.approx(0.045)  # a foot on the floor
    _, _, vis_side = syn.skeleton(person, math.pi / 2, 0.0)  # facing image right: left side far
    assert not vis_side[[KP["l_shoulder"], KP["l_elbow"], KP["l_wrist"], KP["l_hip"]]].any()
    assert vis_side[[KP["r_shoulder"], KP["r_elbow"], KP["r_wrist"], KP["r_hip"]]].all()
    assert vis_side.sum() < vis.sum()
    assert syn.view_label(0.1) == "front" and syn.view_label(3.0) == "back" and syn.view_label(-1.6) == "side"


# ------------------------------------------------------------------ statistics and topology


@pytest.fixture(scope="module")
def big_plan() -> syn.Plan:
    """A larger plan (no pixels) for statistics."""
    return syn.plan_dataset(syn.SynthConfig(seed=11, num_train_ids=1500, num_test_ids=1500, num_distractors=0, num_junk=0))


def test_images_per_identity_and_identities_per_camera(big_plan):
    cfg = big_plan.config
    lo, hi = cfg.images_per_camera
    per_cam_ids = Counter()
    for pid, visits in big_plan.walks.items():
        cams = [v.cam for v in visits]
        assert cfg.path_cameras[0] <= len(cams) <= cfg.path_cameras[1] and len(set(cams)) == len(cams)
        for v in visits:
            assert lo <= len(v.frames) <= hi and all(v.enter <= f <= v.exit for f in v.frames)
            assert len(set(v.frames)) == len(v.frames)
            per_cam_ids[v.cam] += 1
    n = len(big_plan.walks)
    assert sum(per_cam_ids.values()) / n == pytest.approx(3.0, abs=0.1)  # mean path length of U{2,3,4}
    assert len(per_cam_ids) == cfg.num_cameras and min(per_cam_ids.values()) > 0.1 * n
    train = Counter(s.pid for s in big_plan.shots if s.split == "bounding_box_train")
    assert min(train.values()) >= 2 * lo and max(train.values()) <= 4 * hi
    assert np.mean(list(train.values())) == pytest.approx(3.0 * (lo + hi) / 2, rel=0.08)
    assert np.mean(list(big_plan.off_path.values())) == pytest.approx(cfg.off_path_share, abs=0.03)


def _edge_diffs(plan: syn.Plan, pids) -> dict[tuple[int, int], list[float]]:
    """Per on-path move: difference of the identity's mean kept frame in the two cameras."""
    out = defaultdict(list)
    for pid in pids:
        if plan.off_path[pid]:
            continue
        visits = plan.walks[pid]
        for a, b in zip(visits, visits[1:]):
            if not b.off_path:
                out[(a.cam, b.cam)].append(float(np.mean(b.frames) - np.mean(a.frames)))
    return out


def test_transit_times_follow_the_topology(big_plan):
    cfg = big_plan.config
    edges = {(e.src, e.dst): e for e in big_plan.edges}
    assert all(cfg.transit_mean_s[0] <= e.mean_s <= cfg.transit_mean_s[1] for e in edges.values())
    for src in range(1, cfg.num_cameras + 1):
        assert sum(e.prob for e in edges.values() if e.src == src) == pytest.approx(1.0, abs=1e-5)
    diffs = _edge_diffs(big_plan, big_plan.train_pids + big_plan.test_pids)
    assert set(diffs) <= set(edges)  # on-path moves only use graph edges
    visit_mid = (cfg.visit_s[0] + cfg.visit_s[1]) / 2  # half a visit on each side
    checked = 0
    for pair, d in diffs.items():
        if len(d) < 30:
            continue
        expected = (edges[pair].mean_s + visit_mid) * syn.FPS
        assert np.mean(d) == pytest.approx(expected, rel=0.12), pair
        checked += 1
    assert checked >= 5
    # train and test identities walk the same graph: an ST model fitted on train transfers
    tr, te = _edge_diffs(big_plan, big_plan.train_pids), _edge_diffs(big_plan, big_plan.test_pids)
    common = [p for p in tr if len(tr[p]) >= 30 and len(te.get(p, [])) >= 30]
    assert len(common) >= 3
    for p in common:
        assert np.mean(tr[p]) == pytest.approx(np.mean(te[p]), rel=0.15)


def test_hard_negative_groups_share_upper_garment(tiny, big_plan):
    info = syn.load_info(tiny)["identities"]
    groups = defaultdict(list)
    for pid, v in info.items():
        if v["group"] is not None:
            groups[v["group"]].append(v)
    assert groups
    for members in groups.values():
        assert 2 <= len(members) <= 3 and len({m["split"] for m in members}) == 1
        for key in ("upper", "upper2", "upper_pattern", "sleeves", "skin", "hair", "build"):
            assert len({json.dumps(m[key]) for m in members}) == 1, key
        local = [json.dumps([m["lower_type"], m["lower"], m["shoes"], m["backpack"], m["handbag"], m["hat"]]) for m in members]
        assert len(set(local)) == len(members)  # they differ in a local cue
    share = len(big_plan.groups) / len(big_plan.walks)
    assert share == pytest.approx(big_plan.config.hard_negative_share, abs=0.03)


# ------------------------------------------------------------------ interface


def test_cli_small_run_and_sheet(tmp_path, capsys):
    out = tmp_path / "cli"
    assert synth_main(["--out", str(out), "--small", "--ids", "4", "--cameras", "2", "--seed", "1"]) == 0
    line = capsys.readouterr().out
    assert "4+4 ids, 2 cameras" in line and str(out) in line
    assert syn.load_info(out)["config"]["num_train_ids"] == 4
    assert synth_main(["--out", str(out), "--small", "--ids", "4", "--cameras", "2", "--seed", "2"]) == 0  # overwrites
    assert syn.load_info(out)["seed"] == 2
    fig = syn.sample_sheet(out, n_ids=3)
    assert len(fig.axes) == 3 * 2
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_bad_config_and_refusal_to_overwrite(tmp_path):
    with pytest.raises(ConfigError, match="num_cameras=12"):
        syn.SynthConfig(num_cameras=12).validate()
    with pytest.raises(ConfigError, match="images_per_camera"):
        syn.SynthConfig(images_per_camera=(4, 2)).validate()
    with pytest.raises(ConfigError, match="duration_s"):
        syn.SynthConfig(duration_s=100.0).validate()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a SynthReID dataset"):
        syn.generate(other, syn.SynthConfig.small(**TINY))
    assert (other / "notes.txt").read_text() == "keep me"
