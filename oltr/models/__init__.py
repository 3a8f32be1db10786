"""Feature models, stage-2 modules and weight handling for the OLTR pipeline.

* :func:`build_feature_model` / :data:`FEATURE_MODELS` / :func:`feature_model_params` (``resnet10``, ``resnet18/34/50/101``, ``resnet152``)
  -> :class:`FeatureModel` with ``backbone``, ``attention`` and ``fc_add`` parts.
* :class:`ModulatedAttention` (stage 2).
* Classifiers (``forward(feature) -> (logits, extras)``): :class:`DotProductClassifier`,
  :class:`MetaEmbeddingClassifier` (owns the centroids); :func:`build_classifier` / :data:`CLASSIFIERS`.
* :func:`disc_centroids_loss` / :class:`DiscCentroidsLoss`, :func:`init_centroids`, :func:`feature_batches`.
* :func:`load_weights` (strict, lists keys), :func:`freeze` / :func:`set_train_mode` (by sub-module).
"""

from oltr.models.attention import ModulatedAttention as ModulatedAttention
from oltr.models.centroids import DiscCentroidsLoss as DiscCentroidsLoss
from oltr.models.centroids import disc_centroids_loss as disc_centroids_loss
from oltr.models.centroids import feature_batches as feature_batches
from oltr.models.centroids import init_centroids as init_centroids
from oltr.models.classifiers import CLASSIFIERS as CLASSIFIERS
from oltr.models.classifiers import CosNormClassifier as CosNormClassifier
from oltr.models.classifiers import DotProductClassifier as DotProductClassifier
from oltr.models.classifiers import build_classifier as build_classifier
from oltr.models.freezing import FREEZABLE_PARTS as FREEZABLE_PARTS
from oltr.models.freezing import freeze as freeze
from oltr.models.freezing import set_train_mode as set_train_mode
from oltr.models.freezing import trainable_parameters as trainable_parameters
from oltr.models.meta_embedding import MetaEmbeddingClassifier as MetaEmbeddingClassifier
from oltr.models.resnet import FEATURE_MODELS as FEATURE_MODELS
from oltr.models.resnet import FeatureModel as FeatureModel
from oltr.models.resnet import ResNetTrunk as ResNetTrunk
from oltr.models.resnet import build_feature_model as build_feature_model
from oltr.models.resnet import feature_model_params as feature_model_params
from oltr.models.resnet_cifar import CifarResNetTrunk as CifarResNetTrunk  # registers resnet20/32/44/56/110
from oltr.models.weights import LoadReport as LoadReport
from oltr.models.weights import WeightLoadError as WeightLoadError
from oltr.models.weights import load_weights as load_weights
from oltr.models.weights import read_state_dict as read_state_dict

__all__ = [
    "CLASSIFIERS",
    "FEATURE_MODELS",
    "FREEZABLE_PARTS",
    "CosNormClassifier",
    "DiscCentroidsLoss",
    "DotProductClassifier",
    "FeatureModel",
    "LoadReport",
    "MetaEmbeddingClassifier",
    "ModulatedAttention",
    "ResNetTrunk",
    "WeightLoadError",
    "build_classifier",
    "build_feature_model",
    "disc_centroids_loss",
    "feature_batches",
    "feature_model_params",
    "freeze",
    "init_centroids",
    "load_weights",
    "read_state_dict",
    "set_train_mode",
    "trainable_parameters",
]
