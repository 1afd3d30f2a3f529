"""Dataset readers: one function per on-disk layout, all returning a :class:`ReIDDataset`.

``load_dataset(name, root)`` reads a dataset folder into lists of
:class:`~reidlab.data.records.ImageRecord` (see that module for the conventions: 0-based
``camid``, train ids relabelled ``0..N-1`` with ``orig_pid`` kept, ``frame`` on one clock per
camera). The layouts (file names, which folders, what is skipped) are documented in
``data/README.md``; the essentials:

* ``market1501``: ``bounding_box_train/``, ``bounding_box_test/`` (gallery), ``query/`` and the
  optional ``gt_bbox/`` (multi-query); names ``0002_c1s1_000451_03.jpg``
  (``pid_c<cam>s<seq>_<frame>_<box>``). ``-1`` = junk, ``0`` = distractor (kept in the test
  splits, dropped from train). Global frame = frame + lengths of the camera's earlier
  sequences (:data:`MARKET_SEQUENCE_LENGTHS`, overridable per camera by
  ``<root>/sequence_lengths.json``).
* ``dukemtmc``: same folders, names ``0005_c2_f0046985.jpg`` (frame already global).
* ``msmt17``: ``list_{train,val,query,gallery}.txt`` over ``train/`` + ``test/`` (V1) or
  ``mask_train_v2/`` + ``mask_test_v2/`` (V2); train = list_train + list_val; frame ``None``.
* ``cuhk03np``: ``<root>/{detected,labeled}/{bounding_box_train,bounding_box_test,query}``,
  names ``0001_c1_1.png``; option ``variant``.
* ``folder``: ``{train,query,gallery}/<identity>/<image>``, camera from an optional ``_cN``
  token in the file name.

Files without an image extension (``Thumbs.db``, ``*.txt``, ``.DS_Store``) and hidden files
are skipped; an image whose name does not match the layout is an error (one line naming the
file, the expected pattern and the fix).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Optional, Sequence, Union

from reidlab.data.keypoints import attach_keypoints, find_keypoints, load_keypoints
from reidlab.data.records import ImageRecord, ReIDDataset
from reidlab.errors import DatasetError

PathLike = Union[str, os.PathLike]

#: Image file extensions read by every layout (lower-case); other files are skipped.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")

#: Market-1501 sequence lengths in frames, per camera (1-based camera number as in the file
#: names) and sequence ``s1, s2, ...``: the table of the published spatial-temporal work
#: (DESIGN.md). Global frame of ``cCsS_FFFFFF`` = ``F + sum(MARKET_SEQUENCE_LENGTHS[C][:S-1])``.
MARKET_SEQUENCE_LENGTHS: dict[int, tuple[int, ...]] = {
    1: (72681, 74546, 74881, 74661, 74891, 54346),
    2: (163691, 164677, 98102),
    3: (161708, 161769, 104469),
    4: (72107, 72373, 74810, 74541, 74910, 50616),
    5: (161095, 161724, 103487),
    6: (87551, 131268, 95817, 30952),
}
#: Optional file at a Market-layout root: ``{"c1": [len_s1, len_s2, ...], ...}``; each camera
#: listed replaces that camera's row of :data:`MARKET_SEQUENCE_LENGTHS`.
SEQUENCE_LENGTHS_FILE = "sequence_lengths.json"

MARKET_RE = re.compile(r"^(-?\d+)_c(\d)s(\d)_(\d{6})_(\d{2})\.(jpg|png)$")
DUKE_RE = re.compile(r"^(-?\d+)_c(\d+)_f(\d+)\.(jpg|png)$")
CUHK03NP_RE = re.compile(r"^(-?\d+)_c(\d)(?:_[^.]*)?\.(png|jpg)$")
MSMT17_RE = re.compile(r"^(\d+)_(\d+)_(\d+)_[^/]*\.(jpg|png)$")
FOLDER_CAM_RE = re.compile(r"(?:^|[_\-])c(\d+)(?=[_.\-])")
FOLDER_FRAME_RE = re.compile(r"(?:^|[_\-])f(\d+)(?=[_.\-])")

_EXAMPLES = {
    "market1501": "0002_c1s1_000451_03.jpg",
    "dukemtmc": "0005_c2_f0046985.jpg",
    "cuhk03np": "0001_c1_1.png",
}


# --------------------------------------------------------------------------- helpers


class _Item(NamedTuple):
    path: str
    orig_pid: int
    camid: int
    frame: Optional[int]
    seq: Optional[int]


def _check_dir(folder: Path, what: str, fix: str) -> None:
    if not folder.exists():
        raise DatasetError(f"{folder}: missing {what}; {fix}")
    if not folder.is_dir():
        raise DatasetError(f"{folder}: expected a folder ({what}) but found a file; {fix}")


def _listdir(folder: Path) -> list[str]:
    """Sorted entry names of ``folder``; unreadable folders raise a one-line DatasetError."""
    try:
        return sorted(os.listdir(folder))
    except PermissionError:
        raise DatasetError(
            f"{folder}: permission denied while listing the folder; expected a readable folder; "
            f"fix: chmod -R u+rX '{folder}' or run as its owner") from None
    except OSError as err:
        raise DatasetError(f"{folder}: cannot list the folder ({err.strerror}); check the path and the disk") from None


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def _image_names(folder: Path, split: str, layout: str) -> list[str]:
    _check_dir(folder, f"{split} split folder of the {layout} layout",
               "check the dataset root (see data/README.md for the expected folders) or re-extract the archive")
    names = [n for n in _listdir(folder) if _is_image_name(n) and (folder / n).is_file()]
    if not names:
        example = _EXAMPLES.get(layout, "<identity>/<image>.jpg")
        raise DatasetError(f"{folder}: the {split} split has no images (expected files like {example}); re-extract the dataset")
    return names


def _bad_name(path: Path, layout: str, pattern: str) -> DatasetError:
    return DatasetError(
        f"{path}: file name does not match the {layout} layout (expected {pattern}, "
        f"e.g. {_EXAMPLES.get(layout, '')}); rename or remove the file")


#: Accepted ranges of the numbers read from file names (inclusive low, exclusive high): ids
#: and cameras must fit a 32-bit label, frames a 63-bit clock.
LABEL_RANGES: dict[str, tuple[int, int]] = {"identity": (-1, 2**31), "camera": (0, 2**31), "frame": (0, 2**62)}


def _check_ranges(items: Sequence[_Item]) -> None:
    """One-line DatasetError for the first file whose identity, camera or frame is out of
    :data:`LABEL_RANGES` (e.g. a 23-digit identity that no label array can hold)."""
    for it in items:
        for what, value in (("identity", it.orig_pid), ("camera", it.camid), ("frame", it.frame)):
            lo, hi = LABEL_RANGES[what]
            if value is not None and not lo <= value < hi:
                shown = value + 1 if what == "camera" else value   # cameras are 1-based in names
                raise DatasetError(f"{it.path}: {what} {shown} is out of range (expected {lo + (what == 'camera')} "
                                   f"<= {what} < {hi + (what == 'camera')}); rename or remove the file")


def _records(items: Sequence[_Item], relabel: bool, exclude: Iterable[int] = ()) -> list[ImageRecord]:
    _check_ranges(items)
    exclude = set(exclude)
    if relabel:
        items = [it for it in items if it.orig_pid not in exclude]
        label = {pid: i for i, pid in enumerate(sorted({it.orig_pid for it in items}))}
    return [ImageRecord(path=it.path, pid=label[it.orig_pid] if relabel else it.orig_pid,
                        camid=it.camid, frame=it.frame, orig_pid=it.orig_pid, seq=it.seq)
            for it in items]


def _nonempty(records: list[ImageRecord], folder: Path, split: str) -> list[ImageRecord]:
    if not records:
        raise DatasetError(f"{folder}: the {split} split has no usable images after removing junk/distractor ids; check the dataset")
    return records


# --------------------------------------------------------------------------- Market / Duke / CUHK03-NP


def read_sequence_lengths(root: PathLike) -> dict[int, tuple[int, ...]]:
    """Market sequence lengths for ``root``: :data:`MARKET_SEQUENCE_LENGTHS`, with each camera
    listed in ``<root>/sequence_lengths.json`` (``{"c1": [len_s1, ...]}``) replaced."""
    table = dict(MARKET_SEQUENCE_LENGTHS)
    path = Path(root) / SEQUENCE_LENGTHS_FILE
    if not path.is_file():
        return table
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read the sequence-length file ({err}); fix or delete it") from None
    expect = 'expected {"c1": [len_s1, len_s2, ...], ...} with positive integer frame counts'
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: {expect}; fix or delete it")
    for key, lengths in data.items():
        m = re.fullmatch(r"c(\d+)", str(key))
        if (m is None or not isinstance(lengths, list)
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in lengths)):
            raise DatasetError(f"{path}: bad entry {key!r}: {expect}; fix or delete it")
        table[int(m.group(1))] = tuple(lengths)
    return table


def _market_items(folder: Path, split: str, root: Path, seq_table: dict[int, tuple[int, ...]]) -> list[_Item]:
    pattern = "<pid>_c<cam>s<seq>_<6-digit frame>_<2-digit box>.jpg, pid -1 junk / 0 distractor"
    offsets: dict[tuple[int, int], int] = {}
    items = []
    for name in _image_names(folder, split, "market1501"):
        m = MARKET_RE.match(name)
        if m is None:
            raise _bad_name(folder / name, "market1501", pattern)
        pid, cam, seq, frame = int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4))
        if pid < -1 or cam < 1 or seq < 1:
            raise _bad_name(folder / name, "market1501", pattern + ", camera and sequence >= 1")
        key = (cam, seq)
        if key not in offsets:
            lengths = seq_table.get(cam, ())
            if seq > len(lengths):
                raise DatasetError(
                    f"{folder / name}: camera c{cam} sequence s{seq} is not in the Market sequence-length table; "
                    f"add the lengths of c{cam}'s sequences to {root / SEQUENCE_LENGTHS_FILE} "
                    f'as {{"c{cam}": [len_s1, len_s2, ...]}}')
            offsets[key] = sum(lengths[: seq - 1])
        items.append(_Item(str(folder / name), pid, cam - 1, frame + offsets[key], seq))
    return items


def market_global_frame(cam: int, seq: int, frame: int,
                        table: Optional[dict[int, tuple[int, ...]]] = None) -> int:
    """Global frame of Market ``c<cam>s<seq>_<frame>`` (1-based ``cam`` and ``seq`` as in the
    file name): ``frame + sum of the lengths of that camera's earlier sequences``.
    ``market_global_frame(1, 2, 100) == 72781``."""
    lengths = (table or MARKET_SEQUENCE_LENGTHS).get(cam, ())
    if not 1 <= seq <= len(lengths):
        raise DatasetError(f"camera c{cam} sequence s{seq} is not in the Market sequence-length table; pass a table that lists it")
    return frame + sum(lengths[: seq - 1])


def _simple_items(folder: Path, split: str, layout: str, regex: re.Pattern, pattern: str,
                  frame_group: Optional[int]) -> list[_Item]:
    items = []
    for name in _image_names(folder, split, layout):
        m = regex.match(name)
        if m is None:
            raise _bad_name(folder / name, layout, pattern)
        pid, cam = int(m.group(1)), int(m.group(2))
        if pid < -1 or cam < 1:
            raise _bad_name(folder / name, layout, pattern + " with pid >= -1 and camera >= 1")
        frame = int(m.group(frame_group)) if frame_group else None
        items.append(_Item(str(folder / name), pid, cam - 1, frame, None))
    return items


def _read_market(root: Path) -> ReIDDataset:
    """Market-1501 (see module docstring)."""
    table = read_sequence_lengths(root)
    train = _records(_market_items(root / "bounding_box_train", "train", root, table), relabel=True, exclude=(-1, 0))
    query = _records(_market_items(root / "query", "query", root, table), relabel=False)
    gallery = _records(_market_items(root / "bounding_box_test", "gallery", root, table), relabel=False)
    multi = None
    if (root / "gt_bbox").exists():
        multi = _records(_market_items(root / "gt_bbox", "multi_query (gt_bbox)", root, table), relabel=False)
    return ReIDDataset("market1501", str(root), _nonempty(train, root / "bounding_box_train", "train"),
                       query, gallery, multi)


def _read_duke(root: Path) -> ReIDDataset:
    """DukeMTMC-reID: Market folders, names ``<pid>_c<cam>_f<global frame>.jpg``."""
    pat = "<pid>_c<cam>_f<frame>.jpg"
    read = lambda sub, split: _simple_items(root / sub, split, "dukemtmc", DUKE_RE, pat, 3)  # noqa: E731
    train = _records(read("bounding_box_train", "train"), relabel=True, exclude=(-1, 0))
    return ReIDDataset("dukemtmc", str(root), _nonempty(train, root / "bounding_box_train", "train"),
                       _records(read("query", "query"), relabel=False),
                       _records(read("bounding_box_test", "gallery"), relabel=False))


def _read_cuhk03np(root: Path, variant: str = "detected") -> ReIDDataset:
    """CUHK03-NP (767/700 protocol): ``<root>/<variant>/{bounding_box_train,bounding_box_test,query}``."""
    if variant not in ("detected", "labeled"):
        raise DatasetError(f"cuhk03np: unknown variant {variant!r}; expected 'detected' or 'labeled'")
    base = root / variant
    _check_dir(base, f"'{variant}' tree of CUHK03-NP",
               "pass the folder that holds detected/ and labeled/ (the CUHK03-NP release) as root")
    pat = "<pid>_c<cam>_<index>.png"
    read = lambda sub, split: _simple_items(base / sub, split, "cuhk03np", CUHK03NP_RE, pat, None)  # noqa: E731
    train = _records(read("bounding_box_train", "train"), relabel=True, exclude=(-1, 0))
    return ReIDDataset("cuhk03np", str(root), _nonempty(train, base / "bounding_box_train", "train"),
                       _records(read("query", "query"), relabel=False),
                       _records(read("bounding_box_test", "gallery"), relabel=False),
                       options={"variant": variant})


# --------------------------------------------------------------------------- MSMT17

_MSMT_DIRS = {"V1": ("train", "test"), "V2": ("mask_train_v2", "mask_test_v2")}


def _msmt_version(root: Path, version: Optional[str]) -> str:
    if version not in (None, "auto"):
        v = str(version).upper()
        v = v if v.startswith("V") else "V" + v
        if v not in _MSMT_DIRS:
            raise DatasetError(f"msmt17: unknown version {version!r}; expected 'V1', 'V2' or 'auto'")
        return v
    for v, (tr, te) in _MSMT_DIRS.items():
        if (root / tr).is_dir() and (root / te).is_dir():
            return v
    raise DatasetError(
        f"{root}: no MSMT17 image folders found (expected train/ + test/ for V1 or mask_train_v2/ + "
        "mask_test_v2/ for V2 next to list_*.txt); pass the MSMT17_V1 or MSMT17_V2 folder as root")


def _msmt_list(list_file: Path, img_dir: Path) -> list[_Item]:
    if not list_file.is_file():
        raise DatasetError(f"{list_file}: missing MSMT17 list file; re-extract the MSMT17 archive "
                           "(it ships list_train/val/query/gallery.txt)")
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise DatasetError(f"{list_file}: cannot read ({err.strerror}); check its permissions") from None
    items = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not re.fullmatch(r"-?\d+", parts[1]):
            raise DatasetError(f"{list_file}:{lineno}: expected '<pid folder>/<image> <pid>' "
                               f"(e.g. 0000/0000_000_01_0303morning_0015_0.jpg 0), got {line.strip()!r}; fix the line")
        rel, pid = parts[0], int(parts[1])
        m = MSMT17_RE.match(os.path.basename(rel))
        if m is None or int(m.group(3)) < 1:
            raise DatasetError(f"{list_file}:{lineno}: image name {rel!r} does not match the msmt17 layout "
                               "(expected <pid>_<index>_<cam>_<date><time>_<frame>_<n>.jpg); fix the list file")
        path = img_dir / rel
        items.append(_Item(str(path), pid, int(m.group(3)) - 1, None, None))
    if not items:
        raise DatasetError(f"{list_file}: the list is empty (expected one '<image> <pid>' per line); re-extract the dataset")
    missing = [it.path for it in items if not os.path.isfile(it.path)]
    if missing:
        raise DatasetError(f"{missing[0]}: listed in {list_file.name} but missing ({len(missing)} listed images missing); "
                           "re-extract the dataset or pass the right version")
    return items


def _read_msmt17(root: Path, version: Optional[str] = "auto") -> ReIDDataset:
    """MSMT17 V1/V2; train = list_train + list_val (the usual convention), frame ``None``."""
    if not (root / "list_train.txt").exists():
        for sub in ("MSMT17_V2", "MSMT17_V1", "MSMT17"):
            if (root / sub / "list_train.txt").exists():
                root = root / sub
                break
    v = _msmt_version(root, version)
    tr, te = (root / d for d in _MSMT_DIRS[v])
    _check_dir(tr, f"MSMT17 {v} train image folder", "re-extract the dataset or pass version='V1'/'V2'")
    _check_dir(te, f"MSMT17 {v} test image folder", "re-extract the dataset or pass version='V1'/'V2'")
    train_items = _msmt_list(root / "list_train.txt", tr)
    val_merged = (root / "list_val.txt").exists()
    if val_merged:
        train_items += _msmt_list(root / "list_val.txt", tr)
    return ReIDDataset("msmt17", str(root), _records(train_items, relabel=True, exclude=(-1,)),
                       _records(_msmt_list(root / "list_query.txt", te), relabel=False),
                       _records(_msmt_list(root / "list_gallery.txt", te), relabel=False),
                       options={"version": v, "val_merged": val_merged}, distractor_pids=())


# --------------------------------------------------------------------------- folder


def _read_folder(root: Path) -> ReIDDataset:
    """A user's own data: ``{train,query,gallery}/<identity>/<image>`` (see data/README.md).

    Identities: folder names; when every name is an integer it is the id (``0`` distractor,
    ``-1`` junk), else names are numbered ``1..N`` in sorted order over all splits (same name
    = same person) and kept in ``pid_names``. Cameras: a ``_cN`` token in the file name
    (``N >= 1``, camid ``N - 1``) on every image, or on none. **Cameras unknown**: train and
    gallery images get camera 0 and every query camera 1, so the junk rule (same id AND same
    camera) removes nothing and every same-identity gallery image counts as a true match —
    do not put the same photo in both query and gallery. Frame: an optional ``_fN`` token.
    """
    splits = {}
    for split in ("train", "query", "gallery"):
        folder = root / split
        _check_dir(folder, f"{split} split folder of the folder layout",
                   "create train/, query/ and gallery/ with one sub-folder per identity (see data/README.md)")
        entries = []
        for ident in _listdir(folder):
            sub = folder / ident
            if ident.startswith("."):
                continue
            if not sub.is_dir():
                if _is_image_name(ident):
                    raise DatasetError(f"{sub}: image directly in {split}/; the folder layout expects "
                                       f"{split}/<identity>/<image>; move it into its identity's folder")
                continue
            for name in _listdir(sub):
                if _is_image_name(name) and (sub / name).is_file():
                    entries.append((ident, sub / name))
        if not entries:
            raise DatasetError(f"{folder}: the {split} split has no images (expected {split}/<identity>/<image>.jpg); add images")
        splits[split] = entries
    names = sorted({ident for entries in splits.values() for ident, _ in entries})
    numeric = all(re.fullmatch(r"-?\d+", n) for n in names)
    pid_of = {n: int(n) for n in names} if numeric else {n: i + 1 for i, n in enumerate(names)}
    if numeric:
        bad = [n for n in names if int(n) < -1]
        if bad:
            raise DatasetError(f"{root}: identity folder {bad[0]!r} is below -1; use ids >= -1 (-1 junk, 0 distractor)")
    with_cam = {p: FOLDER_CAM_RE.search(p.name) for entries in splits.values() for _, p in entries}
    n_cam = sum(m is not None for m in with_cam.values())
    cameras_known = n_cam > 0
    if cameras_known and n_cam < len(with_cam):
        first = next(p for p, m in with_cam.items() if m is None)
        raise DatasetError(f"{first}: no _cN camera token while other images have one; give every image a "
                           "camera (e.g. 0001_c2_0003.jpg) or none")
    items: dict[str, list[_Item]] = {}
    for split, entries in splits.items():
        out = []
        for ident, path in entries:
            if cameras_known:
                cam = int(with_cam[path].group(1))
                if cam < 1:
                    raise DatasetError(f"{path}: camera token c{cam}; cameras are numbered from c1; rename the file")
                camid = cam - 1
            else:
                camid = 1 if split == "query" else 0
            fm = FOLDER_FRAME_RE.search(path.name)
            out.append(_Item(str(path), pid_of[ident], camid, int(fm.group(1)) if fm else None, None))
        items[split] = out
    train = _records(items["train"], relabel=True, exclude=(-1, 0) if numeric else ())
    return ReIDDataset("folder", str(root), _nonempty(train, root / "train", "train"),
                       _records(items["query"], relabel=False), _records(items["gallery"], relabel=False),
                       options={"cameras_known": cameras_known},
                       pid_names=None if numeric else {v: k for k, v in pid_of.items()})


# --------------------------------------------------------------------------- registry, entry points

_READERS: dict[str, Callable[..., ReIDDataset]] = {
    "market1501": _read_market,
    "dukemtmc": _read_duke,
    "msmt17": _read_msmt17,
    "cuhk03np": _read_cuhk03np,
    "folder": _read_folder,
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset` (plus ``"auto"``)."""
    return list(_READERS)


def detect_layout(root: PathLike) -> str:
    """Guess the layout name of a dataset folder (used by ``name="auto"`` and ``reidlab info``)."""
    root = Path(root)
    _check_dir(root, "dataset root", "pass the folder that holds the dataset (see data/README.md)")
    if any((root / d / "list_query.txt").is_file() for d in (".", "MSMT17_V1", "MSMT17_V2", "MSMT17")):
        return "msmt17"
    if (root / "detected").is_dir() or (root / "labeled").is_dir():
        return "cuhk03np"
    if (root / "bounding_box_train").is_dir():
        for name in _listdir(root / "bounding_box_train"):
            if DUKE_RE.match(name):
                return "dukemtmc"
            if _is_image_name(name):
                break
        return "market1501"
    if all((root / s).is_dir() for s in ("train", "query", "gallery")):
        return "folder"
    raise DatasetError(f"{root}: cannot recognise the dataset layout; pass name= one of {', '.join(_READERS)} (see data/README.md)")


def load_dataset(name: str, root: PathLike, *, keypoints: Union[str, PathLike, None] = "auto",
                 **options) -> ReIDDataset:
    """Read a dataset folder.

    Args:
        name: one of :func:`list_datasets` (``market1501``, ``dukemtmc``, ``msmt17``,
            ``cuhk03np``, ``folder``) or ``"auto"`` (:func:`detect_layout`).
        root: dataset root (for ``cuhk03np`` the folder holding ``detected/`` and ``labeled/``).
        keypoints: ``"auto"`` attaches ``<root>/keypoints.json`` or the OpenPose folder
            ``<root>/keypoints/`` if present; a path attaches that file/folder (it must
            exist); ``None`` attaches nothing. Keys are paths relative to ``root``.
        **options: ``msmt17``: ``version="auto"|"V1"|"V2"``; ``cuhk03np``:
            ``variant="detected"|"labeled"``.

    Returns:
        A :class:`ReIDDataset` (records sorted by file name within each split).

    Raises:
        DatasetError: unknown name, missing/unreadable/empty split folder, a file name that
            does not match the layout, or a bad keypoint file (one line naming the path).
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    aliases = {"market": "market1501", "duke": "dukemtmc", "dukemtmcreid": "dukemtmc", "cuhk03": "cuhk03np"}
    key = aliases.get(key, key)
    root = Path(os.path.abspath(os.fspath(root)))
    if key == "auto":
        key = detect_layout(root)
    if key not in _READERS:
        raise DatasetError(f"unknown dataset name {name!r}; expected one of {', '.join(_READERS)} or 'auto'")
    _check_dir(root, f"{key} dataset root", "check the path (see data/README.md for where datasets go)")
    allowed = {"msmt17": {"version"}, "cuhk03np": {"variant"}}.get(key, set())
    unknown = set(options) - allowed
    if unknown:
        raise DatasetError(f"{key}: unknown option(s) {', '.join(sorted(unknown))}; accepted: {', '.join(sorted(allowed)) or 'none'}")
    ds = _READERS[key](root, **options)
    if keypoints is not None:
        if isinstance(keypoints, str) and keypoints == "auto":
            source = find_keypoints(root)
        else:
            source = Path(keypoints)
            if not source.exists():
                raise DatasetError(f"keypoints source {source} does not exist; pass an existing keypoints.json / "
                                   "OpenPose folder or keypoints=None")
        if source is not None:
            mapping = load_keypoints(source)
            base = Path(ds.root)
            ds.train = attach_keypoints(ds.train, base, mapping)
            ds.query = attach_keypoints(ds.query, base, mapping)
            ds.gallery = attach_keypoints(ds.gallery, base, mapping)
            if ds.multi_query is not None:
                ds.multi_query = attach_keypoints(ds.multi_query, base, mapping)
            ds.keypoints_source = str(source)
    return ds


def pid_counts(records: Iterable[ImageRecord]) -> Counter:
    """Images per identity (``Counter`` of ``pid``), e.g. to inspect K for the PK sampler."""
    return Counter(r.pid for r in records)
