"""Dataset readers on fixture trees with the official file names; keypoints; bad input."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from fixtures import (
    FOLDER_FILES_CAM, MARKET_FILES, keypoint_array, make_cuhk03np_tree, make_duke_tree,
    make_folder_tree, make_market_tree, make_msmt17_tree, write_image, write_openpose_file,
)
from reidlab.data import (
    MARKET_SEQUENCE_LENGTHS, ReIDDataset, detect_layout, info_main, list_datasets, load_dataset,
    load_keypoints, market_global_frame, save_keypoints, stack_keypoints,
)
from reidlab.errors import DatasetError


def by_name(records):
    return {Path(r.path).name: r for r in records}


# --------------------------------------------------------------------------- Market-1501


def test_market_counts_and_fields(tmp_path):
    root = make_market_tree(tmp_path / "market")
    ds = load_dataset("market1501", root)
    assert isinstance(ds, ReIDDataset) and ds.name == "market1501" and ds.root == str(root)
    # Thumbs.db and readme.txt skipped in every split
    assert (len(ds.train), len(ds.query), len(ds.gallery), len(ds.multi_query)) == (5, 2, 8, 3)
    assert ds.num_train_pids == 3 and ds.num_train_imgs == 5 and ds.num_train_cams == 4
    assert ds.num_query_pids == 2 and ds.num_gallery_pids == 2      # 0 and -1 not counted as ids
    assert ds.num_gallery_cams == 6 and ds.num_cams == 6

    tr = by_name(ds.train)
    # relabel: original ids 2, 7, 11 -> 0, 1, 2 (sorted), originals kept
    assert [(tr[n].pid, tr[n].orig_pid) for n in MARKET_FILES["bounding_box_train"]] == [(0, 2), (0, 2), (1, 7), (1, 7), (2, 11)]
    r = tr["0007_c1s2_000100_00.jpg"]
    assert (r.camid, r.seq, r.frame) == (0, 2, 72781)
    r = tr["0007_c6s4_001000_02.jpg"]
    assert (r.camid, r.seq, r.frame) == (5, 4, 87551 + 131268 + 95817 + 1000)
    assert tr["0011_c3s3_000050_01.jpg"].frame == 323527
    assert tr["0002_c1s1_000451_03.jpg"].frame == 451          # s1: no offset
    assert Path(tr["0002_c1s1_000451_03.jpg"].path) == root / "bounding_box_train" / "0002_c1s1_000451_03.jpg"

    q = by_name(ds.query)
    assert (q["0003_c4s6_000010_00.jpg"].pid, q["0003_c4s6_000010_00.jpg"].camid, q["0003_c4s6_000010_00.jpg"].frame) == (3, 3, 368751)
    g = by_name(ds.gallery)
    assert sorted(r.pid for r in ds.gallery) == [-1, -1, 0, 0, 1, 1, 3, 3]   # junk + distractors kept, not relabelled
    assert g["-1_c2s2_000010_01.jpg"].frame == 163701 and g["-1_c2s2_000010_01.jpg"].orig_pid == -1
    assert g["0003_c5s3_000200_01.jpg"].frame == 323019 and g["0003_c5s3_000200_01.jpg"].camid == 4
    assert sorted(r.pid for r in ds.multi_query) == [1, 1, 3]
    assert all(r.keypoints is None for r in ds.train) and ds.keypoints_source is None


def test_market_global_frame_table():
    assert market_global_frame(1, 2, 100) == 72781
    assert market_global_frame(6, 4, 0) == sum(MARKET_SEQUENCE_LENGTHS[6][:3])
    with pytest.raises(DatasetError, match="c2 sequence s4"):
        market_global_frame(2, 4, 0)


def test_market_without_gt_bbox_and_train_excludes_junk(tmp_path):
    root = make_market_tree(tmp_path / "m", gt_bbox=False)
    write_image(root / "bounding_box_train" / "0000_c1s1_000001_01.jpg")
    write_image(root / "bounding_box_train" / "-1_c1s1_000002_01.jpg")
    ds = load_dataset("market1501", root)
    assert ds.multi_query is None
    assert len(ds.train) == 5 and {r.orig_pid for r in ds.train} == {2, 7, 11}


def test_market_summary_and_frame(tmp_path):
    ds = load_dataset("market1501", make_market_tree(tmp_path / "m"))
    text = ds.summary()
    lines = text.splitlines()
    assert lines[0].startswith("market1501")
    train_line = next(line for line in lines if line.strip().startswith("train"))
    gallery_line = next(line for line in lines if line.strip().startswith("gallery"))
    assert train_line.split()[1:4] == ["3", "5", "4"]
    assert gallery_line.split()[1:4] == ["2", "8", "6"] and "2 distractor" in gallery_line and "2 junk" in gallery_line
    assert len(lines) <= 24
    df = ds.summary_frame()
    assert list(df.index) == ["train", "query", "gallery", "multi_query"]
    assert df.loc["gallery", "images"] == 8 and df.loc["gallery", "junk_images"] == 2 and df.loc["train", "ids"] == 3


def test_market_sequence_lengths_file(tmp_path):
    root = make_market_tree(tmp_path / "m")
    write_image(root / "bounding_box_test" / "0001_c7s2_000005_01.jpg")
    with pytest.raises(DatasetError, match=r"c7 sequence s2.*sequence_lengths.json"):
        load_dataset("market1501", root)
    (root / "sequence_lengths.json").write_text(json.dumps({"c7": [1000, 500], "c1": [10, 20]}))
    ds = load_dataset("market1501", root)
    g = by_name(ds.gallery)
    assert g["0001_c7s2_000005_01.jpg"].frame == 1005 and g["0001_c7s2_000005_01.jpg"].camid == 6
    assert by_name(ds.train)["0007_c1s2_000100_00.jpg"].frame == 110          # c1 overridden
    assert by_name(ds.train)["0007_c6s4_001000_02.jpg"].frame == 315636       # c6 from the table
    (root / "sequence_lengths.json").write_text(json.dumps({"cam7": [1000]}))
    with pytest.raises(DatasetError, match="sequence_lengths.json: bad entry 'cam7'"):
        load_dataset("market1501", root)


# --------------------------------------------------------------------------- other layouts


def test_duke(tmp_path):
    ds = load_dataset("dukemtmc", make_duke_tree(tmp_path / "duke"))
    assert (len(ds.train), len(ds.query), len(ds.gallery), ds.multi_query) == (3, 1, 3, None)
    tr = by_name(ds.train)
    r = tr["0005_c2_f0046985.jpg"]
    assert (r.pid, r.orig_pid, r.camid, r.frame, r.seq) == (0, 5, 1, 46985, None)
    assert (tr["0008_c1_f0000123.jpg"].pid, tr["0008_c1_f0000123.jpg"].frame) == (1, 123)
    g = by_name(ds.gallery)
    assert (g["0666_c8_f0200000.jpg"].pid, g["0666_c8_f0200000.jpg"].camid) == (666, 7)
    assert ds.num_cams == 5 and ds.num_gallery_pids == 2
    assert detect_layout(tmp_path / "duke") == "dukemtmc"


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_msmt17(tmp_path, version):
    root = make_msmt17_tree(tmp_path / f"MSMT17_{version}", version)
    ds = load_dataset("msmt17", root)
    assert ds.options == {"version": version, "val_merged": True}
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == (4, 1, 2)     # train = list_train + list_val
    assert ds.num_train_pids == 3 and ds.distractor_pids == ()
    tr = by_name(ds.train)
    r = tr["0002_000_15_0114afternoon_0003_0.jpg"]
    assert (r.pid, r.orig_pid, r.camid, r.frame) == (2, 2, 14, None)
    assert Path(r.path) == root / ("train" if version == "V1" else "mask_train_v2") / "0002" / r.path.split("/")[-1]
    assert tr["0000_001_02_0303morning_0020_1.jpg"].camid == 1
    q = ds.query[0]
    assert (q.pid, q.camid) == (0, 2) and Path(q.path).parent.parent.name == ("test" if version == "V1" else "mask_test_v2")
    assert ds.num_gallery_pids == 2           # pid 0 is a person in MSMT17
    # explicit version that does not exist on disk
    other = "V2" if version == "V1" else "V1"
    with pytest.raises(DatasetError, match="missing MSMT17"):
        load_dataset("msmt17", root, version=other)
    # parent folder holding MSMT17_Vx also works
    assert len(load_dataset("msmt17", tmp_path).train) == 4


def test_msmt17_bad_list_line(tmp_path):
    root = make_msmt17_tree(tmp_path / "msmt", "V1")
    (root / "list_query.txt").write_text("0000/0000_000_03_0302morning_0500_0.jpg\n")
    with pytest.raises(DatasetError, match=r"list_query.txt:1: expected"):
        load_dataset("msmt17", root)
    (root / "list_query.txt").write_text("0000/0000_000_03_0302morning_0999_0.jpg 0\n")
    with pytest.raises(DatasetError, match="listed in list_query.txt but missing"):
        load_dataset("msmt17", root)


@pytest.mark.parametrize("variant,counts", [("detected", (3, 1, 2)), ("labeled", (4, 2, 3))])
def test_cuhk03np(tmp_path, variant, counts):
    root = make_cuhk03np_tree(tmp_path / "cuhk03-np")
    ds = load_dataset("cuhk03np", root, variant=variant)
    assert (len(ds.train), len(ds.query), len(ds.gallery)) == counts
    assert ds.options == {"variant": variant}
    tr = by_name(ds.train)
    assert (tr["0001_c2_6.png"].pid, tr["0001_c2_6.png"].camid, tr["0001_c2_6.png"].frame) == (0, 1, None)
    assert (tr["0003_c1_2.png"].pid, tr["0003_c1_2.png"].orig_pid) == (1, 3)
    assert all(f"/{variant}/" in r.path for r in ds.gallery)
    assert detect_layout(root) == "cuhk03np"


def test_cuhk03np_default_variant_and_bad_variant(tmp_path):
    root = make_cuhk03np_tree(tmp_path / "c")
    assert load_dataset("cuhk03np", root).options["variant"] == "detected"
    with pytest.raises(DatasetError, match="unknown variant 'both'"):
        load_dataset("cuhk03np", root, variant="both")
    shutil.rmtree(root / "labeled")
    with pytest.raises(DatasetError, match="labeled"):
        load_dataset("cuhk03np", root, variant="labeled")


def test_folder_with_cameras(tmp_path):
    root = make_folder_tree(tmp_path / "mine", cameras=True)
    ds = load_dataset("folder", root)
    assert ds.options == {"cameras_known": True}
    assert ds.pid_names == {1: "alice", 2: "bob", 3: "carol", 4: "dave"}
    tr = by_name(ds.train)
    assert [(tr[n].pid, tr[n].orig_pid, tr[n].camid) for n in FOLDER_FILES_CAM["train"]["alice"]] == [(0, 1, 0), (0, 1, 1)]
    assert (tr["bob_c1_f120_001.jpg"].pid, tr["bob_c1_f120_001.jpg"].frame) == (1, 120)
    g = by_name(ds.gallery)
    assert (g["carol_c2_001.jpg"].pid, g["carol_c2_001.jpg"].camid) == (3, 1)
    assert (g["dave_c3_001.jpg"].pid, g["dave_c3_001.jpg"].camid) == (4, 2)
    assert ds.query[0].pid == 3 and ds.query[0].camid == 0
    assert detect_layout(root) == "folder"


def test_folder_without_cameras_junk_rule(tmp_path):
    root = make_folder_tree(tmp_path / "mine", cameras=False)
    ds = load_dataset("folder", root)
    assert ds.options == {"cameras_known": False} and ds.pid_names is None
    assert {r.camid for r in ds.train} == {0} and {r.camid for r in ds.gallery} == {0}
    assert {r.camid for r in ds.query} == {1}
    # no gallery image shares (pid, camid) with a query -> the junk rule removes nothing
    for q in ds.query:
        assert not any(g.pid == q.pid and g.camid == q.camid for g in ds.gallery)
    assert sorted(r.pid for r in ds.gallery) == [0, 31, 31, 32]        # folder "0" = distractor
    assert [(r.pid, r.orig_pid) for r in ds.train] == [(0, 10), (0, 10), (1, 20)]
    assert "unknown" in ds.summary()


def test_folder_mixed_cameras_is_an_error(tmp_path):
    root = make_folder_tree(tmp_path / "mine", cameras=True)
    write_image(root / "gallery" / "dave" / "dave_002.jpg")
    with pytest.raises(DatasetError, match=r"dave_002.jpg: no _cN camera token"):
        load_dataset("folder", root)


def test_folder_image_outside_identity_folder(tmp_path):
    root = make_folder_tree(tmp_path / "mine", cameras=True)
    write_image(root / "query" / "loose_c1.jpg")
    with pytest.raises(DatasetError, match=r"loose_c1.jpg: image directly in query/"):
        load_dataset("folder", root)


def test_list_and_detect(tmp_path):
    assert list_datasets() == ["market1501", "dukemtmc", "msmt17", "cuhk03np", "folder"]
    root = make_market_tree(tmp_path / "m")
    assert detect_layout(root) == "market1501"
    assert len(load_dataset("auto", root).gallery) == 8
    assert detect_layout(make_msmt17_tree(tmp_path / "s")) == "msmt17"


# --------------------------------------------------------------------------- bad input


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("viper", tmp_path)
    msg = str(err.value)
    assert "'viper'" in msg and all(n in msg for n in list_datasets()) and "\n" not in msg


def test_unknown_option(tmp_path):
    with pytest.raises(DatasetError, match="unknown option.*variant"):
        load_dataset("market1501", make_market_tree(tmp_path / "m"), variant="labeled")


def test_missing_split_folder(tmp_path):
    root = make_market_tree(tmp_path / "m")
    shutil.rmtree(root / "query")
    with pytest.raises(DatasetError) as err:
        load_dataset("market1501", root)
    msg = str(err.value)
    assert str(root / "query") in msg and "missing" in msg and "re-extract" in msg and "\n" not in msg


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="missing market1501 dataset root"):
        load_dataset("market1501", tmp_path / "nope")


def test_name_not_matching_layout(tmp_path):
    root = make_market_tree(tmp_path / "m")
    write_image(root / "bounding_box_test" / "IMG_0042.jpg")
    with pytest.raises(DatasetError) as err:
        load_dataset("market1501", root)
    msg = str(err.value)
    assert "IMG_0042.jpg" in msg and "does not match the market1501 layout" in msg and "rename or remove" in msg
    # a Duke name in a Duke-declared tree is fine, a Market name is not
    duke = make_duke_tree(tmp_path / "d")
    write_image(duke / "query" / "0002_c1s1_000451_03.jpg")
    with pytest.raises(DatasetError, match="0002_c1s1_000451_03.jpg: file name does not match the dukemtmc"):
        load_dataset("dukemtmc", duke)


def test_empty_split(tmp_path):
    root = make_market_tree(tmp_path / "m")
    for f in (root / "bounding_box_test").glob("*.jpg"):
        f.unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset("market1501", root)
    assert str(root / "bounding_box_test") in str(err.value) and "no images" in str(err.value)


def test_unreadable_folder_error_message(tmp_path, monkeypatch):
    """The PermissionError path, forced (works as root too)."""
    root = make_market_tree(tmp_path / "m")
    real = os.listdir

    def fake_listdir(path):
        if Path(path) == root / "query":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "listdir", fake_listdir)
    with pytest.raises(DatasetError) as err:
        load_dataset("market1501", root)
    msg = str(err.value)
    assert str(root / "query") in msg and "permission denied" in msg and "chmod" in msg


def _load_as_nobody(root: Path) -> tuple[int, str]:
    """Fork; the child drops to uid/gid 65534 (nobody) and runs the reader (no exec needed,
    so the unprivileged child does not have to reach the interpreter's files)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code, msg = 0, "loaded"
        try:
            os.close(r)
            os.setgid(65534)
            os.setuid(65534)
            load_dataset("market1501", root, keypoints=None)
        except DatasetError as err:
            code, msg = 3, str(err)
        except BaseException as err:  # noqa: BLE001 - report anything to the parent
            code, msg = 4, repr(err)
        finally:
            os.write(w, msg.encode())
            os._exit(code)
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_unreadable_folder_real_chmod():
    """chmod 000 on a split folder. Root reads through any mode bits, so as root the reader
    runs in a forked child that has dropped to the unprivileged uid 65534."""
    tmp = Path(tempfile.mkdtemp(prefix="reidlab-perm-"))
    try:
        os.chmod(tmp, 0o755)
        root = make_market_tree(tmp / "m")
        for d in [root, *root.iterdir()]:
            os.chmod(d, 0o755)
        os.chmod(root / "query", 0o000)
        if os.geteuid() == 0:
            code, msg = _load_as_nobody(root)
        elif os.access(root / "query", os.R_OK):
            pytest.skip("this user can read a chmod 000 folder and is not root (cannot drop privileges)")
        else:
            with pytest.raises(DatasetError) as err:
                load_dataset("market1501", root, keypoints=None)
            code, msg = 3, str(err.value)
        assert code == 3, msg
        assert str(root / "query") in msg and "permission denied" in msg and "chmod" in msg
    finally:
        for d in [tmp, *tmp.rglob("*")]:
            if d.is_dir():
                os.chmod(d, 0o755)
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- keypoints


def _kp_json(root: Path, entries: dict) -> Path:
    path = root / "keypoints.json"
    path.write_text(json.dumps({"format": "openpose-coco18", "keypoints": entries}))
    return path


def test_keypoints_json_auto_attach(tmp_path):
    root = make_market_tree(tmp_path / "m")
    kp = keypoint_array(1)
    raw = kp.copy()
    raw[3] = [5.0, 6.0, 0.05]                   # confidence below 0.1 -> invisible, x = y = 0
    _kp_json(root, {"bounding_box_train/0002_c1s1_000451_03.jpg": raw.reshape(-1).tolist(),
                    "query/0001_c1s1_001051_00.jpg": kp.reshape(-1).tolist()})
    ds = load_dataset("market1501", root)
    assert ds.keypoints_source == str(root / "keypoints.json")
    got = by_name(ds.train)["0002_c1s1_000451_03.jpg"].keypoints
    assert got.dtype == np.float32 and got.shape == (18, 3)
    np.testing.assert_allclose(got, kp, atol=1e-6)
    assert by_name(ds.train)["0007_c1s2_000100_00.jpg"].keypoints is None
    np.testing.assert_allclose(ds.query[0].keypoints, kp, atol=1e-6)
    assert "keypoints: 2 of 18 images" in ds.summary()
    stacked = stack_keypoints(ds.train)
    assert stacked.shape == (5, 18, 3) and stacked.dtype == np.float32
    np.testing.assert_allclose(stacked[0], kp, atol=1e-6)               # train[0] is 0002_c1s1_000451_03
    assert not stacked[1:].any()                                         # no keypoints -> zeros
    assert load_dataset("market1501", root, keypoints=None).train[0].keypoints is None


def test_keypoints_openpose_folder(tmp_path):
    root = make_market_tree(tmp_path / "m")
    weak, strong = keypoint_array(2), keypoint_array(3)
    weak[:, 2], strong[:, 2] = 0.3, 0.8
    strong[5, 2] = 0.05
    write_openpose_file(root / "keypoints" / "bounding_box_train" / "0002_c1s1_000451_03_keypoints.json", [weak, strong])
    write_openpose_file(root / "keypoints" / "query" / "0001_c1s1_001051_00_keypoints.json", [])
    mapping = load_keypoints(root / "keypoints")
    assert set(mapping) == {"bounding_box_train/0002_c1s1_000451_03.jpg", "query/0001_c1s1_001051_00.jpg"}
    exp = strong.copy()
    exp[:, 2] = 1.0
    exp[5] = 0.0
    np.testing.assert_allclose(mapping["bounding_box_train/0002_c1s1_000451_03.jpg"], exp, atol=1e-5)
    assert not mapping["query/0001_c1s1_001051_00.jpg"].any()      # no person -> all invisible
    ds = load_dataset("market1501", root)                             # auto finds the folder
    np.testing.assert_allclose(by_name(ds.train)["0002_c1s1_000451_03.jpg"].keypoints, exp, atol=1e-5)


def test_save_load_keypoints_round_trip(tmp_path):
    mapping = {"a/x.jpg": keypoint_array(4), "b/y.png": keypoint_array(5)}
    path = save_keypoints(tmp_path / "keypoints.json", mapping)
    assert not list(tmp_path.glob("*.tmp"))
    back = load_keypoints(path)
    assert set(back) == set(mapping)
    for k in mapping:
        np.testing.assert_allclose(back[k], mapping[k], atol=6e-4)


def test_wrong_keypoint_files(tmp_path):
    root = make_market_tree(tmp_path / "m")
    _kp_json(root, {"query/0001_c1s1_001051_00.jpg": [1.0] * 51})
    with pytest.raises(DatasetError) as err:
        load_dataset("market1501", root)
    msg = str(err.value)
    assert str(root / "keypoints.json") in msg and "expected 54 numbers" in msg and "got 51" in msg
    (root / "keypoints.json").write_text("{not json")
    with pytest.raises(DatasetError, match="keypoints.json: not valid JSON"):
        load_dataset("market1501", root)
    (root / "keypoints.json").write_text(json.dumps({"format": "body25", "keypoints": {}}))
    with pytest.raises(DatasetError, match="unsupported keypoint format 'body25'"):
        load_dataset("market1501", root)
    (root / "keypoints.json").unlink()
    with pytest.raises(DatasetError, match="nope.json does not exist"):
        load_dataset("market1501", root, keypoints=root / "nope.json")
    write_openpose_file(root / "keypoints" / "query" / "0001_c1s1_001051_00_keypoints.json", [np.zeros((25, 3))])
    with pytest.raises(DatasetError, match=r"0001_c1s1_001051_00_keypoints.json person 0: expected 54 numbers.*BODY_25"):
        load_dataset("market1501", root)


# --------------------------------------------------------------------------- CLI


def test_info_main_prints_summary(tmp_path, capsys):
    root = make_market_tree(tmp_path / "m")
    assert info_main(["--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("market1501") and "multi_query" in out
    assert info_main(["--data", str(make_cuhk03np_tree(tmp_path / "c")), "--variant", "labeled"]) == 0
    assert "variant=labeled" in capsys.readouterr().out


def test_cli_reports_bad_dataset_in_one_line(tmp_path, capsys):
    from reidlab.cli import main

    root = make_market_tree(tmp_path / "m")
    shutil.rmtree(root / "bounding_box_test")
    assert main(["info", "--data", str(root), "--name", "market1501"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bounding_box_test" in err
