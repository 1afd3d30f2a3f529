"""Dataset records: the plain data every reader produces and every later step consumes, and
:class:`ReIDDataset`, the splits of one dataset as lists of them.

Conventions (shared by all readers, the synthetic generator, evaluation and plots):

* ``camid`` is **0-based**: Market's ``c1`` is camera 0. Evaluation only compares camera
  ids for equality, so any integer labelling works there.
* ``pid`` is the label used by the split: in ``train`` it is relabelled to ``0..N-1``
  (contiguous, sorted by original id); in ``query`` / ``gallery`` / ``multi_query`` it is
  the original id, with ``0`` = distractor and ``-1`` = junk (Market convention).
  ``orig_pid`` always keeps the id written in the file name.
* ``frame`` is a time index on **one clock per camera** (Market: the frame number plus
  the lengths of that camera's earlier sequences; Duke: already global), or ``None``
  when the dataset has no time stamps.
* ``keypoints`` is ``None`` or a float32 array of shape ``(18, 3)``: OpenPose/COCO-18
  body landmarks ``(x, y, visibility)`` in pixel coordinates of the stored image file,
  visibility in ``{0, 1}`` (``0`` = not visible / not detected; x, y are then 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

#: OpenPose / COCO-18 landmark order used by every keypoint array in reidlab.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "neck",
    "r_shoulder", "r_elbow", "r_wrist",
    "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle",
    "l_hip", "l_knee", "l_ankle",
    "r_eye", "l_eye", "r_ear", "l_ear",
)

#: Index permutation that maps landmarks of an image to those of its horizontal mirror
#: (left and right swap). ``kp_flipped = kp[FLIP_PERMUTATION]`` with ``x -> W - x``.
FLIP_PERMUTATION: tuple[int, ...] = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)


@dataclass(frozen=True)
class ImageRecord:
    """One image of a re-ID dataset.

    Attributes:
        path: absolute path of the image file.
        pid: identity label for this split (train: relabelled ``0..N-1``; test splits:
            original id, ``0`` distractor, ``-1`` junk).
        camid: 0-based camera index.
        frame: time index on the camera's global clock (frames), or ``None``.
        orig_pid: identity as written in the file name.
        seq: sequence index within the camera (Market ``sM`` -> ``M``), or ``None``.
        keypoints: ``(18, 3)`` float32 landmarks or ``None`` (see module docstring).
    """

    path: str
    pid: int
    camid: int
    frame: Optional[int]
    orig_pid: int
    seq: Optional[int] = None
    keypoints: Optional[np.ndarray] = field(default=None, compare=False, hash=False, repr=False)


# --------------------------------------------------------------------------- dataset object


@dataclass
class ReIDDataset:
    """A re-ID dataset as lists of :class:`ImageRecord` per split.

    Attributes:
        name: layout name (``market1501``, ``dukemtmc``, ``msmt17``, ``cuhk03np``, ``folder``).
        root: absolute dataset root; record paths are absolute and under it.
        train, query, gallery: records of each split (train ids relabelled ``0..N-1``).
        multi_query: Market ``gt_bbox`` records (original ids), or ``None`` when absent.
        options: reader options actually used (e.g. ``version``, ``variant``,
            ``cameras_known``, ``val_merged``).
        distractor_pids: ids that mean "distractor" in the test splits (``(0,)`` for the
            Market convention, ``()`` for MSMT17 where ``0`` is a person). ``-1`` is always junk.
        keypoints_source: the keypoint file/folder attached, or ``None``.
        pid_names: for ``folder`` datasets with non-numeric identity folders, ``orig_pid ->
            folder name``; else ``None``.
    """

    name: str
    root: str
    train: list[ImageRecord]
    query: list[ImageRecord]
    gallery: list[ImageRecord]
    multi_query: Optional[list[ImageRecord]] = None
    options: dict = field(default_factory=dict)
    distractor_pids: tuple[int, ...] = (0,)
    keypoints_source: Optional[str] = None
    pid_names: Optional[dict[int, str]] = None

    # -- per-split statistics ---------------------------------------------------------------
    def splits(self) -> dict[str, list[ImageRecord]]:
        """``{"train": ..., "query": ..., "gallery": ..., "multi_query": ...}`` (present splits)."""
        out = {"train": self.train, "query": self.query, "gallery": self.gallery}
        if self.multi_query is not None:
            out["multi_query"] = self.multi_query
        return out

    def _ids(self, records: Sequence[ImageRecord]) -> int:
        skip = {-1, *self.distractor_pids}
        return len({r.pid for r in records if r.pid not in skip})

    @property
    def num_train_pids(self) -> int:
        """Number of training identities (= classifier size)."""
        return len({r.pid for r in self.train})

    @property
    def num_train_imgs(self) -> int:
        return len(self.train)

    @property
    def num_train_cams(self) -> int:
        return len({r.camid for r in self.train})

    @property
    def num_query_pids(self) -> int:
        return self._ids(self.query)

    @property
    def num_query_imgs(self) -> int:
        return len(self.query)

    @property
    def num_query_cams(self) -> int:
        return len({r.camid for r in self.query})

    @property
    def num_gallery_pids(self) -> int:
        """Gallery identities, not counting junk (-1) and distractor ids."""
        return self._ids(self.gallery)

    @property
    def num_gallery_imgs(self) -> int:
        return len(self.gallery)

    @property
    def num_gallery_cams(self) -> int:
        return len({r.camid for r in self.gallery})

    @property
    def num_cams(self) -> int:
        """Number of distinct camera ids over all splits."""
        cams: set[int] = set()
        for recs in self.splits().values():
            cams.update(r.camid for r in recs)
        return len(cams)

    def summary_frame(self):
        """Per-split table as a pandas DataFrame (index: split; columns: ids, images, cameras,
        distractor_images, junk_images, with_keypoints)."""
        import pandas as pd

        rows = {}
        skip = set(self.distractor_pids)
        for split, recs in self.splits().items():
            rows[split] = {
                "ids": self.num_train_pids if split == "train" else self._ids(recs),
                "images": len(recs),
                "cameras": len({r.camid for r in recs}),
                "distractor_images": sum(r.pid in skip for r in recs) if split != "train" else 0,
                "junk_images": sum(r.pid == -1 for r in recs) if split != "train" else 0,
                "with_keypoints": sum(r.keypoints is not None for r in recs),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def summary(self) -> str:
        """One screen: identities / images / cameras per split, as the papers' dataset tables."""
        opts = ", ".join(f"{k}={v}" for k, v in self.options.items())
        lines = [f"{self.name}  {self.root}" + (f"  ({opts})" if opts else "")]
        lines.append(f"  {'split':<12}{'ids':>8}{'images':>10}{'cameras':>9}")
        skip = set(self.distractor_pids)
        for split, recs in self.splits().items():
            ids = self.num_train_pids if split == "train" else self._ids(recs)
            line = f"  {split:<12}{ids:>8}{len(recs):>10}{len({r.camid for r in recs}):>9}"
            if split != "train":
                extra = []
                n_d = sum(r.pid in skip for r in recs)
                n_j = sum(r.pid == -1 for r in recs)
                if n_d:
                    extra.append(f"{n_d} distractor")
                if n_j:
                    extra.append(f"{n_j} junk")
                if extra:
                    line += "   (+ " + ", ".join(extra) + " images)"
            lines.append(line)
        total = sum(len(r) for r in self.splits().values())
        lines.append(f"  cameras overall: {self.num_cams}" + ("" if self.options.get("cameras_known", True)
                     else "  (unknown: gallery = camera 0, query = camera 1; see data/README.md)"))
        has_frame = any(r.frame is not None for r in self.gallery)
        lines.append(f"  time stamps: {'frame on one clock per camera' if has_frame else 'none'}")
        n_kp = sum(r.keypoints is not None for recs in self.splits().values() for r in recs)
        src = f" from {self.keypoints_source}" if self.keypoints_source else ""
        lines.append(f"  keypoints: {n_kp} of {total} images{src}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # short: the default dataclass repr would print every record
        return (f"ReIDDataset(name={self.name!r}, root={self.root!r}, train={len(self.train)}, "
                f"query={len(self.query)}, gallery={len(self.gallery)}, "
                f"multi_query={None if self.multi_query is None else len(self.multi_query)})")
