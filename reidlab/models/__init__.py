"""reidlab models: the four papers' networks, their baselines, shared layers and backbones.

    from reidlab.models import create_model, list_models, model_options
    model = create_model("pfn", num_classes=751)            # ResNet50, 384x192 in the paper
    tiny = create_model("pfn", 8, backbone="resnet18", backbone_width=0.25)   # CPU tests

Every model follows the contract in :mod:`reidlab.models.base` (train: dict of named
logits/embeddings + ``loss_terms``; eval: the test feature ``[B, feature_dim]``).
"""

from reidlab.models.base import LossTerm, ReIDModel, ReIDOutput
from reidlab.models.registry import create_model, list_models, model_options, register

__all__ = ["LossTerm", "ReIDModel", "ReIDOutput", "create_model", "list_models", "model_options", "register"]
