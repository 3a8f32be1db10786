"""oltr: long-tailed and open-set recognition benchmark suite.

Entry points: :func:`oltr.losses.build_loss`, :func:`oltr.models.build_feature_model`,
:func:`oltr.data.read_list`, :func:`oltr.evaluation.closed_set_metrics`,
:func:`oltr.engine.train` and the ``oltr`` command.
"""

__version__ = "0.1.0"
