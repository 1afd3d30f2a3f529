"""The one output contract every reidlab model follows.

Training mode (``model.train()``)::

    out = model(images, keypoints=None)
    out["logits"]     -> dict[str, Tensor[B, num_classes]]   named identity logits
    out["embeddings"] -> dict[str, Tensor[B, D_name]]         named embeddings (metric losses)
    out["aux"]        -> dict[str, Tensor]                    optional extras (attention maps,
                                                              part weights...) for plots

and ``model.loss_terms`` declares which loss applies to which named output (a preset may
re-weight them by ``group``). Evaluation mode (``model.eval()``)::

    feats = model(images, keypoints=None)   -> Tensor[B, model.feature_dim]

the test feature (a model documents how it is built, e.g. PFN's concatenation). Flip
test-time augmentation is done by the feature extractor, not the model.

Inputs: ``images`` float ``[B, 3, H, W]`` normalised with ImageNet mean/std;
``keypoints`` (only for models with ``needs_keypoints = True``) float ``[B, 18, 3]``
``(x, y, visibility)`` in pixel coordinates of ``images`` (after augmentation).

The backbone lives in the attribute ``backbone`` so an optimiser can give it its own
learning rate (parameter names starting with ``backbone.``); everything else is "head".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, TypedDict

from torch import Tensor, nn

LossKind = Literal["ce", "triplet", "pose_triplet"]


@dataclass(frozen=True)
class LossTerm:
    """Declares one loss on one named model output.

    Attributes:
        kind: ``"ce"`` (label-smoothing cross-entropy on ``out["logits"][output]``),
            ``"triplet"`` (batch-hard triplet on ``out["embeddings"][output]``) or
            ``"pose_triplet"`` (pose-constrained triplet, jlpose).
        output: key in ``out["logits"]`` (ce) or ``out["embeddings"]`` (triplet kinds).
        weight: multiplier of this term inside its group.
        group: ``"id"`` for identification losses, ``"metric"`` for metric losses; a preset
            scales whole groups (e.g. jlpose's identification : triplet = 1 : 0.5).
    """

    kind: LossKind
    output: str
    weight: float = 1.0
    group: Literal["id", "metric"] = "id"


class ReIDOutput(TypedDict, total=False):
    logits: dict[str, Tensor]
    embeddings: dict[str, Tensor]
    aux: dict[str, Tensor]


class ReIDModel(nn.Module):
    """Base class: subclasses set ``backbone``, ``loss_terms``, ``feature_dim`` and
    implement :meth:`forward` and :meth:`cam_target_layers`."""

    #: losses this model is trained with (see :class:`LossTerm`).
    loss_terms: list[LossTerm]
    #: dimensionality of the eval-mode test feature (before any flip concatenation).
    feature_dim: int
    #: True if ``forward`` needs ``keypoints`` (jlpose).
    needs_keypoints: bool = False

    def forward(self, images: Tensor, keypoints: Optional[Tensor] = None):  # pragma: no cover
        raise NotImplementedError

    def cam_target_layers(self) -> list[nn.Module]:  # pragma: no cover
        """Layers Grad-CAM should hook (usually the last conv stage feeding the heads)."""
        raise NotImplementedError

    def explain(self, images: Tensor, keypoints: Optional[Tensor] = None) -> dict[str, Tensor]:
        """Eval-mode intermediates for the visual explanations (no gradients needed).

        Keys a model provides where they exist (shapes documented per model):
        ``"feature_map"`` last conv map ``[B, C, h, w]``; ``"part_features"`` ``[B, P, D]``
        (per-stripe / per-part test features, in the order they are concatenated);
        ``"part_weights"`` (LGEU ``[B, K, C]``; MGWP fusion weights ``[B, P, 2]``);
        ``"tsa_maps"`` (MGWP ``[B, n_branches, h, w]`` in [0, 1]); ``"nonlocal_affinity"``
        (MGWP ``[B, hw, hw]``, rows sum to 1, last non-local block); ``"part_boxes"``
        (jlpose ``[B, 3, 4]`` x1, y1, x2, y2 in input pixels: head, trunk, lower limb).
        """
        raise NotImplementedError(f"{type(self).__name__} has no explain() outputs")

    def extra_repr(self) -> str:
        return f"feature_dim={getattr(self, 'feature_dim', '?')}"
