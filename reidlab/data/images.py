"""Decode-once image pipeline: every image is decoded a single time into one uint8 tensor.

:func:`decode_image` reads one file into a ``uint8 [3, H, W]`` RGB tensor (grayscale,
palette, CMYK and 16-bit images converted; an alpha channel is dropped, keeping the stored
colour values). :class:`ImageCache` decodes a whole split once (thread pool: PIL releases
the GIL while decoding and resizing), keeps ``uint8 [N, 3, H, W]`` in memory and can store it
as a memory-mapped file so the next run maps it instead of decoding. Batches are then indexed
with a tensor of dataset indices and augmented on the model's device
(:mod:`reidlab.data.augment`).

Memory: ``N * 3 * H * W`` bytes, e.g. Market-1501 train (12,936 images) at its native
128x64 is 318 MB, at 256x128 1.27 GB. Caching at the native size and letting
:class:`~reidlab.data.augment.BatchAugment` resize on the device is the cheapest option.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch

from reidlab.errors import DatasetError

PathLike = Union[str, os.PathLike]

#: Bumped when the cache file content would change for the same inputs.
_CACHE_VERSION = 1


def _fix_hint(path: str) -> str:
    return f"re-extract the dataset or delete {path} (and its entry) and retry"


def pil_to_rgb(img, size: Optional[tuple[int, int]] = None):
    """A decoded PIL image as 8-bit RGB, optionally resized, exactly as the lab's image cache does.

    16-bit / 32-bit integer greyscale is scaled to 8 bits, palette images with transparency go
    through RGBA, any other mode is converted with ``Image.convert("RGB")`` (an alpha channel is
    dropped, keeping the stored colour values). With ``size=(H, W)`` an image of another size is
    resized with PIL's bilinear filter (antialiased when shrinking). Used by :func:`decode_image`,
    :class:`ImageCache` and :class:`reidlab.engine.features.FeatureExtractor` (in-memory images),
    so every way into a model gives the same pixels.
    """
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / hi) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode != "RGB":
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")
        img = img.convert("RGB")
    if size is not None and (img.height, img.width) != tuple(size):
        img = img.resize((size[1], size[0]), Image.BILINEAR)
    return img


def load_rgb(path: PathLike, size: Optional[tuple[int, int]] = None):
    """Open, fully decode and convert an image file to an RGB PIL image (optionally resized to
    ``size=(H, W)``; JPEGs much larger than ``size`` are downscaled while decoding, as
    :class:`ImageCache` does). Raises :class:`DatasetError` for a missing, empty or corrupt file."""
    return _load_pil(os.fspath(path), size)


def _load_pil(path: str, size: Optional[tuple[int, int]] = None):
    """Open, fully decode and convert ``path`` to an RGB PIL image (optionally resized)."""
    from PIL import Image, UnidentifiedImageError

    try:
        nbytes = os.path.getsize(path)
    except FileNotFoundError:
        raise DatasetError(f"{path}: image file not found; re-extract the dataset or reload the dataset records") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot access image ({err.strerror}); check permissions") from None
    if nbytes == 0:
        raise DatasetError(f"{path}: zero-byte image file (expected a JPEG/PNG image); {_fix_hint(path)}")
    try:
        with Image.open(path) as img:
            if size is not None and img.format == "JPEG":
                # DCT-domain downscale while decoding when the target is much smaller (cheap).
                img.draft("RGB", (size[1], size[0]))
            img.load()
            return pil_to_rgb(img, size)
    except UnidentifiedImageError:
        raise DatasetError(f"{path}: not a readable image (corrupt or not JPEG/PNG); {_fix_hint(path)}") from None
    except (OSError, SyntaxError, ValueError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DatasetError(f"{path}: corrupt or truncated image ({msg}); {_fix_hint(path)}") from None


def decode_image(path: PathLike, size: Optional[tuple[int, int]] = None) -> torch.Tensor:
    """Decode one image file to an RGB ``uint8`` tensor ``[3, H, W]``.

    Args:
        path: image file (JPEG, PNG, BMP; any PIL-readable mode).
        size: optional ``(H, W)``: resize (bilinear) when the image has another size.

    Raises:
        DatasetError: zero-byte, corrupt, truncated or missing file (one line naming the file
            and suggesting to re-extract or delete it).
    """
    img = _load_pil(os.fspath(path), size)
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def _paths_of(records_or_paths: Sequence) -> list[str]:
    out = []
    for item in records_or_paths:
        p = getattr(item, "path", item)
        out.append(os.fspath(p))
    return out


def cache_key(paths: Sequence[str], size: tuple[int, int]) -> str:
    """Content key of a cache: sha256 over (version, size, each path with its byte size and
    mtime in ns). Changing, adding, removing or re-ordering files changes the key."""
    h = hashlib.sha256(f"reidlab-image-cache v{_CACHE_VERSION} {size[0]}x{size[1]}\n".encode())
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            raise DatasetError(f"{p}: image file not found; re-extract the dataset or reload the dataset records") from None
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


class ImageCache:
    """All images of a split decoded once into ``uint8 [N, 3, H, W]``.

    Args:
        records_or_paths: ``ImageRecord`` s (their ``.path``) or file paths; index ``i`` of the
            cache is item ``i``.
        size: ``(H, W)`` stored size; images of another size are resized (bilinear, PIL).
        cache_dir: if given, the tensor is kept in a memory-mapped file
            ``<cache_dir>/images-<key>-<N>x3x<H>x<W>.u8`` where ``key`` = :func:`cache_key`
            (paths, byte sizes, mtimes, size). A later run with the same inputs maps the file
            instead of decoding (pages are read lazily; copy-on-write, the file is never
            modified after it is written). Written atomically (temp name + rename).
        num_threads: decoding threads (default: ``min(8, os.cpu_count())``).

    Indexing: ``cache[idx]`` with an int, slice, list or index tensor returns ``uint8``
    ``[B, 3, H, W]`` (``[3, H, W]`` for an int). ``cache.images`` is the whole tensor.

    Raises:
        DatasetError: an unreadable image (named in the message).
    """

    def __init__(self, records_or_paths: Sequence, size: tuple[int, int] = (256, 128),
                 cache_dir: Optional[PathLike] = None, num_threads: Optional[int] = None) -> None:
        self.paths: list[str] = _paths_of(records_or_paths)
        self.size: tuple[int, int] = (int(size[0]), int(size[1]))
        self.num_threads = int(num_threads or min(8, os.cpu_count() or 1))
        self.cache_file: Optional[Path] = None
        self.from_disk_cache = False
        n, (h, w) = len(self.paths), self.size
        if cache_dir is None:
            buf = np.empty((n, 3, h, w), dtype=np.uint8)
            self._decode_into(buf)
        else:
            cache_dir = Path(cache_dir)
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.cache_file = cache_dir / f"images-{cache_key(self.paths, self.size)}-{n}x3x{h}x{w}.u8"
            expected = n * 3 * h * w
            if not (self.cache_file.is_file() and self.cache_file.stat().st_size == expected):
                fd, tmp = tempfile.mkstemp(prefix=self.cache_file.name + ".", suffix=".tmp", dir=cache_dir)
                os.close(fd)
                try:
                    if n:
                        out = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=(n, 3, h, w))
                        self._decode_into(out)
                        out.flush()
                        del out
                    os.replace(tmp, self.cache_file)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                self.from_disk_cache = True
            buf = (np.memmap(self.cache_file, dtype=np.uint8, mode="c", shape=(n, 3, h, w))
                   if n else np.empty((0, 3, h, w), dtype=np.uint8))
        self.images: torch.Tensor = torch.from_numpy(buf)

    def _decode_into(self, out: np.ndarray) -> None:
        size = self.size

        def work(i: int) -> None:
            out[i] = np.asarray(_load_pil(self.paths[i], size), dtype=np.uint8).transpose(2, 0, 1)

        if self.num_threads <= 1 or len(self.paths) < 2:
            for i in range(len(self.paths)):
                work(i)
            return
        with ThreadPoolExecutor(self.num_threads) as pool:
            for fut in [pool.submit(work, i) for i in range(len(self.paths))]:
                fut.result()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, idx) -> torch.Tensor:
        if isinstance(idx, (list, tuple)):
            idx = torch.as_tensor(idx, dtype=torch.long)
        return self.images[idx]

    @property
    def nbytes(self) -> int:
        """Size of the cached tensor in bytes."""
        return self.images.numel()

    def to(self, device: Union[str, torch.device]) -> "ImageCache":
        """Move the whole cache to ``device`` (e.g. a GPU with room for it); returns ``self``."""
        self.images = self.images.to(device)
        return self

    def __repr__(self) -> str:
        src = f", file={str(self.cache_file)!r}" if self.cache_file else ""
        return f"ImageCache(n={len(self)}, size={self.size}, {self.nbytes / 2**20:.1f} MiB{src})"
