"""Checks of a dataset against a training run, made before anything is built or written.

The readers already refuse malformed names and out-of-range labels
(:func:`reidlab.data.load_dataset`); the image caches decode every image up front and list
the unreadable ones. What is left is whether the splits can train and evaluate at all:

* training needs at least 2 identities (a classifier over one class, or a triplet without
  negatives, learns nothing and its loss goes to 0);
* evaluation needs at least one query whose identity (not junk ``-1``, not a distractor)
  appears in the gallery under another camera; with a single such identity the metrics are
  meaningless (rank-1 is 100 % by construction for an easy query), which is a warning.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from reidlab.errors import DatasetError

__all__ = ["check_train_split", "check_test_splits", "valid_query_ids"]

logger = logging.getLogger(__name__)


def check_train_split(ds) -> int:
    """Number of training identities; :class:`DatasetError` if fewer than 2."""
    n = int(ds.num_train_pids)
    if n < 2:
        raise DatasetError(f"{ds.root}: the train split has {n} identit{'y' if n == 1 else 'ies'}; training a "
                           "re-ID model needs at least 2 (with one, the identity and triplet losses are 0 from the "
                           "start and the metrics mean nothing): add identities")
    return n


def valid_query_ids(ds) -> set[int]:
    """Identities of the queries that have a true match: same identity in the gallery under
    another camera (the junk rule removes same-camera matches); junk and distractors excluded."""
    skip = {-1, *getattr(ds, "distractor_pids", (0,))}
    cams: dict[int, set[int]] = defaultdict(set)
    for r in ds.gallery:
        if r.pid not in skip:
            cams[r.pid].add(r.camid)
    return {q.pid for q in ds.query if q.pid not in skip and cams.get(q.pid, set()) - {q.camid}}


def check_test_splits(ds) -> int:
    """Number of query identities with a true match; :class:`DatasetError` if none, a warning
    (logger ``reidlab.engine.preflight``) if only one."""
    ids = valid_query_ids(ds)
    if not ids:
        raise DatasetError(f"{ds.root}: no query has a true match in the gallery (same identity, another camera), "
                           "so evaluation would be empty; check the query/gallery splits or train without "
                           "evaluation (--no-eval)")
    if len(ids) == 1:
        logger.warning("%s: only one query identity (%d) has a match in the gallery: rank-1 and mAP over a single "
                       "identity are meaningless; add test identities", ds.root, next(iter(ids)))
    return len(ids)
