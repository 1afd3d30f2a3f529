"""SynthReID: the embedded, offline person re-ID benchmark (cameras, time, body landmarks).

``generate(out_dir, SynthConfig(...))`` (or ``reidlab synth --out data/synthreid``) writes a
dataset in the exact Market-1501 layout, so ``load_dataset("market1501", root)`` reads it
unchanged::

    <root>/bounding_box_train/  0042_c3s2_001234_01.jpg   training identities
    <root>/bounding_box_test/   gallery: test identities + distractors (0000_...) + junk (-1_...)
    <root>/query/               one image per test identity and camera it appears in
    <root>/gt_bbox/             hand-drawn-like boxes of the query visits (multi-query)
    <root>/keypoints.json       18 OpenPose/COCO-18 landmarks per image (x, y, v), see below
    <root>/sequence_lengths.json  {"c1": [len_s1, ...], ...} frames of each camera's sequences
    <root>/manifest.csv         the generator's ground truth, one row per image
    <root>/synthreid.json       generation parameters, seed, camera topology, identities
    <root>/.complete            written last (the Makefile tests it)

Names follow Market: ``{pid:04d}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg`` with ``cam`` and
``seq`` 1-based single digits and ``frame`` the frame within that sequence (restarting in
every sequence). All cameras share one wall clock at :data:`FPS` frames per second; the
camera's timeline ``[0, duration)`` is cut into sequences whose lengths are written to
``sequence_lengths.json``, so a reader that lays the sequences end to end recovers the
wall-clock frame (``manifest.csv`` column ``global_frame``), comparable across cameras.

The world:

* **People** are drawn procedurally (PIL polygons at 2x resolution, box-downsampled): a 3-D
  stick skeleton (body proportions, walking phase) projected orthographically for a yaw
  angle (front / back / side / oblique), with skin, hair, upper garment (plain / stripes /
  logo on the front only; long or short sleeves), lower garment (trousers / shorts / skirt),
  shoes and accessories (backpack: hidden by the torso in front views, handbag, hat). The
  landmarks are the projected skeleton joints; a landmark is visible (``v = 1``) when it lies
  inside the written image, is not self-occluded (far arm / hip / eye / ear in side views,
  face landmarks in back views, the far leg when the legs overlap) and not covered by an
  occluder. Hidden landmarks are written as ``(0, 0, 0)``; junk boxes (pid ``-1``) carry no
  landmarks (all hidden).
* **Cameras** have their own illumination gain and gamma, colour cast, background (wall
  gradient, doors/windows, floor texture), typical person scale, detector-box jitter (with
  heads or feet sometimes cut off), occluders (objects, poles, other people), blur or
  low resolution, sensor noise and JPEG quality, and a dominant walking direction (frontal,
  lateral or oblique views).
* **Hard negatives**: a share of identities come in groups that copy one appearance and
  differ only in one or two local cues (lower garment, shoes, bag, hat).
* **Time**: a directed camera graph with log-normal transit times (means of tens of seconds
  to minutes). Each identity enters at a random time, walks a path through 2-4 cameras
  following the graph's transition probabilities, and is visible a few seconds per camera;
  the detector keeps a few boxes from that visit. A share of walkers go off the usual paths
  (uniformly random next camera and transit time). Train and test identities walk the same
  graph, so a spatial-temporal model fitted on train transfers to test. Distractors and
  junk boxes appear at random cameras and times.

Determinism: every random draw comes from ``numpy.random.Generator(PCG64(SeedSequence(keys)))``
with keys derived from the seed and the object (identity, visit, image), so the output does
not depend on iteration order; JPEG settings are fixed and JSON keys sorted: the same seed
gives byte-identical files (same numpy / Pillow versions).

Camera numbers are **1-based** in file names, ``manifest.csv`` and ``synthreid.json``
(``cam``); ``ImageRecord.camid`` (0-based) is ``cam - 1``.

The generator is split by stage (this package re-exports the public names, import from here):

* :mod:`~reidlab.data.synthetic.config`: constants, seeded random streams, :class:`SynthConfig`;
* :mod:`~reidlab.data.synthetic.person`: appearance, skeleton, drawing and landmark visibility;
* :mod:`~reidlab.data.synthetic.world`: cameras, camera graph, walks, sequences, the :class:`Plan`;
* :mod:`~reidlab.data.synthetic.render`: one planned shot to JPEG bytes and landmarks;
* :mod:`~reidlab.data.synthetic.output`: :func:`generate` and reading the ground truth back.
"""

from __future__ import annotations

from dataclasses import replace  # noqa: F401 - re-exported: ``synthetic.replace(person, ...)``

from reidlab.data.synthetic.config import FORMAT_VERSION, FPS, SPLITS, PathLike, SynthConfig
from reidlab.data.synthetic.output import OWN_FILES, generate, load_info, load_manifest, sample_sheet
from reidlab.data.synthetic.person import (
    HARD_NEGATIVE_CUES,
    Person,
    far_side,
    sample_person,
    skeleton,
    view_label,
)
from reidlab.data.synthetic.render import render_shot
from reidlab.data.synthetic.world import (
    Camera,
    Edge,
    Plan,
    Shot,
    Visit,
    make_topology,
    plan_dataset,
    sequence_lengths,
    walk,
)

# private helpers the tests draw with (not part of the API)
from reidlab.data.synthetic.config import _appearance_rng, _rng  # noqa: F401
from reidlab.data.synthetic.person import _Canvas, _draw_person  # noqa: F401
from reidlab.data.synthetic.world import _background  # noqa: F401

__all__ = [
    "FPS", "FORMAT_VERSION", "SPLITS", "PathLike", "SynthConfig", "Person", "sample_person", "HARD_NEGATIVE_CUES",
    "view_label", "far_side", "skeleton", "Camera", "Edge", "make_topology", "Visit", "walk", "sequence_lengths",
    "Shot", "Plan", "plan_dataset", "render_shot", "OWN_FILES", "generate", "load_manifest", "load_info",
    "sample_sheet",
]
