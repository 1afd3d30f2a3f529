"""The one test-feature cache of a run folder, keyed by content.

``cached_features(model, records, folder=run.path / "features", split="query", ...)`` returns the
features :func:`reidlab.engine.extract_features` would compute, reading them from
``<folder>/<split>-<digest>.pt`` when an earlier extraction had exactly the same inputs:

- the **weights**: the content hash (SHA-256) of the checkpoint file the model was loaded from
  (remembered in ``<folder>/checkpoint-hashes.json`` keyed by file size and ``st_mtime_ns``, so
  it is computed once per checkpoint version) and the hash of the model's in-memory parameters
  and buffers (a model changed after loading is never mistaken for its checkpoint);
- the **records**: every path, identity, camera, frame and landmark array, and each image file's
  size and ``st_mtime_ns`` (a renamed, replaced or re-labelled image changes the key);
- the **extraction settings**: input size, flip mode, autocast dtype, channels-last, device type.

The file name carries a digest of the key and the stored key is compared in full before use, so
a stale cache is never used: it is recomputed (and the oldest files of a split pruned). Files are
written atomically (:func:`reidlab.fileio.atomic_open`), and one ``filelock`` per folder makes
concurrent evaluations of one run wait for each other instead of extracting and writing the same
file twice (the second one then reads what the first wrote). A cache that cannot be written
(read-only folder, full disk) only costs time: the features are returned and a warning logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from filelock import FileLock
from torch import nn

from reidlab.engine.extract import amp_dtype, extract_features
from reidlab.fileio import atomic_open

__all__ = ["cached_features", "file_sha256", "state_sha256", "records_sha256", "feature_key"]

log = logging.getLogger("reidlab")
PathLike = Union[str, os.PathLike]
_FORMAT = 1
_HASHES = "checkpoint-hashes.json"
_LOCK = ".lock"
#: Cache files kept per split (most recently used first).
KEEP_PER_SPLIT = 2


def file_sha256(path: PathLike, memo_folder: Optional[PathLike] = None) -> str:
    """SHA-256 of a file's bytes, remembered in ``memo_folder/checkpoint-hashes.json`` by
    ``(absolute path, size, st_mtime_ns)`` so an unchanged file is hashed only once."""
    p = Path(path).resolve()
    st = p.stat()
    stamp = f"{st.st_size}:{st.st_mtime_ns}"
    memo_file = Path(memo_folder) / _HASHES if memo_folder is not None else None
    memo: dict = {}
    if memo_file is not None and memo_file.is_file():
        try:
            memo = json.loads(memo_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
    entry = memo.get(str(p))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo_file is not None:
        memo[str(p)] = {"stamp": stamp, "sha256": digest}
        try:
            with atomic_open(memo_file, "w") as fh:
                json.dump(memo, fh, indent=1, sort_keys=True)
        except OSError as err:  # only a missed shortcut
            log.warning("could not remember the checkpoint hash in %s (%s)", memo_file, err)
    return digest


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    t = t.detach().cpu().contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    elif t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return memoryview(t.numpy()).cast("B")


def state_sha256(model: nn.Module) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes and values of every tensor)."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor):
            continue
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(_tensor_bytes(t))
    return h.hexdigest()


def records_sha256(records: Sequence[Any]) -> str:
    """SHA-256 of the records' paths, labels, frames, landmarks and their files' size and mtime."""
    h = hashlib.sha256()
    for r in records:
        path = str(r.path)
        try:
            st = os.stat(path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{path}|{r.pid}|{r.camid}|{getattr(r, 'frame', None)}|{stamp}|".encode())
        kp = getattr(r, "keypoints", None)
        if kp is not None:
            h.update(np.ascontiguousarray(np.asarray(kp, dtype=np.float32)).tobytes())
        h.update(b"\n")
    return h.hexdigest()


def feature_key(model: nn.Module, records: Sequence[Any], *, checkpoint: Optional[PathLike], size: Sequence[int],
                flip: Optional[str], amp_dtype: Optional[torch.dtype], channels_last: bool, device: torch.device,
                memo_folder: Optional[PathLike] = None, model_sha256: Optional[str] = None) -> dict:
    """The cache key of one extraction (a JSON-able dict; see the module docstring).

    ``model_sha256``: :func:`state_sha256` of ``model`` when the caller already has it.
    """
    return {
        "format": _FORMAT,
        "checkpoint": file_sha256(checkpoint, memo_folder) if checkpoint is not None and Path(checkpoint).is_file() else None,
        "model": model_sha256 or state_sha256(model),
        "records": records_sha256(records),
        "count": len(records),
        "size": [int(size[0]), int(size[1])],
        "flip": flip,
        "amp": None if amp_dtype is None else str(amp_dtype),
        "channels_last": bool(channels_last),
        "device": torch.device(device).type,
    }


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _load(path: Path, key: dict) -> Optional[torch.Tensor]:
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torn / foreign file: recompute (the write below replaces it)
        log.warning("feature cache %s unreadable (%s); extracting again", path, type(err).__name__)
        return None
    if not isinstance(blob, dict) or blob.get("key") != key or not isinstance(blob.get("features"), torch.Tensor):
        return None
    feats = blob["features"]
    if feats.dim() != 2 or feats.shape[0] != key["count"]:
        return None
    return feats


def cached_features(model: nn.Module, records: Sequence[Any], *, folder: Optional[PathLike], split: str,
                    size: Sequence[int], flip: Optional[str] = None, amp: Optional[str] = None,
                    channels_last: bool = False, batch_size: int = 128, device: Union[str, torch.device, None] = None,
                    checkpoint: Optional[PathLike] = None, progress: bool = False,
                    model_sha256: Optional[str] = None) -> torch.Tensor:
    """Test features of ``records`` (float32 CPU ``[N, D]``), from the cache when its key matches.

    Args:
        model, records, size, flip, amp, channels_last, batch_size, device, progress: as
            :func:`reidlab.engine.extract_features`.
        folder: cache folder (normally ``<run>/features``); ``None`` disables the cache.
        split: name used in the file name (``query``, ``gallery``, ``multi_query``...).
        checkpoint: the file the model's weights came from (its content hash is part of the key).
        model_sha256: :func:`state_sha256` of ``model``, to hash the weights once for several splits.

    A folder that cannot be created or locked (e.g. a read-only run folder) is not an error:
    the features are extracted without the cache and a warning is logged.

    Each split keeps its :data:`KEEP_PER_SPLIT` most recently used files (e.g. ``best.pt`` and
    ``last.pt`` evaluated in turn); older ones are deleted when a new one is written.
    """
    dev = torch.device(device) if device is not None else _model_device(model)
    recs = list(records)

    def extract() -> torch.Tensor:
        return extract_features(model, recs, size=tuple(size), batch_size=batch_size, flip=flip, device=dev,
                                progress=progress, amp=amp, channels_last=channels_last)

    if folder is None:
        return extract()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(folder / _LOCK))
        lock.acquire()
    except OSError as err:
        log.warning("feature cache %s not usable (%s); extracting without it", folder, err)
        return extract()
    try:
        key = feature_key(model, recs, checkpoint=checkpoint, size=size, flip=flip, amp_dtype=amp_dtype(amp, dev),
                          channels_last=channels_last, device=dev, memo_folder=folder, model_sha256=model_sha256)
        key["split"] = split
        target = folder / f"{split}-{_digest(key)}.pt"
        if target.is_file():
            feats = _load(target, key)
            if feats is not None:
                log.debug("features of %s from %s", split, target)
                with contextlib.suppress(OSError):
                    os.utime(target)  # most recently used: survives pruning
                return feats
        feats = extract()
        try:
            with atomic_open(target, "wb") as fh:
                torch.save({"key": key, "features": feats.contiguous()}, fh)
            _prune(folder, split, target)
        except OSError as err:  # e.g. disk full: the features are still good, only not cached
            log.warning("could not write the feature cache %s (%s); continuing without it", target, err)
        return feats
    finally:
        lock.release()


def _prune(folder: Path, split: str, keep: Path) -> None:
    """Keep the :data:`KEEP_PER_SPLIT` most recently used cache files of a split (``keep`` first)."""
    files = [p for p in folder.glob(f"{split}-*.pt") if p != keep]
    files.sort(key=lambda p: p.stat().st_mtime_ns if p.exists() else 0, reverse=True)
    for old in files[KEEP_PER_SPLIT - 1:]:
        try:
            old.unlink()
            log.debug("removed old feature cache %s", old)
        except OSError:  # pragma: no cover - already gone
            pass


def _model_device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
