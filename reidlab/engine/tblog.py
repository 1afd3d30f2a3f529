"""Training logs for TensorBoard (optional extra ``tensorboard``), next to ``metrics.csv``.

The training loop (:class:`reidlab.engine.trainer._Loop`) reports to a *scalar logger*: an
object with ``log_iteration(step, scalars)``, ``log_evaluation(step, scalars)`` and
``close()``. The default, :class:`NullLogger`, does nothing; with the preset field
``tensorboard=True`` (``reidlab train --tensorboard``) it is a :class:`TensorBoardLogger`
writing event files to ``<run>/tb/`` (``tensorboard --logdir runs/``):

=====================  ==========================================================
tag                    value, at global step = iterations done so far (1-based)
=====================  ==========================================================
``train/loss``         the iteration's total loss (as summed into ``metrics.csv``)
``train/<term>``       each loss term of the model (same names as the CSV columns)
``train/lr``           the learning rate of the head parameter group (the CSV's ``lr``)
``eval/rank1``         single-query rank-1 (fraction in [0, 1]) of each evaluation
``eval/mAP``           single-query mAP (fraction) of each evaluation
=====================  ==========================================================

``metrics.csv`` stays the record (one row per epoch, the means of the iteration values
above); the event files are a view of the same numbers for people who use TensorBoard. A
resumed run appends to the same folder (TensorBoard shows the later value of a repeated step).
Only rank 0 writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Protocol, Union

from reidlab.errors import ConfigError

__all__ = ["ScalarLogger", "NullLogger", "TensorBoardLogger", "make_logger", "TB_DIR"]

#: Sub-folder of a run folder that holds the event files.
TB_DIR = "tb"


class ScalarLogger(Protocol):
    """What the training loop reports to."""

    def log_iteration(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def log_evaluation(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...


class NullLogger:
    """The default: no logs besides ``metrics.csv``."""

    def log_iteration(self, step: int, scalars: Mapping[str, float]) -> None:
        """Ignore one iteration's values."""

    def log_evaluation(self, step: int, scalars: Mapping[str, float]) -> None:
        """Ignore one evaluation's values."""

    def close(self) -> None:
        """Nothing to close."""


def require_tensorboard() -> None:
    """One-line :class:`ConfigError` unless the ``tensorboard`` package can be imported."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("tensorboard=True needs the tensorboard package: pip install 'reidlab[tensorboard]' "
                          "(or train without --tensorboard / with tensorboard: false)") from None


class TensorBoardLogger:
    """Scalars to TensorBoard event files in ``logdir`` (``torch.utils.tensorboard``)."""

    def __init__(self, logdir: Union[str, os.PathLike]) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.logdir = Path(logdir)
        self._writer = SummaryWriter(log_dir=str(self.logdir))

    def log_iteration(self, step: int, scalars: Mapping[str, float]) -> None:
        """``train/<name>`` for each value of one iteration (``step`` = iterations done)."""
        for name, value in scalars.items():
            self._writer.add_scalar(f"train/{name}", float(value), global_step=int(step))

    def log_evaluation(self, step: int, scalars: Mapping[str, float]) -> None:
        """``eval/<name>`` for each metric of one evaluation (``step`` = iterations done)."""
        for name, value in scalars.items():
            self._writer.add_scalar(f"eval/{name}", float(value), global_step=int(step))
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()


def make_logger(enabled: bool, run_dir: Union[str, os.PathLike], is_main: bool = True) -> ScalarLogger:
    """The loop's logger: a :class:`TensorBoardLogger` in ``<run_dir>/tb`` when ``enabled``
    (on rank 0), else a :class:`NullLogger`. Raises ConfigError when enabled without the package."""
    if enabled:
        require_tensorboard()   # on every rank: all fail alike
        if is_main:
            return TensorBoardLogger(Path(run_dir) / TB_DIR)
    return NullLogger()
