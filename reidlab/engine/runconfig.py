"""Training configurations as files: ``reidlab train --config run.yaml`` (or ``run.json``).

A config file is a YAML (or JSON: a subset of YAML) mapping in one of three forms:

1. **A preset name plus overrides** (what a user writes)::

       preset: pfn-cpu-demo          # a name of ``reidlab presets list``
       overrides:                    # preset fields (``model_options.<opt>`` for one model option)
         lr: 0.001
         model_options.backbone_width: 0.25
         tensorboard: true
       data: data/synthreid          # optional: the train() arguments below
       out: runs/pfn-lr1e-3
       seed: 3
       max_iters: 200

2. **A full preset** (``reidlab presets show NAME > run.yaml``, then edit): the preset's own
   fields at the top level (``name``, ``model``, ``lr`` ...); every field left out takes the
   :class:`~reidlab.presets.Preset` default, not a named preset's value.

3. **The ``config.json`` of an earlier run** (``reidlab train --config runs/pfn/config.json
   --out runs/pfn-again``): its ``preset`` (a full preset dict), ``seed``, ``data``,
   ``dataset`` and ``max_iters`` are reused; what it records about that run (``num_classes``,
   ``device``, ``world_size``, ``versions``, ``command``, ``init``) is read as information
   only. Training from it gives the same preset, so the same run (same seed, same data).

The optional ``train()`` arguments of forms 1 and 3 (:data:`TRAIN_KEYS`): ``data``, ``out``,
``dataset``, ``seed``, ``epochs``, ``max_iters``, ``device``, ``cache_dir``, ``evaluate``.
Relative paths are relative to the current folder (as on the command line), not to the file.

Precedence (lowest first): the preset (or the ``Preset`` defaults in form 2) < the file's
``overrides`` < the file's ``train()`` arguments < command-line flags (``--data``, ``--seed``,
``--tensorboard`` ...) < ``--set key=value``. ``--config`` and ``--preset`` exclude each
other; so do ``--config`` and ``--resume`` (a resumed run keeps its own ``config.json``).

Every problem with a file is one :class:`~reidlab.errors.ConfigError` line naming the file,
the key and the fix: an unknown key (with a did-you-mean), a value of the wrong type, a
YAML / JSON syntax error (with its line and column).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from reidlab.errors import ConfigError
from reidlab.presets import Preset, get_preset

__all__ = ["RunConfig", "load_run_config", "TRAIN_KEYS", "RECORD_KEYS"]

PathLike = Union[str, os.PathLike]

#: ``train()`` arguments a config file may set -> (type check, what is expected).
TRAIN_KEYS: dict[str, tuple[Any, str]] = {
    "data": (str, "a folder path such as data/synthreid"),
    "out": (str, "a run folder path such as runs/pfn"),
    "dataset": (str, "a dataset layout name such as market1501 (or auto)"),
    "seed": (int, "an integer such as 0"),
    "epochs": ("count", "a whole number >= 1"),
    "max_iters": ("count?", "a whole number >= 1, or null"),
    "device": (str, "auto, cpu, cuda or cuda:N"),
    "cache_dir": (str, "a folder path"),
    "evaluate": (bool, "true or false"),
}

#: Keys of a run's ``config.json`` that describe that run; read as information, never reused.
RECORD_KEYS = frozenset({"num_classes", "world_size", "versions", "command", "init"})

_FORM1_KEYS = ("preset", "overrides", *TRAIN_KEYS)


@dataclass(frozen=True)
class RunConfig:
    """A config file, resolved.

    Attributes:
        preset: the preset with the file's overrides applied.
        train_args: the file's ``train()`` arguments (only the keys it sets).
        source: the file it was read from.
        record: the information-only keys of a run's ``config.json`` (empty otherwise).
    """

    preset: Preset
    train_args: dict = field(default_factory=dict)
    source: Optional[Path] = None
    record: dict = field(default_factory=dict)


def _did_you_mean(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def _read_mapping(path: Path) -> dict:
    """The file's top-level mapping (YAML, or JSON for ``.json``), or a one-line error."""
    if not path.is_file():
        where = "is a folder; give a file (e.g. its config.json)" if path.is_dir() else "not found"
        raise ConfigError(f"config file {path}: {where}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path}: cannot be read ({err}); give a UTF-8 YAML or JSON file") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config file {path}: JSON syntax error at line {err.lineno}, column {err.colno}: "
                              f"{err.msg}; fix the file (or write it as YAML)") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            raise ConfigError(f"config file {path}: YAML syntax error{where}: {problem}; fix the file "
                              "(`reidlab presets show NAME` prints a valid one)") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path}: expected a mapping such as `preset: pfn-cpu-demo` at the top level, "
                          f"got {type(data).__name__ if data is not None else 'an empty file'}")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"config file {path}: key {key!r} is not a name; keys are preset fields or "
                              f"{', '.join(_FORM1_KEYS)}")
    return dict(data)


def _check_train_arg(path: Path, key: str, value: Any) -> Any:
    kind, expected = TRAIN_KEYS[key]
    if kind == "count?" and value is None:
        return None
    if kind in ("count", "count?"):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"config file {path}: key {key!r} is {value!r}; expected {expected} (e.g. `{key}: "
                          f"{_example(key)}`)")
    return value


def _example(key: str) -> str:
    return {"data": "data/synthreid", "out": "runs/pfn", "dataset": "auto", "seed": "0", "epochs": "10",
            "max_iters": "200", "device": "cpu", "cache_dir": "cache/", "evaluate": "false"}[key]


def _check_preset_values(path: Path, where: str, values: Mapping[str, Any]) -> None:
    """Unknown preset fields and values of the wrong type, named by their key in the file."""
    from reidlab.presets import _TYPE_TEXT, _type_ok   # the Preset's own type rules

    fields = {f.name: str(f.type) for f in dataclasses.fields(Preset)}
    names = sorted(fields)
    for key, value in values.items():
        if key.startswith("model_options.") or key == "pretrained":
            continue
        if key not in fields:
            raise ConfigError(f"config file {path}: unknown preset field {where}{key!r}; {_did_you_mean(key, names)}"
                              f"(fields: reidlab presets show NAME)")
        if not _type_ok(fields[key], value):
            raise ConfigError(f"config file {path}: key {where}{key!r} is {value!r}; expected "
                              f"{_TYPE_TEXT[fields[key]]}")


def load_run_config(path: PathLike) -> RunConfig:
    """Read a training config file (YAML or JSON) in any of the three forms of this module.

    Raises:
        ConfigError: one line naming the file, the key and the fix (missing file, syntax
            error with its line, unknown key, wrong type, unknown preset name, invalid recipe).
    """
    path = Path(path)
    data = _read_mapping(path)
    record: dict = {}
    if "preset" in data:               # forms 1 and 3 (form 2's own fields include ``init``)
        record = {k: data.pop(k) for k in list(data) if k in RECORD_KEYS}
        if "versions" in record:       # a run's config.json: its device was that machine's
            record["device"] = data.pop("device", None)
    if "preset" not in data and "name" in data and "model" in data:
        # form 2: a full preset at the top level
        _check_preset_values(path, "", data)
        try:
            preset = Preset.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"config file {path}: {err}") from None
        return RunConfig(preset=preset, train_args={}, source=path, record=record)
    if "preset" not in data:
        fields = {f.name for f in dataclasses.fields(Preset)}
        stray = [k for k in data if k in fields]
        hint = (f"(it has preset fields such as {stray[0]!r}: add `preset: NAME` and put them under `overrides:`, "
                "or add `name:` and `model:` for a full preset)" if stray else
                "(e.g. `preset: pfn-cpu-demo`; `reidlab presets list` names them)")
        raise ConfigError(f"config file {path}: no 'preset' key; give a preset name or a full preset {hint}")
    preset_fields = sorted(f.name for f in dataclasses.fields(Preset))
    for key in data:
        if key not in _FORM1_KEYS:
            if key in preset_fields:
                raise ConfigError(f"config file {path}: key {key!r} is a preset field; put it under `overrides:` "
                                  f"(`overrides: {{{key}: ...}}`)")
            raise ConfigError(f"config file {path}: unknown key {key!r}; {_did_you_mean(key, list(_FORM1_KEYS))}"
                              f"(keys: {', '.join(_FORM1_KEYS)}; preset fields go under `overrides:`)")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise ConfigError(f"config file {path}: key 'overrides' is {overrides!r}; expected a mapping of preset "
                          "fields such as `overrides: {lr: 0.001}`")
    _check_preset_values(path, "overrides.", overrides)
    base = data["preset"]
    try:
        if isinstance(base, str):
            preset = get_preset(base, **overrides)
        elif isinstance(base, Mapping):
            _check_preset_values(path, "preset.", base)
            preset = Preset.from_dict(base).replace(**overrides)
        else:
            raise ConfigError(f"key 'preset' is {base!r}; expected a preset name such as pfn-cpu-demo "
                              "or a mapping of preset fields")
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from None
    train_args = {k: _check_train_arg(path, k, data[k]) for k in TRAIN_KEYS if k in data}
    return RunConfig(preset=preset, train_args=train_args, source=path, record=record)
