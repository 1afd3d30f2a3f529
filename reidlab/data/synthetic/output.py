"""SynthReID on disk: :func:`generate` (atomic swap into the output folder, metadata files)
and reading the ground truth back (:func:`load_manifest`, :func:`load_info`, :func:`sample_sheet`).

Part of :mod:`reidlab.data.synthetic` (import from there).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

from reidlab.data.synthetic.config import FORMAT_VERSION, FPS, SPLITS, PathLike, SynthConfig
from reidlab.data.synthetic.person import view_label
from reidlab.data.synthetic.render import render_shot
from reidlab.data.synthetic.world import Plan, _background, plan_dataset
from reidlab.errors import DatasetError

logger = logging.getLogger(__name__)

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
        progress: log a progress line every 1000 images (logger ``reidlab.data.synthetic.output``,
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
