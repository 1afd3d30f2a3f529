"""Training-input throughput: decode-once cache + batched tensor augmentation vs per-image PIL.

Writes ``--n`` JPEGs of 128x64 (smooth random person-like blobs) to a temporary folder and
measures images/s of producing augmented, normalised 256x128 float batches of ``--batch`` on
the CPU:

* **baseline**: a ``Dataset`` that opens each JPEG with PIL and applies the torchvision
  per-image pipeline ``Resize(256x128) -> RandomHorizontalFlip -> Pad(10) -> RandomCrop ->
  ToTensor -> Normalize -> RandomErasing``, in a ``DataLoader`` with 2 workers (persistent,
  shuffled); steady-state epochs (worker start-up excluded).
* **reidlab**: ``ImageCache`` (decoded once) indexed by ``PKSampler`` batches and
  ``BatchAugment`` with the same steps, in the main process with ``--threads`` torch
  threads (default 1); cache stored at the native 128x64 (resize in the augmentation) and
  at 256x128. Steady-state epochs; the one-off decode time is reported separately and also
  amortised over one epoch.

Each figure is the median epoch (the machine may be shared; medians resist other load).

Run:  .venv/bin/python benchmarks/bench_pipeline.py [--n 2000 --epochs 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reidlab.data import BatchAugment, ImageCache, PKSampler, make_generator  # noqa: E402


def write_jpegs(folder: Path, n: int, ids: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``n`` smooth 128x64 JPEGs (quality 90), ``ids`` identities, names ``<pid>_<i>.jpg``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, pids = [], []
    yy, xx = np.mgrid[0:128, 0:64]
    for i in range(n):
        pid = i % ids
        img = np.empty((128, 64, 3), dtype=np.float32)
        img[:] = rng.uniform(40, 200, 3)
        for _ in range(4):  # a few coloured ellipses (head, torso, legs...)
            cy, cx = rng.uniform(0, 128), rng.uniform(0, 64)
            ry, rx = rng.uniform(8, 40), rng.uniform(6, 24)
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
            img[mask] = rng.uniform(0, 255, 3)
        img += rng.normal(0, 6, img.shape)
        path = folder / f"{pid:04d}_{i:05d}.jpg"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(str(path))
        pids.append(pid)
    return paths, pids


class _PILDataset(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with Image.open(self.paths[i]) as img:
            return self.transform(img.convert("RGB")), 0


def bench_baseline(paths: list[str], batch: int, epochs: int, workers: int) -> tuple[float, float]:
    """Steady-state images/s and the first epoch's images/s of the torchvision pipeline."""
    import torchvision.transforms as T

    tf = T.Compose([
        T.Resize((256, 128), interpolation=T.InterpolationMode.BILINEAR),
        T.RandomHorizontalFlip(0.5), T.Pad(10), T.RandomCrop((256, 128)),
        T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        T.RandomErasing(p=0.5, scale=(0.02, 0.4), ratio=(0.3, 3.3), value="random"),
    ])
    loader = torch.utils.data.DataLoader(_PILDataset(paths, tf), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(0))
    times = []
    count = 0
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        count = 0
        for x, _ in loader:
            count += x.shape[0]
        times.append(time.perf_counter() - t0)
    return count / float(np.median(times[1:])), count / times[0]


def bench_reidlab(paths: list[str], pids: list[int], cache_size: tuple[int, int], batch: int, epochs: int,
                  threads: int) -> tuple[float, float, float]:
    """(steady images/s, decode seconds, images/s of one epoch including the decode)."""
    t0 = time.perf_counter()
    cache = ImageCache(paths, size=cache_size, num_threads=threads)
    decode = time.perf_counter() - t0
    aug = BatchAugment(size=(256, 128), flip_p=0.5, pad=10, erase_p=0.5)
    sampler = PKSampler(pids, p=batch // 4, k=4, seed=0)
    gen = make_generator(0)
    for idx in sampler:  # warm-up epoch (allocator, first-call overheads)
        aug(cache[torch.as_tensor(idx)], generator=gen)
    times = []
    for _ in range(epochs):
        count = 0
        t0 = time.perf_counter()
        for idx in sampler:
            x, _ = aug(cache[torch.as_tensor(idx)], generator=gen)
            count += x.shape[0]
        times.append(time.perf_counter() - t0)
    steady = count / float(np.median(times))
    return steady, decode, count / (count / steady + decode)


def decode_comparison(paths: list[str]) -> list[str]:
    """One-off decode speed: ImageCache's PIL thread pool vs torchvision.io.decode_jpeg."""
    from torchvision.io import decode_jpeg, read_file

    out = []
    for threads in (1, 2):
        t0 = time.perf_counter()
        ImageCache(paths, size=(128, 64), num_threads=threads)
        out.append(f"  decode, PIL in a {threads}-thread pool (ImageCache): {len(paths) / (time.perf_counter() - t0):.0f} img/s")
    t0 = time.perf_counter()
    decode_jpeg([read_file(p) for p in paths])
    out.append(f"  decode, torchvision.io.decode_jpeg on the list of files: {len(paths) / (time.perf_counter() - t0):.0f} img/s")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of generated JPEGs")
    ap.add_argument("--ids", type=int, default=500, help="identities (PK sampler)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="steady-state epochs measured")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    ap.add_argument("--threads", default="1", help="comma-separated torch intra-op thread counts for the reidlab rows "
                    "(default 1: one core, while the baseline uses 2 worker processes)")
    args = ap.parse_args(argv)
    thread_list = [int(t) for t in str(args.threads).split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="reidlab-bench-"))
    try:
        t0 = time.perf_counter()
        paths, pids = write_jpegs(tmp / "img", args.n, args.ids)
        print(f"wrote {len(paths)} JPEGs 128x64 in {time.perf_counter() - t0:.1f} s to {tmp}")
        torch.set_num_threads(1)
        base, base_first = bench_baseline(paths, args.batch, args.epochs, args.workers)
        rows = [(f"torchvision/PIL per image, DataLoader({args.workers} workers)", base)]
        extra = [f"  baseline first epoch incl. worker start-up: {base_first:.0f} img/s"]
        for threads in thread_list:
            torch.set_num_threads(threads)
            for size in ((128, 64), (256, 128)):
                steady, decode, amort = bench_reidlab(paths, pids, size, args.batch, args.epochs, max(2, threads))
                rows.append((f"ImageCache {size[0]}x{size[1]} + BatchAugment, {threads} thr", steady))
                extra.append(f"  cache {size[0]}x{size[1]}, {threads} thr: one-off decode {decode:.2f} s "
                             f"({args.n / decode:.0f} img/s); first epoch incl. decode {amort:.0f} img/s "
                             f"= {amort / base:.1f}x")
        torch.set_num_threads(1)
        extra += decode_comparison(paths)
        print(f"\nimages/s (median epoch of {args.epochs}), 256x128 output, batch {args.batch}, CPU, torch {torch.__version__}, "
              f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}")
        print(f"{'pipeline':<56}{'images/s':>10}{'ratio':>8}")
        for name, ips in rows:
            print(f"{name:<56}{ips:>10.0f}{ips / base:>7.1f}x")
        print("\n".join(extra))
        best = max(r[1] for r in rows[1:])
        print(f"\nratio (best reidlab / baseline): {best / base:.1f}x  (target >= 3x: {'met' if best / base >= 3 else 'NOT met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
