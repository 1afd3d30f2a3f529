"""decode_image and ImageCache: conversions, bad files, memory-mapped cache."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from fixtures import make_market_tree, write_image
from reidlab.data import ImageCache, decode_image, load_dataset
from reidlab.errors import DatasetError


def _gradient(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_decode_rgb_png_exact(tmp_path):
    arr = _gradient(12, 6)
    Image.fromarray(arr).save(tmp_path / "a.png")
    t = decode_image(tmp_path / "a.png")
    assert t.dtype == torch.uint8 and t.shape == (3, 12, 6)
    assert torch.equal(t, torch.from_numpy(arr).permute(2, 0, 1))


def test_decode_grayscale_rgba_palette_16bit(tmp_path):
    g = write_image(tmp_path / "g.jpg", (10, 5), color=(100,), mode="L")
    t = decode_image(g)
    assert t.shape == (3, 10, 5) and torch.equal(t[0], t[1]) and torch.equal(t[1], t[2])
    assert abs(int(t.float().mean()) - 100) <= 1
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    t = decode_image(tmp_path / "rgba.png")
    assert t.shape == (3, 4, 4) and t[:, 0, 0].tolist() == [10, 20, 30]      # alpha dropped, colour kept
    Image.new("P", (3, 2), 7).save(tmp_path / "p.png")
    assert decode_image(tmp_path / "p.png").shape == (3, 2, 3)
    Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16)).save(tmp_path / "i16.png")
    assert decode_image(tmp_path / "i16.png").min().item() == 255


def test_decode_resize(tmp_path):
    write_image(tmp_path / "x.jpg", (32, 16), color=(200, 50, 10))
    t = decode_image(tmp_path / "x.jpg", size=(8, 4))
    assert t.shape == (3, 8, 4)
    assert (t.float().mean((1, 2)) - torch.tensor([200.0, 50.0, 10.0])).abs().max() < 4


@pytest.mark.parametrize("kind", ["zero", "corrupt", "truncated", "missing"])
def test_decode_bad_files(tmp_path, kind):
    path = tmp_path / "0002_c1s1_000451_03.jpg"
    if kind == "zero":
        path.write_bytes(b"")
        expect = "zero-byte"
    elif kind == "corrupt":
        path.write_bytes(b"this is not a jpeg at all" * 10)
        expect = "not a readable image"
    elif kind == "truncated":
        Image.fromarray(_gradient(64, 32)).save(path, quality=90)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        expect = "truncated"
    else:
        expect = "not found"
    with pytest.raises(DatasetError) as err:
        decode_image(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and expect in msg and "\n" not in msg
    if kind != "missing":
        assert "re-extract the dataset or delete" in msg


def test_cache_decodes_records_and_indexes(tmp_path):
    ds = load_dataset("market1501", make_market_tree(tmp_path / "m", size=(16, 8)))
    cache = ImageCache(ds.gallery, size=(16, 8), num_threads=2)
    assert cache.images.shape == (8, 3, 16, 8) and cache.images.dtype == torch.uint8
    for i in (0, 5):
        assert torch.equal(cache[i], decode_image(ds.gallery[i].path))
    batch = cache[torch.tensor([5, 0, 5])]
    assert batch.shape == (3, 3, 16, 8) and torch.equal(batch[0], batch[2]) and torch.equal(batch[1], cache[0])
    assert torch.equal(cache[[1, 2]], cache.images[1:3])
    resized = ImageCache(ds.gallery, size=(32, 16), num_threads=1)
    assert resized.images.shape == (8, 3, 32, 16)
    assert torch.equal(resized[3], decode_image(ds.gallery[3].path, size=(32, 16)))


def test_cache_memory_mapped_file(tmp_path):
    paths = [write_image(tmp_path / "img" / f"{i}.jpg", (16, 8), color=(i * 20, 5, 5)) for i in range(6)]
    first = ImageCache(paths, size=(16, 8), cache_dir=tmp_path / "cache")
    assert not first.from_disk_cache and first.cache_file.is_file()
    assert first.cache_file.stat().st_size == 6 * 3 * 16 * 8
    second = ImageCache([str(p) for p in paths], size=(16, 8), cache_dir=tmp_path / "cache")
    assert second.from_disk_cache and second.cache_file == first.cache_file
    assert torch.equal(second.images, first.images)
    # writing into the mapped tensor does not change the file (copy-on-write)
    second.images[0].zero_()
    third = ImageCache(paths, size=(16, 8), cache_dir=tmp_path / "cache")
    assert torch.equal(third.images[0], first.images[0]) and third.images[0].any()
    # a modified file changes the key -> decoded again into a new cache file
    write_image(paths[2], (16, 8), color=(0, 250, 0))
    os.utime(paths[2], ns=(10**18, 10**18))
    fourth = ImageCache(paths, size=(16, 8), cache_dir=tmp_path / "cache")
    assert not fourth.from_disk_cache and fourth.cache_file != first.cache_file
    assert fourth.images[2, 1].float().mean() > 240
    # another size -> another file
    assert ImageCache(paths, size=(8, 4), cache_dir=tmp_path / "cache").cache_file != first.cache_file
    assert not list((tmp_path / "cache").glob("*.tmp"))


def test_cache_reports_bad_image(tmp_path):
    paths = [write_image(tmp_path / f"{i}.jpg") for i in range(3)]
    paths[1].write_bytes(b"")
    with pytest.raises(DatasetError, match=r"1.jpg: zero-byte"):
        ImageCache(paths, size=(16, 8), num_threads=2)
    with pytest.raises(DatasetError, match=r"1.jpg: zero-byte"):
        ImageCache(paths, size=(16, 8), cache_dir=tmp_path / "c")
    assert not list((tmp_path / "c").iterdir())          # no half-written cache left behind
