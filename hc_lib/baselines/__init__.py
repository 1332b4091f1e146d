"""The classic and learned baselines of the EPH tables, each returning a :class:`~hc_lib.trees.Tree`.

* :mod:`~hc_lib.baselines.linkage`: vector linkages, Paris, average linkage (re-exported here);
* :mod:`~hc_lib.baselines.louvain`: the recursive Louvain hierarchy;
* :mod:`~hc_lib.baselines.compression`: a full tree compressed to a given number of internal nodes;
* :mod:`~hc_lib.baselines.sparsest_cut`, :mod:`~hc_lib.baselines.ultrametric_fitting` and
  :mod:`~hc_lib.baselines.hyperbolic`: the learned rows (RSC, UF, HypHC, gHHC);
* :mod:`~hc_lib.baselines.optimal`: the exact optimum of a tiny graph.
"""
from hc_lib.baselines.linkage import (VECTOR_LINKAGES, graph_average_linkage, nn_chain_average_linkage, paris,
                                      vector_linkage)
from hc_lib.baselines.louvain import louvain_hierarchy

__all__ = ["VECTOR_LINKAGES", "vector_linkage", "paris", "graph_average_linkage",
           "nn_chain_average_linkage", "louvain_hierarchy"]
