"""Hierarchies from hyperbolic embeddings: the HypHC and gHHC rows of the EPH poster.

:class:`HypHC` (Chami et al., NeurIPS 2020) embeds the leaves alone and decodes the tree from
their directions; :class:`GHHC` (Monath et al., KDD 2019) embeds leaves and internal nodes
and reads each node's parent from the embedding. Both train on triplets of nodes
(:mod:`hc_lib.baselines.hyperbolic.triplets`) in the Poincaré ball (:mod:`hc_lib.baselines.hyperbolic.poincare`).
"""
from hc_lib.baselines.hyperbolic.ghhc import GHHC
from hc_lib.baselines.hyperbolic.hyphc import HypHC

__all__ = ["HypHC", "GHHC"]
