"""Body keypoints (OpenPose / COCO-18) for dataset images: read, write, attach to records.

Every keypoint array in reidlab is float32 ``(18, 3)``: ``(x, y, visibility)`` per landmark in
the order of :data:`reidlab.data.records.KEYPOINT_NAMES`, in pixels of the **stored image
file** with continuous coordinates (the image spans ``[0, W] x [0, H]``, pixel ``i`` covers
``[i, i + 1)``; a horizontal flip maps ``x -> W - x``). ``visibility`` is ``1`` (visible) or
``0`` (not visible / not detected, then ``x = y = 0``). A stored third number ``> 0.1``
(:data:`VISIBILITY_THRESHOLD`) counts as visible, in both file formats.

Two on-disk formats are read (see ``data/README.md``):

(a) ``keypoints.json`` at the dataset root (written by :func:`save_keypoints`, e.g. by the
    synthetic generator)::

        {"format": "openpose-coco18",
         "keypoints": {"bounding_box_train/0002_c1s1_000451_03.jpg": [x0, y0, v0, ..., x17, y17, v17]}}

(b) an OpenPose output folder ``<root>/keypoints/<split>/<image stem>_keypoints.json``, each
    file ``{"people": [{"pose_keypoints_2d": [x, y, c] * 18}, ...]}`` (OpenPose run with
    ``--model_pose COCO``). The person with the highest mean confidence is kept; a file with
    no person gives an all-invisible array. OpenPose's half-pixel offset convention is below
    its accuracy and is not corrected.

Keys are image paths relative to the dataset root with ``/`` separators.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Iterable, Mapping, Optional, Union

import numpy as np

from reidlab.errors import DatasetError
from reidlab.fileio import atomic_open

#: Number of landmarks (COCO-18 / OpenPose ``--model_pose COCO``).
NUM_KEYPOINTS = 18
#: Value of the ``"format"`` field of a ``keypoints.json`` file.
KEYPOINT_FORMAT = "openpose-coco18"
#: Stored third number above which a landmark counts as visible.
VISIBILITY_THRESHOLD = 0.1
#: Default file / folder names looked for at a dataset root by ``keypoints="auto"``.
KEYPOINT_FILE = "keypoints.json"
KEYPOINT_DIR = "keypoints"

_IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".bmp")

PathLike = Union[str, os.PathLike]


def _to_array(values: object, where: str) -> np.ndarray:
    """54 numbers -> normalised float32 (18, 3) (visibility in {0, 1}, x = y = 0 if invisible)."""
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: keypoints must be 54 numbers (18 x [x, y, v]); got non-numeric values; regenerate the file") from None
    if arr.size != NUM_KEYPOINTS * 3:
        raise DatasetError(
            f"{where}: expected 54 numbers (18 COCO-18 landmarks x [x, y, v]), got {arr.size}; "
            "write COCO-18 keypoints (OpenPose --model_pose COCO, not BODY_25) or regenerate the file"
        )
    arr = arr.reshape(NUM_KEYPOINTS, 3).copy()
    if not np.isfinite(arr).all():
        raise DatasetError(f"{where}: keypoints contain NaN/inf; regenerate the file")
    vis = arr[:, 2] > VISIBILITY_THRESHOLD
    arr[:, 2] = vis
    arr[~vis, :2] = 0.0
    return arr


def _read_json(path: Path) -> object:
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); regenerate or delete the keypoint file") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot read keypoint file ({err.strerror}); check that it exists and is readable") from None


def _load_json_file(path: Path) -> dict[str, np.ndarray]:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("keypoints"), dict):
        raise DatasetError(f'{path}: expected {{"format": "{KEYPOINT_FORMAT}", "keypoints": {{image: [54 numbers]}}}}; regenerate the file')
    fmt = data.get("format", KEYPOINT_FORMAT)
    if fmt != KEYPOINT_FORMAT:
        raise DatasetError(f'{path}: unsupported keypoint format {fmt!r}, expected "{KEYPOINT_FORMAT}"; convert the file to COCO-18')
    out: dict[str, np.ndarray] = {}
    for key, values in data["keypoints"].items():
        out[str(key).replace("\\", "/")] = _to_array(values, f"{path} entry {key!r}")
    return out


def _openpose_person(path: Path) -> np.ndarray:
    data = _read_json(path)
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise DatasetError(f'{path}: expected an OpenPose file {{"people": [{{"pose_keypoints_2d": [...]}}]}}; '
                           're-run OpenPose with --write_json')
    best: Optional[np.ndarray] = None
    best_conf = -np.inf
    for i, person in enumerate(people):
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if values is None:
            raise DatasetError(f"{path}: person {i} has no pose_keypoints_2d; re-run OpenPose with --write_json")
        raw = np.asarray(values, dtype=np.float32)
        if raw.size != NUM_KEYPOINTS * 3:
            _to_array(raw, f"{path} person {i}")  # raises with the length message
        conf = float(raw.reshape(NUM_KEYPOINTS, 3)[:, 2].mean())
        if conf > best_conf:
            best, best_conf = raw, conf
    if best is None:
        return np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    return _to_array(best, str(path))


def _load_openpose_dir(folder: Path) -> dict[str, np.ndarray]:
    root = folder.parent
    out: dict[str, np.ndarray] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for fname in sorted(files):
            if not fname.endswith("_keypoints.json"):
                continue
            file = Path(dirpath) / fname
            rel_dir = Path(dirpath).relative_to(folder)
            stem = fname[: -len("_keypoints.json")]
            key = None
            for suffix in _IMAGE_SUFFIXES:
                if (root / rel_dir / (stem + suffix)).is_file():
                    key = (rel_dir / (stem + suffix)).as_posix()
                    break
            if key is None:  # image not found: key without extension, matched by stem
                key = (rel_dir / stem).as_posix()
            out[key] = _openpose_person(file)
    return out


def load_keypoints(source: PathLike) -> dict[str, np.ndarray]:
    """Read keypoints from a ``keypoints.json`` file or an OpenPose output folder.

    Args:
        source: path of a ``keypoints.json`` file (format (a) of the module docstring) or of
            an OpenPose output folder ``<root>/keypoints`` (format (b)).

    Returns:
        ``{path relative to the dataset root ('/' separated): float32 (18, 3) array}`` with
        ``(x, y, visibility)`` in stored-image pixels. For the OpenPose folder the key carries
        the extension of the image found next to it (``<root>/<split>/<stem>.jpg|.png``) or
        no extension when the image is missing.

    Raises:
        DatasetError: the path does not exist, is not valid JSON, or an entry does not hold
            18 x 3 numbers (the message names the file and the entry).
    """
    path = Path(source)
    if path.is_dir():
        return _load_openpose_dir(path)
    if path.is_file():
        return _load_json_file(path)
    raise DatasetError(f"keypoints source {path} does not exist; pass a keypoints.json file, an OpenPose output folder, or keypoints=None")


def save_keypoints(path: PathLike, mapping: Mapping[str, np.ndarray]) -> Path:
    """Write ``mapping`` as a ``keypoints.json`` file (format (a)), atomically.

    Args:
        path: destination file (conventionally ``<dataset root>/keypoints.json``).
        mapping: ``{relative image path: (18, 3) array-like of (x, y, visibility)}``;
            coordinates are rounded to 1/1000 pixel.

    Returns:
        The written path. The file is written to a temporary name in the same folder and
        renamed, so readers never see a half-written file.
    """
    path = Path(path)
    entries = {}
    for key, value in sorted(mapping.items()):
        arr = _to_array(value, f"save_keypoints entry {key!r}")
        entries[str(key).replace("\\", "/")] = [round(float(v), 3) for v in arr.reshape(-1)]
    payload = {"format": KEYPOINT_FORMAT, "keypoints": entries}
    with atomic_open(path, "w") as fh:
        json.dump(payload, fh, separators=(",", ":"))
    return path


def find_keypoints(root: PathLike) -> Optional[Path]:
    """The keypoint source at a dataset root for ``keypoints="auto"``: ``keypoints.json``,
    else a ``keypoints/`` folder, else ``None``."""
    root = Path(root)
    if (root / KEYPOINT_FILE).is_file():
        return root / KEYPOINT_FILE
    if (root / KEYPOINT_DIR).is_dir():
        return root / KEYPOINT_DIR
    return None


def attach_keypoints(records: Iterable, root: PathLike, mapping: Mapping[str, np.ndarray]) -> list:
    """Return copies of ``records`` (``ImageRecord``) with ``keypoints`` set from ``mapping``.

    A record matches the key equal to its path relative to ``root``, or, failing that, the
    same path without the extension. Records without an entry keep ``keypoints=None``.
    """
    root = Path(root)
    by_stem = {os.path.splitext(k)[0]: v for k, v in mapping.items()}
    out = []
    for rec in records:
        rel = Path(rec.path).relative_to(root).as_posix() if os.path.isabs(rec.path) else rec.path
        kp = mapping.get(rel)
        if kp is None:
            kp = by_stem.get(os.path.splitext(rel)[0])
        out.append(dataclasses.replace(rec, keypoints=kp) if kp is not None else rec)
    return out


def stack_keypoints(records: Iterable) -> np.ndarray:
    """float32 ``[N, 18, 3]`` of the records' keypoints in order (all zeros = invisible for a
    record without keypoints), aligned with an :class:`~reidlab.data.images.ImageCache` built
    from the same records: ``torch.from_numpy(stack_keypoints(recs))[idx]`` is the batch's."""
    recs = list(records)
    out = np.zeros((len(recs), NUM_KEYPOINTS, 3), dtype=np.float32)
    for i, rec in enumerate(recs):
        if rec.keypoints is not None:
            out[i] = rec.keypoints
    return out
