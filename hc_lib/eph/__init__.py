"""Probabilistic hierarchies and the two learners that fit them, EPH and FPH.

* :mod:`~hc_lib.eph.probabilistic`: the relaxed hierarchy (A, B), its projections and the
  relaxed scores FPH optimises;
* :mod:`~hc_lib.eph.expected` and :mod:`~hc_lib.eph.dense_expected`: the scores of sampled
  discrete trees and their straight-through gradients (EPH's estimator), and
  :mod:`~hc_lib.eph.dense_step`: a whole step in NumPy for small graphs;
* :mod:`~hc_lib.eph.pairs`: the node pairs a score sums over, exact or sampled;
* :mod:`~hc_lib.eph.enumeration`: exact expectations over every tree, for tiny graphs;
* :mod:`~hc_lib.eph.learner` and :mod:`~hc_lib.eph.estimators`: the ``fit`` estimators.
"""
from hc_lib.eph.estimators import EPH, FPH
from hc_lib.eph.learner import initial_tree
from hc_lib.eph.probabilistic import ProbabilisticHierarchy

__all__ = ["EPH", "FPH", "ProbabilisticHierarchy", "initial_tree"]
