"""Dataset records: the plain data every reader produces and every later step consumes.

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
from typing import Optional

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
