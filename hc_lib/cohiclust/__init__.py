"""CoHiClust: contrastive hierarchical clustering (soft binary tree on a backbone)."""
from hc_lib.cohiclust.losses import cohi_loss, nt_xent, r1_regulariser
from hc_lib.cohiclust.model import CoHiClustNet
from hc_lib.cohiclust.pretrained import pretrained_model
from hc_lib.cohiclust.soft_tree import (bhattacharyya, heap_tree, leaf_to_tree_leaf, level_masses, node_masses,
                                        prune_lowest_leaf, tree_similarity)
from hc_lib.cohiclust.training import PROFILES, CoHiClust, profile_settings

__all__ = ["CoHiClust", "CoHiClustNet", "PROFILES", "bhattacharyya", "cohi_loss", "heap_tree",
           "leaf_to_tree_leaf", "level_masses", "node_masses", "nt_xent", "pretrained_model", "profile_settings",
           "prune_lowest_leaf", "r1_regulariser", "tree_similarity"]
