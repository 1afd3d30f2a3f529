"""Figures about the data (notebook 01), not a model: identities across cameras, images per
identity and camera, when cameras see people, landmarks with the pose-guided model's boxes,
and the training augmentation. Plus :func:`spread`, to pick records to show, and :func:`model_input`, one record as the
model takes it.

Every function returns a :class:`matplotlib.figure.Figure` and draws nothing else.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from reidlab.viz.attention import COCO18_LIMBS, POSE_BOX_COLORS
from reidlab.viz.common import draw_box, load_image, new_figure

__all__ = ["spread", "model_input", "sample_sheet", "images_per_identity", "camera_timeline", "keypoint_grid",
           "pose_boxes", "augmentation_preview"]


def spread(items: Iterable[Any], n: int) -> list:
    """``n`` items evenly spaced through ``items`` (splits are sorted by identity, so the
    first ``n`` would show one or two people); all of them when there are fewer."""
    items = list(items)
    if n >= len(items):
        return items
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def model_input(run: Any, record: Any):
    """``(image, keypoints)`` for one record at the run's input size: a normalised float
    tensor ``[3, H, W]`` (ImageNet mean/std) and ``[18, 3]`` landmarks in its pixels (or
    ``None`` when the record has none) -- what the model and the figures of
    :mod:`reidlab.viz` take.

    ``run``: a :class:`reidlab.engine.runs.Run` (its preset's ``input_size``), or anything
    with a ``.run`` that is one (e.g. a run's evaluation)."""
    from reidlab.data import decode_image, eval_transform
    from reidlab.engine.extract import records_keypoints

    run = getattr(run, "run", run)
    size = tuple(run.preset.input_size)
    x = eval_transform(decode_image(record.path), size)
    kp = records_keypoints([record], size)[0][0] if record.keypoints is not None else None
    return x, kp


def _grid(rows: int, cols: int, w: float = 0.9, h: float = 1.6):
    fig = new_figure(max(2.0, w * cols), max(1.6, h * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def sample_sheet(ds, n_ids: int = 6, seed: int = 0, split: str = "test") -> Figure:
    """``n_ids`` identities (rows) across cameras (columns), one image per cell.

    Identities seen by the most cameras are preferred (ties broken with ``seed``); an empty
    cell means the identity never passed that camera. ``split="test"`` uses query +
    gallery (real identities only), ``"train"`` the training split.
    """
    recs = list(ds.train) if split == "train" else [r for r in list(ds.query) + list(ds.gallery) if r.pid > 0]
    cams = sorted({r.camid for r in recs})
    cells: dict[tuple[int, int], list] = {}
    for r in recs:
        cells.setdefault((r.pid, r.camid), []).append(r)
    rng = np.random.default_rng(seed)
    pids = sorted({p for p, _ in cells})
    rng.shuffle(pids)
    pids = sorted(pids, key=lambda p: -sum((p, c) in cells for c in cams))[:n_ids]
    fig, axes = _grid(len(pids), len(cams))
    for i, pid in enumerate(pids):
        for j, c in enumerate(cams):
            ax = axes[i, j]
            for sp in ax.spines.values():
                sp.set_visible(False)
            lst = cells.get((pid, c))
            if lst:
                ax.imshow(load_image(lst[int(rng.integers(len(lst)))].path))
            if i == 0:
                ax.set_title(f"cam {c + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"id {pid}", fontsize=8)
    return fig


def images_per_identity(ds) -> Figure:
    """Histogram of the number of training images per identity (left), and images per
    camera for each split (bars, right)."""
    counts = np.array(list(Counter(r.pid for r in ds.train).values()))
    fig = new_figure(8.0, 3.0)
    a, b = fig.subplots(1, 2)
    a.hist(counts, bins=np.arange(counts.min(), counts.max() + 2) - 0.5, color="#4c72b0")
    a.set_xlabel("images per training identity")
    a.set_ylabel("identities")
    a.set_title(f"{len(counts)} identities, median {np.median(counts):.0f} images")
    splits = ds.splits()
    cams = sorted({r.camid for recs in splits.values() for r in recs})
    width = 0.8 / max(1, len(splits))
    for k, (split, recs) in enumerate(splits.items()):
        b.bar(np.arange(len(cams)) + k * width, [sum(r.camid == c for r in recs) for c in cams], width, label=split)
    b.set_xticks(np.arange(len(cams)) + 0.4 - width / 2, [f"c{c + 1}" for c in cams])
    b.set_ylabel("images")
    b.set_title("images per camera")
    b.legend(fontsize=7)
    return fig


def camera_timeline(records: Iterable[Any], max_ids: int = 40) -> Figure:
    """When each camera sees each identity: x = frame on the camera's clock, y = identity
    (one row each, the first ``max_ids``); one dot per image, coloured by camera."""
    recs = [r for r in records if r.frame is not None and r.pid >= 0]
    fig = new_figure(8.0, 3.6)
    ax = fig.subplots()
    if not recs:
        ax.text(0.5, 0.5, "no frame numbers in this dataset", ha="center", va="center")
        return fig
    ids = sorted({r.pid for r in recs})[:max_ids]
    row = {p: i for i, p in enumerate(ids)}
    cams = sorted({r.camid for r in recs})
    for c in cams:
        pts = np.array([(r.frame, row[r.pid]) for r in recs if r.camid == c and r.pid in row])
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=8, label=f"c{c + 1}")
    ax.set_xlabel("frame (one clock per camera, 25 fps)")
    ax.set_ylabel("identity (row)")
    ax.legend(fontsize=7, ncol=min(len(cams), 8), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return fig


def pose_boxes(keypoints: Any, size: tuple[int, int]) -> np.ndarray:
    """Head / trunk / lower-limb boxes ``[3, 4]`` (x1, y1, x2, y2 pixels) from ``[18, 3]``
    landmarks of an image of ``size`` (H, W): the pose-guided model's own
    :func:`reidlab.models.jlpose.part_boxes_from_keypoints`, so a figure shows exactly what
    the model pools."""
    import torch

    from reidlab.models.jlpose import part_boxes_from_keypoints

    kp = torch.as_tensor(np.asarray(keypoints, dtype=np.float32))[None]
    return part_boxes_from_keypoints(kp, tuple(size))[0].detach().cpu().numpy().astype(np.float32)


def keypoint_grid(records: Sequence[Any], boxes_fn: Optional[Callable[[Any, tuple[int, int]], Any]] = pose_boxes) -> Figure:
    """Images with their visible landmarks (dots, COCO-18 skeleton) and the head / trunk /
    lower-limb boxes of ``boxes_fn(keypoints[18, 3], (H, W)) -> [3, 4]`` (default: the
    pose-guided model's, :func:`pose_boxes`; ``None``: no boxes). Records without
    landmarks show the image alone."""
    recs = list(records)
    fig, axes = _grid(1, len(recs), w=1.1, h=2.4)
    for ax, r in zip(axes[0], recs):
        img = load_image(r.path)
        ax.imshow(img)
        if r.keypoints is None:
            ax.set_title("no landmarks", fontsize=7)
            continue
        kp = np.asarray(r.keypoints, dtype=np.float32)
        vis = kp[:, 2] > 0
        for a, b in COCO18_LIMBS:
            if vis[a] and vis[b]:
                ax.plot(kp[[a, b], 0], kp[[a, b], 1], color="white", lw=0.8)
        ax.scatter(kp[vis, 0], kp[vis, 1], s=6, c="yellow", zorder=3)
        if boxes_fn is not None:
            for box, color in zip(np.asarray(boxes_fn(kp, img.shape[:2])), POSE_BOX_COLORS):
                draw_box(ax, box, color)
        ax.set_title(f"{int(vis.sum())}/18 visible", fontsize=7)
    return fig


def augmentation_preview(records: Sequence[Any], seed: int = 0, size: tuple[int, int] = (128, 64)) -> Figure:
    """Images (top row) and one draw of the training augmentation (bottom row: flip,
    pad 10 + random crop, random erasing p=0.5), batched on tensors with ``seed``."""
    import torch

    from reidlab.data import BatchAugment, decode_image, denormalize, make_generator

    recs = list(records)
    u8 = torch.stack([decode_image(r.path, size) for r in recs])
    aug = BatchAugment(size=size, flip_p=0.5, pad=10, erase_p=0.5)
    out, _ = aug(u8, generator=make_generator(seed))
    out = denormalize(out).permute(0, 2, 3, 1).numpy()
    fig, axes = _grid(2, len(recs), w=0.9, h=1.7)
    for i in range(len(recs)):
        axes[0, i].imshow(u8[i].permute(1, 2, 0).numpy())
        axes[1, i].imshow(out[i])
    axes[0, 0].set_ylabel("input", fontsize=8)
    axes[1, 0].set_ylabel("augmented", fontsize=8)
    return fig
