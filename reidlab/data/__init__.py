"""Data: dataset readers, keypoints, decode-once image cache, batched augmentation, PK sampler.

Typical use::

    from reidlab.data import load_dataset, ImageCache, BatchAugment, PKSampler
    ds = load_dataset("market1501", "data/market1501")
    ds.summary()                     # the split table as text
    cache = ImageCache(ds.train, size=(128, 64), cache_dir="data/market1501/.cache")
    aug = BatchAugment(size=(256, 128))
    sampler = PKSampler([r.pid for r in ds.train], p=16, k=4, seed=0)
    for idx in sampler:
        images, _ = aug(cache[idx].to(device), generator=g)

Importing this package loads numpy and torch, never matplotlib.
"""

from reidlab.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchAugment,
    denormalize,
    eval_transform,
    hflip_keypoints,
    make_generator,
)
from reidlab.data.datasets import (
    MARKET_SEQUENCE_LENGTHS,
    ReIDDataset,
    detect_layout,
    list_datasets,
    load_dataset,
    market_global_frame,
)
from reidlab.data.cli import info_main
from reidlab.data.images import ImageCache, decode_image
from reidlab.data.keypoints import load_keypoints, save_keypoints, stack_keypoints
from reidlab.data.records import FLIP_PERMUTATION, KEYPOINT_NAMES, ImageRecord
from reidlab.data.sampler import PKSampler

__all__ = [
    "BatchAugment", "FLIP_PERMUTATION", "IMAGENET_MEAN", "IMAGENET_STD", "ImageCache", "ImageRecord",
    "KEYPOINT_NAMES", "MARKET_SEQUENCE_LENGTHS", "PKSampler", "ReIDDataset", "decode_image", "denormalize",
    "detect_layout", "eval_transform", "hflip_keypoints", "info_main", "list_datasets", "load_dataset",
    "load_keypoints", "make_generator", "market_global_frame", "save_keypoints", "stack_keypoints",
]
