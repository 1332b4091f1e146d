"""EPH and FPH: learning probabilistic hierarchies by gradient descent.

* :class:`EPH` (Kollovieh et al., 2023) minimises the *expected* Dasgupta cost, or maximises
  the expected TSD, over discrete trees sampled from (A, B), with Gumbel-softmax
  straight-through gradients (:mod:`hc_lib.expected` computes them in closed form).
* :class:`FPH` (Zügner et al., 2022) optimises the continuous relaxations of the scores.

Both follow the published settings by default (see ``SPEC``): average-linkage initialisation
compressed to ``n_internal`` nodes, A and B projected back onto the simplex after every step,
validation of the argmax tree every step, and the best argmax tree is returned.

>>> from hc_lib.datasets import load_graph
>>> adjacency, _ = load_graph("citeseer")
>>> model = EPH(n_internal=32, n_steps=3, n_samples=2, random_state=0, progress=False).fit(adjacency)
>>> model.tree_.n_leaves, model.score_ <= model.history_["score"][0]
(2110, True)
"""
from __future__ import annotations

import math
import time

import torch

from hc_lib.expected import OBJECTIVES, SampledTree, score_and_gradients
from hc_lib.graphs import CosineSimilarityGraph, check_adjacency
from hc_lib.metrics import dasgupta_cost, mutual_information, tree_sampling_divergence
from hc_lib.pairs import as_pairs
from hc_lib.probabilistic import ProbabilisticHierarchy, project_rows_to_simplex
from hc_lib.trees import Tree

__all__ = ["EPH", "FPH", "initial_tree"]

_LOG_OFFSET = 1e-9          # Gumbel-softmax logits are log(p + 1e-9), as published
EXACT_PAIR_LIMIT = 5_000_000


def initial_tree(graph, n_internal: int, *, published: bool = True) -> Tree:
    """Average linkage on the unweighted graph (or on the vectors' cosine distance),
    compressed to ``n_internal`` internal nodes.

    ``published=True`` builds the published code's initial tree: its nearest-neighbour-chain
    average linkage and its compression rule (``"legacy_dasgupta"``, a degree-weighted greedy).
    ``published=False`` uses scikit-network's average linkage and the exact greedy Dasgupta
    compression (remove the node whose removal raises the cost least).
    """
    from hc_lib.baselines import graph_average_linkage, nn_chain_average_linkage, vector_linkage
    from hc_lib.compression import compress_tree

    if isinstance(graph, CosineSimilarityGraph):
        tree = vector_linkage(graph.unit_rows, "average")
    else:
        tree = nn_chain_average_linkage(graph) if published else graph_average_linkage(graph)
    return compress_tree(graph, tree, n_internal, objective="legacy_dasgupta" if published else "dasgupta")


class _Learner:
    """Shared set-up, validation and bookkeeping of EPH and FPH."""

    def __init__(self, objective, n_internal, n_steps, device, dtype, random_state, progress):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if int(n_internal) < 1:
            raise ValueError(f"n_internal must be at least 1, got {n_internal}")
        if int(n_steps) < 0:
            raise ValueError(f"n_steps must be non-negative, got {n_steps}")
        self.objective = objective
        self.n_internal = int(n_internal)
        self.n_steps = int(n_steps)
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.progress = progress

    # -- set-up ---------------------------------------------------------------------------
    def _prepare(self, graph, init_tree):
        if not isinstance(graph, CosineSimilarityGraph):
            graph = check_adjacency(graph)
        n = graph.shape[0]
        if n < 2:
            raise ValueError("a hierarchy needs at least two nodes")
        if self.n_internal > n - 1:
            raise ValueError(f"n_internal = {self.n_internal} exceeds n - 1 = {n - 1} for a graph of {n} nodes")
        if self.objective == "tsd" and isinstance(graph, CosineSimilarityGraph):
            raise ValueError("the TSD objective is defined for sparse graphs only (the tables use Dasgupta on vectors)")
        self._graph = graph
        self._info = mutual_information(graph) if self.objective == "tsd" else None
        if init_tree is None:
            init_tree = initial_tree(graph, self.n_internal)
        if init_tree.n_leaves != n:
            raise ValueError(f"init_tree has {init_tree.n_leaves} leaves but the graph has {n} nodes")
        if init_tree.n_internal != self.n_internal:
            raise ValueError(f"init_tree has {init_tree.n_internal} internal nodes, expected {self.n_internal}")
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(0 if self.random_state is None else int(self.random_state))
        start = ProbabilisticHierarchy.from_tree(init_tree, dtype=self.dtype, device=self.device)
        return start.A.clone(), start.B.clone()

    def _score(self, tree: Tree) -> float:
        """The reported (exact) score: Dasgupta cost, or 100 TSD / I."""
        if self.objective == "dasgupta":
            return dasgupta_cost(self._graph, tree)
        return tree_sampling_divergence(self._graph, tree)

    def _loss(self, score: float) -> float:
        return score if self.objective == "dasgupta" else -score

    def _start_history(self):
        self.history_ = {"step": [], "score": [], "best": [], "objective": [], "seconds": []}
        self._clock = time.perf_counter()

    def _record(self, step, A, B, objective_value):
        """Validate the argmax tree; keep it if it is the best so far."""
        hierarchy = ProbabilisticHierarchy(A.detach(), B.detach(), validate=False)
        tree = hierarchy.argmax_tree()
        score = self._score(tree)
        if self._best is None or self._loss(score) < self._loss(self._best[0]):
            self._best = (score, tree, A.detach().clone(), B.detach().clone())
        self.history_["step"].append(step)
        self.history_["score"].append(score)
        self.history_["best"].append(self._best[0])
        self.history_["objective"].append(objective_value)
        self.history_["seconds"].append(time.perf_counter() - self._clock)
        return score

    def _finish(self):
        score, tree, A, B = self._best
        self.score_, self.tree_ = score, tree
        self.hierarchy_ = ProbabilisticHierarchy(A, B, validate=False)
        self.fit_time_ = time.perf_counter() - self._clock
        del self._graph
        return self

    def _steps(self):
        if self.progress:
            from tqdm.auto import tqdm

            return tqdm(range(1, self.n_steps + 1), desc=type(self).__name__, leave=False)
        return range(1, self.n_steps + 1)


class EPH(_Learner):
    """Expected Probabilistic Hierarchies.

    Parameters
    ----------
    objective : {"dasgupta", "tsd"}
    n_internal : int
        Internal nodes n' (the tables use 512, or n - 1 when smaller).
    n_samples : int
        Trees sampled per step (20).
    n_steps : int
        Gradient steps (10 000).
    lr_A, lr_B : float
        Adamax learning rates (0.05 and 0.1).
    reset_every : int
        Every so many steps, lr_B is multiplied by ``lr_B_decay`` and A, B restart from the
        one-hot argmax of the best solution so far (1 000, 0.1).
    temperature : float
        Gumbel-softmax temperature (1).
    n_pairs : int or "auto"
        Pairs sampled per step for large graphs ("auto": exact below 5 million stored pairs,
        else n sqrt(n)).
    device, dtype, random_state, progress
        Where and in which precision to train, the seed, and whether to show a tqdm bar.

    Attributes
    ----------
    tree_ : Tree
        The best argmax tree found.
    score_ : float
        Its exact score (Dasgupta cost, or 100 TSD / I).
    history_ : dict of lists
        Per step: argmax-tree score, best so far, Monte Carlo estimate of the expected
        score of (A, B) before the step, and elapsed seconds.
    hierarchy_ : ProbabilisticHierarchy
        (A, B) at the best step.
    """

    def __init__(self, objective="dasgupta", n_internal=512, *, n_samples=20, n_steps=10_000, lr_A=0.05,
                 lr_B=0.1, reset_every=1000, lr_B_decay=0.1, temperature=1.0, n_pairs="auto",
                 device="cpu", dtype=torch.float64, random_state=None, progress=True):
        super().__init__(objective, n_internal, n_steps, device, dtype, random_state, progress)
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.n_samples = int(n_samples)
        self.lr_A, self.lr_B = float(lr_A), float(lr_B)
        self.reset_every, self.lr_B_decay = int(reset_every), float(lr_B_decay)
        self.temperature = float(temperature)
        self.n_pairs = n_pairs

    def fit(self, graph, init_tree: Tree | None = None) -> "EPH":
        """Learn a hierarchy of ``graph`` (sparse adjacency or CosineSimilarityGraph)."""
        A, B = self._prepare(graph, init_tree)
        pairs = as_pairs(self._graph, dtype=self.dtype, device=self.device)
        n_pairs = self._pairs_per_step(pairs)
        mask = torch.ones_like(B, dtype=torch.bool).triu(1)
        self._best = None
        self._start_history()
        self._record(0, A, B, float("nan"))
        lr_B = self.lr_B
        optimizer = torch.optim.Adamax([{"params": [A], "lr": self.lr_A}, {"params": [B], "lr": lr_B}])
        for step in self._steps():
            if self.reset_every and step > 1 and (step - 1) % self.reset_every == 0:
                lr_B *= self.lr_B_decay
                A, B = self._one_hot_best()
                optimizer = torch.optim.Adamax([{"params": [A], "lr": self.lr_A}, {"params": [B], "lr": lr_B}])
            step_pairs = pairs.sample(n_pairs, self._generator) if n_pairs else pairs
            A.grad, B.grad, expected = self.expected_gradients(A, B, step_pairs, mask)
            optimizer.step()
            with torch.no_grad():
                A.copy_(project_rows_to_simplex(A))
                B.copy_(project_rows_to_simplex(B, mask))
            self._record(step, A, B, self._loss(expected))
        return self._finish()

    def _pairs_per_step(self, pairs):
        if self.n_pairs == "auto":
            stored = getattr(pairs, "n_pairs", 0)
            return 0 if stored <= EXACT_PAIR_LIMIT else int(pairs.n_nodes * math.sqrt(pairs.n_nodes))
        return int(self.n_pairs or 0)

    def _one_hot_best(self):
        _, _, best_A, best_B = self._best
        hierarchy = ProbabilisticHierarchy(best_A, best_B, validate=False)
        pa, pb = hierarchy.argmax_parents()
        A = torch.zeros_like(best_A)
        A[torch.arange(A.shape[0]), pa] = 1.0
        B = torch.zeros_like(best_B)
        B[torch.arange(B.shape[0] - 1), pb[:-1]] = 1.0
        return A.requires_grad_(), B.requires_grad_()

    def expected_gradients(self, A, B, pairs, mask):
        """Monte Carlo estimate of the expected loss and its straight-through gradients.

        A Gumbel-softmax sample ``softmax((log(p + 1e-9) + G) / t)`` with ``G = -log E``,
        ``E ~ Exp(1)``, is ``w^(1/t) / sum(w^(1/t))`` with ``w = (p + 1e-9) / E``: no logarithm of
        the probabilities is needed, and its argmax is an exact categorical sample.
        """
        with torch.no_grad():
            weights_A = A + _LOG_OFFSET
            weights_B = torch.where(mask, B + _LOG_OFFSET, torch.zeros_like(B))[:-1]
            grad_A, grad_B = torch.zeros_like(A), torch.zeros_like(B)
            root = torch.tensor([B.shape[0] - 1], device=B.device)
            total = 0.0
            for _ in range(self.n_samples):
                soft_A = self._gumbel_softmax(weights_A)
                soft_B = self._gumbel_softmax(weights_B)
                pa, pb = soft_A.argmax(dim=1), torch.cat([soft_B.argmax(dim=1), root])
                loss, g_A, g_B = score_and_gradients(pairs, SampledTree(pa, pb), self.objective,
                                                     mutual_information=self._info)
                total += float(loss)
                grad_A += _softmax_backward(soft_A, g_A)
                grad_B[:-1] += _softmax_backward(soft_B, g_B[:-1] * mask[:-1])
            scale = 1.0 / (self.n_samples * self.temperature)
            grad_A *= scale / weights_A
            grad_B[:-1] *= scale / weights_B.clamp_min(_LOG_OFFSET)
            grad_B[~mask] = 0.0
        return grad_A, grad_B, total / self.n_samples

    def _gumbel_softmax(self, weights: torch.Tensor) -> torch.Tensor:
        uniform = torch.rand(weights.shape, generator=self._generator, dtype=weights.dtype, device=weights.device)
        noisy = weights / -torch.log(uniform.clamp_min(torch.finfo(weights.dtype).tiny))
        if self.temperature != 1.0:
            noisy = (noisy / noisy.amax(dim=1, keepdim=True)) ** (1.0 / self.temperature)
        return noisy / noisy.sum(dim=1, keepdim=True)


def _softmax_backward(probs: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Gradient through a row softmax with outputs ``probs`` (given d loss / d outputs)."""
    return probs * (grad_output - (probs * grad_output).sum(dim=1, keepdim=True))


class FPH(_Learner):
    """Flexible Probabilistic Hierarchies: projected gradient descent on the relaxed scores.

    Parameters
    ----------
    objective : {"dasgupta", "tsd"}
    n_internal : int
    n_steps : int
        Epochs of full-batch projected SGD (1 000).
    lr : float or None
        0.05 for Dasgupta, 150 for TSD when None (the published settings).
    """

    def __init__(self, objective="dasgupta", n_internal=512, *, n_steps=1000, lr=None, device="cpu",
                 dtype=torch.float64, random_state=None, progress=True):
        super().__init__(objective, n_internal, n_steps, device, dtype, random_state, progress)
        self.lr = lr

    def fit(self, graph, init_tree: Tree | None = None) -> "FPH":
        A, B = self._prepare(graph, init_tree)
        A.requires_grad_()
        B.requires_grad_()
        pairs = as_pairs(self._graph, dtype=self.dtype, device=self.device)
        mask = torch.ones_like(B, dtype=torch.bool).triu(1)
        lr = self.lr if self.lr is not None else (0.05 if self.objective == "dasgupta" else 150.0)
        optimizer = torch.optim.SGD([A, B], lr=lr)
        self._best = None
        self._start_history()
        self._record(0, A, B, float("nan"))
        for step in self._steps():
            optimizer.zero_grad()
            hierarchy = ProbabilisticHierarchy(A, B, validate=False)
            if self.objective == "dasgupta":
                loss = hierarchy.soft_dasgupta(pairs)
            else:
                loss = -hierarchy.soft_tsd(pairs, self._info)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                A.copy_(project_rows_to_simplex(A))
                B.copy_(project_rows_to_simplex(B, mask))
            self._record(step, A, B, float(loss.detach()))
        return self._finish()
