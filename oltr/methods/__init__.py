"""Stage-2 methods on a finished stage-1 run: decoupled classifiers and post-hoc corrections.

Library API (what tests and users call):

- :func:`tau_normalize` ``(weight, tau) -> weight``, :func:`logit_adjust` ``(logits, class_counts, tau)``,
  :func:`ncm_logits` ``(train_features, train_labels, features, norm, distance)``, :func:`select_tau`;
- :func:`export_features` / :func:`load_features`: ``features_<split>.npz`` of a run;
- :data:`METHODS` (``tau_norm``, ``logit_adjust``, ``ncm``, ``crt``, ``lws``) and
  :func:`apply_method` ``(name, stage1_dir, output_dir, **params) -> run_dir``.
"""

from oltr.methods.apply import MethodRunDirError as MethodRunDirError, MethodSourceError as MethodSourceError
from oltr.methods.apply import apply_method as apply_method, default_method_dir as default_method_dir
from oltr.methods.decoupled import LearnableWeightScaling as LearnableWeightScaling
from oltr.methods.decoupled import train_classifier as train_classifier
from oltr.methods.features import FeaturesError as FeaturesError, export_features as export_features
from oltr.methods.features import load_features as load_features
from oltr.methods.ncm import ncm_logits as ncm_logits
from oltr.methods.posthoc import TAU_GRID as TAU_GRID, logit_adjust as logit_adjust, select_tau as select_tau
from oltr.methods.posthoc import tau_normalize as tau_normalize
from oltr.methods.registry import METHODS as METHODS, PIPELINE_METHODS as PIPELINE_METHODS
from oltr.methods.registry import all_method_names as all_method_names, method_label as method_label
import oltr.methods.library  # noqa: E402,F401  (registers the methods)

__all__ = [
    "METHODS", "PIPELINE_METHODS", "TAU_GRID", "FeaturesError", "LearnableWeightScaling", "MethodRunDirError",
    "MethodSourceError", "all_method_names", "apply_method", "default_method_dir", "export_features",
    "load_features", "logit_adjust", "method_label", "ncm_logits", "select_tau", "tau_normalize",
    "train_classifier",
]
