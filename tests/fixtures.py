"""Builders of tiny dataset trees with the official file names, for tests.

Import from any test (``tests/`` is on ``sys.path`` under pytest)::

    from fixtures import make_market_tree
    root = make_market_tree(tmp_path / "market")

Every builder writes small real images (16x8 JPEG/PNG, colour derived from the name so
images differ), returns the dataset root, and uses the module-level file lists below, which
tests use to state expected values by hand.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
from PIL import Image

#: Market-1501 fixture: split folder -> file names (junk -1, distractor 0000, c1s2 frame 100).
MARKET_FILES: dict[str, list[str]] = {
    "bounding_box_train": [
        "0002_c1s1_000451_03.jpg",
        "0002_c2s1_000301_01.jpg",
        "0007_c1s2_000100_00.jpg",   # global frame 72681 + 100 = 72781
        "0007_c6s4_001000_02.jpg",   # 87551 + 131268 + 95817 + 1000 = 315636
        "0011_c3s3_000050_01.jpg",   # 161708 + 161769 + 50 = 323527
    ],
    "query": [
        "0001_c1s1_001051_00.jpg",
        "0003_c4s6_000010_00.jpg",   # 72107 + 72373 + 74810 + 74541 + 74910 + 10 = 368751
    ],
    "bounding_box_test": [
        "0001_c3s1_000551_01.jpg",
        "0001_c1s1_001101_02.jpg",
        "0003_c5s3_000200_01.jpg",   # 161095 + 161724 + 200 = 323019
        "0003_c4s6_000500_01.jpg",
        "0000_c1s1_000151_01.jpg",   # distractor
        "0000_c6s1_000001_03.jpg",   # distractor
        "-1_c1s1_000401_03.jpg",     # junk
        "-1_c2s2_000010_01.jpg",     # junk, 163691 + 10 = 163701
    ],
    "gt_bbox": [
        "0001_c1s1_001051_00.jpg",
        "0001_c1s1_001052_00.jpg",
        "0003_c4s6_000011_00.jpg",
    ],
}

#: DukeMTMC-reID fixture (frames already global).
DUKE_FILES: dict[str, list[str]] = {
    "bounding_box_train": ["0005_c2_f0046985.jpg", "0005_c5_f0051342.jpg", "0008_c1_f0000123.jpg"],
    "query": ["0012_c3_f0100000.jpg"],
    "bounding_box_test": ["0012_c1_f0099000.jpg", "0012_c3_f0100500.jpg", "0666_c8_f0200000.jpg"],
}

#: MSMT17 fixture list files (same content for V1 and V2; only the image folders differ).
MSMT17_LISTS: dict[str, list[str]] = {
    "list_train.txt": [
        "0000/0000_000_01_0303morning_0015_0.jpg 0",
        "0000/0000_001_02_0303morning_0020_1.jpg 0",
        "0001/0001_000_05_0113noon_0100_0.jpg 1",
    ],
    "list_val.txt": ["0002/0002_000_15_0114afternoon_0003_0.jpg 2"],
    "list_query.txt": ["0000/0000_000_03_0302morning_0500_0.jpg 0"],
    "list_gallery.txt": [
        "0000/0000_001_04_0302noon_0501_0.jpg 0",
        "0001/0001_000_03_0302morning_0600_1.jpg 1",
    ],
}
MSMT17_DIRS = {"V1": ("train", "test"), "V2": ("mask_train_v2", "mask_test_v2")}

#: CUHK03-NP fixture: variant -> split folder -> names (PNG, as the release).
CUHK03NP_FILES: dict[str, dict[str, list[str]]] = {
    "detected": {
        "bounding_box_train": ["0001_c1_1.png", "0001_c2_6.png", "0003_c1_2.png"],
        "query": ["0005_c1_1.png"],
        "bounding_box_test": ["0005_c2_7.png", "0006_c1_1.png"],
    },
    "labeled": {
        "bounding_box_train": ["0001_c1_1.png", "0001_c2_6.png", "0003_c1_2.png", "0004_c2_8.png"],
        "query": ["0005_c1_1.png", "0006_c2_6.png"],
        "bounding_box_test": ["0005_c2_7.png", "0006_c1_1.png", "0007_c1_1.png"],
    },
}

#: ``folder`` layout fixture with camera tokens: split -> identity -> file names.
FOLDER_FILES_CAM: dict[str, dict[str, list[str]]] = {
    "train": {"alice": ["alice_c1_001.jpg", "alice_c2_002.jpg"], "bob": ["bob_c1_f120_001.jpg"]},
    "query": {"carol": ["carol_c1_001.jpg"]},
    "gallery": {"carol": ["carol_c2_001.jpg", "carol_c1_002.jpg"], "dave": ["dave_c3_001.jpg"]},
}
#: ``folder`` fixture without cameras, numeric identities (0 = distractor).
FOLDER_FILES_NOCAM: dict[str, dict[str, list[str]]] = {
    "train": {"0010": ["a.jpg", "b.jpg"], "0020": ["a.jpg"]},
    "query": {"0031": ["q1.jpg"], "0032": ["q1.jpg"]},
    "gallery": {"0031": ["g1.jpg", "g2.jpg"], "0032": ["g1.jpg"], "0": ["d1.jpg"]},
}


def _colour(name: str) -> tuple[int, int, int]:
    d = hashlib.md5(name.encode()).digest()
    return d[0], d[1], d[2]


def write_image(path: Path, size: tuple[int, int] = (16, 8), color: Optional[Sequence[int]] = None,
                mode: str = "RGB", fmt: Optional[str] = None) -> Path:
    """Write a ``size=(H, W)`` image of one colour (default: derived from the file name)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = tuple(color) if color is not None else _colour(path.name)
    if mode == "L":
        img = Image.new("L", (size[1], size[0]), c[0])
    elif mode == "RGBA":
        img = Image.new("RGBA", (size[1], size[0]), c + (0,) * (4 - len(c)) if len(c) < 4 else c)
    else:
        img = Image.new("RGB", (size[1], size[0]), c[:3])
    if fmt is None:
        fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    img.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path


def write_images(folder: Path, names: Iterable[str], size: tuple[int, int] = (16, 8)) -> list[Path]:
    return [write_image(Path(folder) / n, size) for n in names]


def _junk_files(folder: Path) -> None:
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0 not an image")
    (folder / "readme.txt").write_text("stray file shipped in some archives\n")


def make_market_tree(root: Path, *, gt_bbox: bool = True, size: tuple[int, int] = (16, 8)) -> Path:
    """Market-1501 tree from :data:`MARKET_FILES` (+ ``Thumbs.db`` and a stray ``.txt`` in
    every split folder); ``gt_bbox=False`` leaves out the multi-query folder."""
    root = Path(root)
    for split, names in MARKET_FILES.items():
        if split == "gt_bbox" and not gt_bbox:
            continue
        write_images(root / split, names, size)
        _junk_files(root / split)
    return root


def make_duke_tree(root: Path) -> Path:
    """DukeMTMC-reID tree from :data:`DUKE_FILES` (+ ``Thumbs.db``, stray ``.txt``)."""
    root = Path(root)
    for split, names in DUKE_FILES.items():
        write_images(root / split, names)
        _junk_files(root / split)
    return root


def make_msmt17_tree(root: Path, version: str = "V1") -> Path:
    """MSMT17 tree (list files + ``train/``/``test/`` for V1, ``mask_*_v2/`` for V2)."""
    root = Path(root)
    tr, te = MSMT17_DIRS[version]
    root.mkdir(parents=True, exist_ok=True)
    for list_name, lines in MSMT17_LISTS.items():
        img_dir = root / (tr if list_name in ("list_train.txt", "list_val.txt") else te)
        for line in lines:
            write_image(img_dir / line.split()[0])
        (root / list_name).write_text("\n".join(lines) + "\n")
    return root


def make_cuhk03np_tree(root: Path) -> Path:
    """CUHK03-NP tree: ``detected/`` and ``labeled/`` with Market-style split folders."""
    root = Path(root)
    for variant, splits in CUHK03NP_FILES.items():
        for split, names in splits.items():
            write_images(root / variant / split, names)
            _junk_files(root / variant / split)
    return root


def make_folder_tree(root: Path, cameras: bool = True) -> Path:
    """``folder`` layout tree (:data:`FOLDER_FILES_CAM` or :data:`FOLDER_FILES_NOCAM`)."""
    root = Path(root)
    spec = FOLDER_FILES_CAM if cameras else FOLDER_FILES_NOCAM
    for split, idents in spec.items():
        for ident, names in idents.items():
            write_images(root / split / ident, names)
        (root / split / "Thumbs.db").write_bytes(b"junk")
    return root


def keypoint_array(seed: int = 0, width: float = 8.0, height: float = 16.0) -> np.ndarray:
    """A deterministic float32 ``(18, 3)`` keypoint array inside a ``height x width`` image,
    landmarks 3 and 17 invisible."""
    rng = np.random.default_rng(seed)
    kp = np.zeros((18, 3), dtype=np.float32)
    kp[:, 0] = rng.uniform(0.5, width - 0.5, 18)
    kp[:, 1] = rng.uniform(0.5, height - 0.5, 18)
    kp[:, 2] = 1.0
    kp[[3, 17]] = 0.0
    return kp


def write_openpose_file(path: Path, people: Sequence[np.ndarray]) -> Path:
    """Write an OpenPose ``*_keypoints.json`` with the given ``(18, 3)`` arrays (x, y, conf)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": 1.3, "people": [{"pose_keypoints_2d": [float(v) for v in np.asarray(p).reshape(-1)]} for p in people]}
    path.write_text(json.dumps(data))
    return path
