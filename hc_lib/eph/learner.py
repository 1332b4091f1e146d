"""What EPH and FPH share: set-up, validation, restarts and checkpoints of a fit.

A fit is one or more *runs* (the first from the initial tree, each restart from a random
hierarchy), each a sequence of gradient steps on ``(A, B)``. After every step the argmax tree
(every node's most likely parent, pruned) is scored exactly; a run keeps the best tree it has
validated, and the fit returns the best tree over its runs.

With a ``checkpoint_dir``, the whole state of the fit (every finished run's result, and the
running one's ``A``, ``B``, optimiser state, random state, reset schedule, best tree and
history) is saved there every ``checkpoint_every`` steps and after each run; a later ``fit``
with the same settings and data continues from it, on the CPU bit for bit as if it had never
stopped.
"""
from __future__ import annotations

import hashlib
import inspect
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from hc_lib.baselines import graph_average_linkage, nn_chain_average_linkage, vector_linkage
from hc_lib.baselines.compression import compress_tree
from hc_lib.eph.dense_expected import DENSE_NODE_LIMIT, DensePairs, batched_scores, one_hot_parents
from hc_lib.eph.pairs import as_pairs
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, parents_to_tree
from hc_lib.graphs import as_graph
from hc_lib.metrics import dasgupta_cost, mutual_information, tree_sampling_divergence
from hc_lib.records import compare_settings, load_checkpoint, save_checkpoint
from hc_lib.trees import Tree

__all__ = ["ProbabilisticLearner", "Run", "initial_tree"]

OBJECTIVES = ("dasgupta", "tsd")
INITS = ("average_linkage", "average_linkage_modern", "random")
_NOT_COMPARED = ("progress", "device", "checkpoint_dir", "checkpoint_every")
_SAVE_SECONDS = 300.0           # also checkpoint at least this often, whatever checkpoint_every says


def initial_tree(graph, n_internal: int, *, published: bool = True) -> Tree:
    """Average linkage on the unweighted graph (or on the vectors' cosine distance),
    compressed to ``n_internal`` internal nodes.

    ``published=True`` builds the published code's initial tree: its nearest-neighbour-chain
    average linkage and its compression rule (``"legacy_dasgupta"``, a degree-weighted greedy).
    ``published=False`` uses scikit-network's average linkage and the exact greedy Dasgupta
    compression (remove the node whose removal raises the cost least).
    """
    graph = as_graph(graph)
    if graph.is_complete:
        tree = vector_linkage(graph.unit_rows, "average")
    else:
        tree = nn_chain_average_linkage(graph) if published else graph_average_linkage(graph)
    return compress_tree(graph, tree, n_internal, objective="legacy_dasgupta" if published else "dasgupta")


class Run:
    """The state of one run of a fit: everything its next step depends on."""

    def __init__(self, restart, A, B, generator):
        self.restart, self.step = restart, 0
        self.A, self.B, self.generator = A, B, generator
        self.optimizer, self.lr_B = None, None
        self.best = None                     # (score, tree, A, B) of the best validated tree
        self.last = None                     # (pa, pb, score, tree): the previous argmax tree
        self.history = {"step": [], "score": [], "best": [], "objective": [], "seconds": []}
        self.seconds = 0.0                   # training time before this session

    def state_dict(self) -> dict:
        return {"restart": self.restart, "step": self.step, "A": self.A.detach().cpu(), "B": self.B.detach().cpu(),
                "optimizer": self.optimizer.state_dict(), "lr_B": self.lr_B, "generator": self.generator.get_state(),
                "best": self.best, "last": self.last, "history": self.history, "seconds": self.seconds}

    @classmethod
    def from_state(cls, state, device, dtype) -> "Run":
        generator = torch.Generator(device=device)
        generator.set_state(state["generator"])
        run = cls(state["restart"], state["A"].to(device, dtype), state["B"].to(device, dtype), generator)
        run.step, run.lr_B, run.last = state["step"], state["lr_B"], state["last"]
        if state["best"] is not None:                 # checkpoints are read onto the CPU
            score, tree, best_A, best_B = state["best"]
            run.best = (score, tree, best_A.to(device, dtype), best_B.to(device, dtype))
        if run.last is not None:
            run.last = (run.last[0].to(device), run.last[1].to(device)) + tuple(run.last[2:])
        run.history, run.seconds = state["history"], state["seconds"]
        run.optimizer_state = state["optimizer"]
        return run


class ProbabilisticLearner:
    """Base of :class:`hc_lib.eph.EPH` and :class:`hc_lib.eph.FPH` (see there for the settings)."""

    def __init__(self, objective, n_internal, n_steps, n_restarts, polish, init, checkpoint_dir, checkpoint_every,
                 device, dtype, random_state, progress):
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
        for name, value, low in (("n_internal", n_internal, 1), ("n_steps", n_steps, 0),
                                 ("n_restarts", n_restarts, 0), ("checkpoint_every", checkpoint_every, 1)):
            if int(value) < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.objective, self.n_internal, self.n_steps = objective, int(n_internal), int(n_steps)
        self.n_restarts, self.polish, self.init = int(n_restarts), bool(polish), init
        self.checkpoint_dir, self.checkpoint_every = checkpoint_dir, int(checkpoint_every)
        self.device, self.dtype, self.random_state, self.progress = device, dtype, random_state, progress

    def get_params(self) -> dict:
        """The constructor's settings, as scikit-learn estimators report them."""
        names = [name for name in inspect.signature(type(self).__init__).parameters if name != "self"]
        return {name: getattr(self, name) for name in names}

    # -- the fit ----------------------------------------------------------------------------
    def fit(self, graph, init_tree: Tree | None = None):
        """Learn a hierarchy of ``graph`` (an adjacency or a graph of :mod:`hc_lib.graphs`),
        starting from ``init_tree`` (default: the published average-linkage start)."""
        self._prepare(graph, init_tree)
        self._clock = time.perf_counter()
        path = self._checkpoint_path()
        saved = self._resume(path)
        runs, current = (saved["runs"], saved["current"]) if saved else ([], None)
        self.resumed_from_ = None if saved is None else {
            "runs_finished": len(runs), "step": None if current is None else int(current["step"])}
        for restart in range(len(runs), self.n_restarts + 1):
            if current is not None and current["restart"] == restart:
                run = Run.from_state(current, self.device, self.dtype)
                self._make_optimizer(run, run.optimizer_state)
            else:
                run = self._new_run(restart)
            current = None
            self._train(run, runs, path)
            if self.polish:
                self._polish(run)
            runs.append({"restart": restart, "best": run.best, "history": run.history})
            if path is not None:
                save_checkpoint(path, self._checkpoint(runs, None))
        return self._finish(runs)

    def _prepare(self, graph, init_tree):
        graph = as_graph(graph)
        n = graph.n_nodes
        if n < 2:
            raise ValueError("a hierarchy needs at least two nodes")
        if self.objective == "tsd" and graph.is_complete:
            raise ValueError("the TSD objective is defined for sparse graphs only (the tables use Dasgupta on vectors)")
        self._graph = graph
        self._info = mutual_information(graph) if self.objective == "tsd" else None
        if init_tree is None and self.init != "random":
            init_tree = initial_tree(graph, min(self.n_internal, n - 1), published=self.init == "average_linkage")
        if init_tree is not None:
            if init_tree.n_leaves != n:
                raise ValueError(f"init_tree has {init_tree.n_leaves} leaves but the graph has {n} nodes")
            if init_tree.n_internal > self.n_internal:
                raise ValueError(f"init_tree has {init_tree.n_internal} internal nodes, more than n_internal = "
                                 f"{self.n_internal}")
        self._init_tree = init_tree
        self._pairs = as_pairs(graph, dtype=self.dtype, device=self.device)
        self._digest = self._fingerprint() if self.checkpoint_dir is not None else None   # once per fit
        self._mask = torch.ones(self.n_internal, self.n_internal, dtype=torch.bool, device=self.device).triu(1)

    def _new_run(self, restart: int) -> Run:
        base = 0 if self.random_state is None else int(self.random_state)
        seed = base if restart == 0 else int(np.random.SeedSequence([base, restart]).generate_state(1)[0])
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        if restart == 0 and self._init_tree is not None:
            start = ProbabilisticHierarchy.from_tree(self._init_tree, n_internal=self.n_internal, dtype=self.dtype,
                                                     device=self.device)
        else:
            start = ProbabilisticHierarchy.random(self._graph.shape[0], self.n_internal, generator=generator,
                                                  dtype=self.dtype, device=self.device)
        run = Run(restart, start.A.clone(), start.B.clone(), generator)
        self._make_optimizer(run, None)
        return run

    def _train(self, run: Run, runs, path):
        started, saved_at = time.perf_counter(), time.perf_counter()
        if run.step == 0 and not run.history["step"]:
            self._record(run, 0, float("nan"), 0.0)
        for step in self._steps(run):
            value = self._step(run, step)
            run.step = step
            self._record(run, step, value, run.seconds + time.perf_counter() - started)
            due = step % self.checkpoint_every == 0 or time.perf_counter() - saved_at > _SAVE_SECONDS
            if path is not None and due and step < self.n_steps:
                run.seconds += time.perf_counter() - started
                started = saved_at = time.perf_counter()
                save_checkpoint(path, self._checkpoint(runs, run.state_dict()))

    def _record(self, run: Run, step: int, objective_value: float, seconds: float):
        """Validate the argmax tree (scored again only when it changed); keep it if it is the
        best of the run so far."""
        pa, pb = self._argmax_parents(run)
        if run.last is not None and torch.equal(pa, run.last[0]) and torch.equal(pb, run.last[1]):
            score, tree = run.last[2], run.last[3]
        else:
            tree = parents_to_tree(pa, pb)
            score = self._score(tree)
            run.last = (pa.clone(), pb.clone(), score, tree)
        if run.best is None or self._loss(score) < self._loss(run.best[0]):
            run.best = (score, tree, run.A.detach().clone(), run.B.detach().clone())
        history = run.history
        history["step"].append(step)
        history["score"].append(score)
        history["best"].append(run.best[0])
        history["objective"].append(objective_value)
        history["seconds"].append(seconds)

    def _argmax_parents(self, run: Run):
        return ProbabilisticHierarchy(run.A.detach(), run.B.detach(), validate=False).argmax_parents()

    def _polish(self, run: Run):
        """Exact descent over single parent changes from the run's best tree.

        At a tree (a one-hot hierarchy) the expected score is multilinear in the rows of A and
        B, so its exact partial derivatives are the scores of the trees that differ in one
        node's parent: move to the best of them while it improves. Each sweep scores
        ``n n' + n'^2 / 2`` trees: a tool for small graphs.
        """
        score, tree, A, B = run.best
        pa, pb = ProbabilisticHierarchy(A, B, validate=False).argmax_parents()
        n, k = pa.shape[0], pb.shape[0]
        improved = True
        while improved:
            improved = False
            candidates = []
            for node in range(n + k - 1):
                current = int(pa[node]) if node < n else int(pb[node - n])
                for target in (range(k) if node < n else range(node - n + 1, k)):
                    if target == current:
                        continue
                    moved_a, moved_b = pa.clone(), pb.clone()
                    if node < n:
                        moved_a[node] = target
                    else:
                        moved_b[node - n] = target
                    candidates.append((moved_a, moved_b))
            values = self._score_parents(candidates)
            choice = int(np.argmin([self._loss(value) for value in values]))
            if self._loss(values[choice]) < self._loss(score) - 1e-12 * abs(score):
                pa, pb = candidates[choice]
                tree = parents_to_tree(pa, pb)
                score = self._score(tree)
                improved = True
        if tree is not run.best[1]:
            one_hot = ProbabilisticHierarchy.from_parents(pa, pb, dtype=self.dtype)
            run.best = (score, tree, one_hot.A, one_hot.B)

    def _score_parents(self, candidates) -> list:
        """Exact scores of the pruned trees of parent vectors ``(pa, pb)``. The Dasgupta cost
        of a one-hot hierarchy is that of its pruned tree, so on small graphs all candidates
        are scored in one dense batch; the TSD is scored tree by tree."""
        if self.objective == "dasgupta" and self._graph.shape[0] <= DENSE_NODE_LIMIT:
            dense = getattr(self, "_dense_pairs", None) or DensePairs(self._pairs)
            candidates = [(pa.cpu().numpy(), pb.cpu().numpy()) for pa, pb in candidates]
            return batched_scores(dense, *one_hot_parents(candidates, self.n_internal, dense.matrix.dtype)).tolist()
        return [self._score(parents_to_tree(pa, pb)) for pa, pb in candidates]

    def _score(self, tree: Tree) -> float:
        """The reported (exact) score: Dasgupta cost, or 100 TSD / I."""
        if self.objective == "dasgupta":
            return dasgupta_cost(self._graph, tree)
        return tree_sampling_divergence(self._graph, tree)

    def _loss(self, score: float) -> float:
        return score if self.objective == "dasgupta" else -score

    def _finish(self, runs):
        best = min(runs, key=lambda run: self._loss(run["best"][0]))
        score, tree, A, B = best["best"]
        self.score_, self.tree_ = score, tree
        self.hierarchy_ = ProbabilisticHierarchy(A.to(self.device), B.to(self.device), validate=False)
        self.history_ = best["history"]
        self.best_restart_ = best["restart"]
        self.restart_scores_ = [run["best"][0] for run in runs]
        self.fit_time_ = time.perf_counter() - self._clock
        for name in ("_graph", "_pairs", "_dense_pairs", "_dense_step"):           # the data: not part of the fitted model
            self.__dict__.pop(name, None)
        return self

    def _steps(self, run: Run):
        steps = range(run.step + 1, self.n_steps + 1)
        if self.progress:
            label = type(self).__name__ + (f" run {run.restart + 1}/{self.n_restarts + 1}" if self.n_restarts else "")
            return tqdm(steps, desc=label, leave=False, initial=run.step, total=self.n_steps)
        return steps

    # -- checkpoints ------------------------------------------------------------------------
    def _checkpoint_path(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        return Path(self.checkpoint_dir) / f"{type(self).__name__.lower()}_{self.objective}.pt"

    def _fingerprint(self) -> str:
        """A digest of the data and the initial tree: a checkpoint of other data is refused."""
        digest = hashlib.sha1()
        pairs = self._pairs
        for tensor in ([pairs.rows_] if hasattr(pairs, "rows_") else [pairs.rows, pairs.cols, pairs.probs]):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        if self._init_tree is not None:
            digest.update(np.ascontiguousarray(self._init_tree.parent).tobytes())
        return digest.hexdigest()

    def _comparable_settings(self) -> dict:
        return {key: (str(value) if key == "dtype" else value) for key, value in self.get_params().items()
                if key not in _NOT_COMPARED}

    def _checkpoint(self, runs, current) -> dict:
        return {"settings": self._comparable_settings(), "fingerprint": self._digest,
                "runs": runs, "current": current}

    def _resume(self, path):
        saved = load_checkpoint(path) if path is not None else None
        if saved is None:
            return None
        compare_settings(saved["settings"], self._comparable_settings())
        if saved["fingerprint"] != self._digest:
            raise ValueError(f"the checkpoint {path} was written for other data or another initial tree; "
                             f"use another checkpoint_dir")
        return saved

    # -- what each learner defines ------------------------------------------------------------
    def _make_optimizer(self, run: Run, state):
        raise NotImplementedError

    def _step(self, run: Run, step: int) -> float:
        raise NotImplementedError
