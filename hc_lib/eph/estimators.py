"""EPH and FPH: learning probabilistic hierarchies by gradient descent.

* :class:`EPH` (Kollovieh, Charpentier, Zügner and Günnemann, NeurIPS 2024) minimises the
  *expected* Dasgupta cost, or maximises the expected TSD, over discrete trees sampled from
  (A, B), with Gumbel-softmax straight-through gradients (:mod:`hc_lib.eph.expected` computes them
  with tree operations, :mod:`hc_lib.eph.dense_expected` for small graphs in one dense batch).
* :class:`FPH` (Zügner et al., ICLR 2022) optimises the continuous relaxations of the scores.

Both follow the published settings by default (chapter "Reproduced tables" of the book lists
them): average-linkage initialisation compressed to ``n_internal`` nodes, A and B projected
back onto the simplex after every step, validation of the argmax tree every step, and the best
argmax tree is returned. :mod:`hc_lib.eph.learner` adds restarts and checkpoints.

>>> from hc_lib.datasets import load_graph
>>> adjacency, _ = load_graph("citeseer")
>>> model = EPH(n_internal=32, n_steps=20, n_samples=4, random_state=0, progress=False).fit(adjacency)
>>> model.tree_.n_leaves, model.score_ < model.history_["score"][0]
(2110, True)
"""
from __future__ import annotations

import math

import torch

from hc_lib.eph.dense_expected import DENSE_NODE_LIMIT, DensePairs
from hc_lib.eph.dense_step import LOG_OFFSET, DenseStep, argmax_parents
from hc_lib.eph.expected import SampledTree, score_and_gradients
from hc_lib.eph.learner import ProbabilisticLearner, Run, initial_tree
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, check_tsd_loss, project_rows_to_simplex, published_tsd

__all__ = ["EPH", "FPH", "initial_tree"]

EXACT_PAIR_LIMIT = 5_000_000
ENGINES = ("auto", "dense", "tree")


class EPH(ProbabilisticLearner):
    """Expected Probabilistic Hierarchies.

    Parameters
    ----------
    objective : {"dasgupta", "tsd"}
    n_internal : int
        Internal nodes n' (the tables use 512, or n - 1 when smaller). More than n - 1 is
        allowed: the unused nodes give the optimiser room (the returned tree is pruned).
    n_samples : int
        Trees sampled per step (20).
    n_steps : int
        Gradient steps per run (10 000).
    lr_A, lr_B : float
        Adamax learning rates (0.05 and 0.1).
    reset_every : int
        Every so many steps, lr_B is multiplied by ``lr_B_decay`` and A, B restart from the
        one-hot argmax of the best solution so far (1 000, 0.1).
    reset_optimizer : bool
        At a reset, start a fresh Adamax (True) or keep its moment estimates and only lower the
        learning rate in place, as the published code does (False).
    tsd_loss : {"published", "exact"}
        The TSD objective. "published" (default): minus the published code's guarded KL in nats
        (:func:`hc_lib.eph.probabilistic.published_tsd`), in which nodes that no edge meets keep a
        small mass and a gradient; "exact": minus ``100 TSD / I`` of the sampled tree, those
        nodes left out.
    temperature : float
        Gumbel-softmax temperature (1).
    n_pairs : int or "auto"
        Pairs sampled per step for large graphs ("auto": exact below 5 million stored pairs,
        else n sqrt(n)).
    n_restarts : int
        Further runs after the first, each from a random hierarchy with its own seed; the best
        tree over all runs is returned (0). Small graphs, where one run can stop in a local
        optimum, are where they pay.
    polish : bool
        End every run with exact descent over single parent changes from its best tree
        (:meth:`hc_lib.eph.learner.ProbabilisticLearner._polish`): at a tree, these are the exact
        partial derivatives of the expected score. Each sweep scores about ``n n'`` trees, so it
        is meant for small graphs; with ``n_restarts`` and ``n_internal`` about ``2 n`` it finds
        the optimal tree of graphs of a few nodes (chapter 2).
    init : {"average_linkage", "average_linkage_modern", "random"}
        Start of the first run when ``fit`` gets no ``init_tree``: the published start, the
        modern one (:func:`hc_lib.eph.learner.initial_tree` with ``published=False``) or a random
        hierarchy.
    engine : {"auto", "dense", "tree"}
        How a step is computed: "dense" scores all samples at once with dense matrices and
        runs the whole step in NumPy (:mod:`hc_lib.eph.dense_step`; CPU only, fast for a few
        dozen nodes), "tree" one sample at a time with tree operations in torch (any size, any
        device, pair sampling); "auto" takes "dense" on the CPU up to 64 nodes without pair
        sampling.
    checkpoint_dir : path or None
        Save the fit's state there every ``checkpoint_every`` steps (and at least every five
        minutes) and resume from it (see :mod:`hc_lib.eph.learner`).
    device, dtype, random_state, progress
        Where and in which precision to train, the seed, and whether to show a tqdm bar. The
        published runs and the book's tables use float64. ``torch.float32`` halves the memory of
        A, B and the samples and makes a CPU step about 1.6 times faster. Its noise is drawn in
        float32, so it follows another trajectory than float64 with the same seed: on the seven
        graphs of the tables (100 steps), its best scores were 2.3 % lower to 1.1 % higher than
        float64's, the size of the difference between two float64 seeds (2.9 % lower to 3.8 %
        higher; ``results/benchmarks/eph_float32.json``). Use it for large graphs (DBLP) and long
        runs; keep float64 to compare with the published runs and the book's tables.

    Attributes
    ----------
    tree_ : Tree
        The best argmax tree found.
    score_ : float
        Its exact score (Dasgupta cost, or 100 TSD / I).
    history_ : dict of lists
        Per step of the best run: argmax-tree score, best so far, Monte Carlo estimate of the
        expected score of (A, B) before the step, and seconds of training.
    hierarchy_ : ProbabilisticHierarchy
        (A, B) at the best step.
    restart_scores_ : list of float
        The best score of every run; ``best_restart_`` is the run that gave ``tree_``.
    resumed_from_ : dict or None
        Where the fit found its checkpoint: ``{"runs_finished": ..., "step": ...}`` (``step``:
        the running run's last saved step, None when only finished runs were saved), or None.
    """

    def __init__(self, objective="dasgupta", n_internal=512, *, n_samples=20, n_steps=10_000, lr_A=0.05,
                 lr_B=0.1, reset_every=1000, lr_B_decay=0.1, reset_optimizer=True, tsd_loss="published",
                 temperature=1.0, n_pairs="auto", n_restarts=0, polish=False, init="average_linkage",
                 engine="auto", checkpoint_dir=None, checkpoint_every=100, device="cpu", dtype=torch.float64,
                 random_state=None, progress=True):
        super().__init__(objective, n_internal, n_steps, n_restarts, polish, init, checkpoint_dir, checkpoint_every,
                         device, dtype, random_state, progress)
        if int(n_samples) < 1:
            raise ValueError(f"n_samples must be at least 1, got {n_samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
        self.n_samples = int(n_samples)
        self.lr_A, self.lr_B = float(lr_A), float(lr_B)
        self.reset_every, self.lr_B_decay = int(reset_every), float(lr_B_decay)
        self.reset_optimizer = bool(reset_optimizer)
        self.tsd_loss = check_tsd_loss(tsd_loss)
        self.temperature = float(temperature)
        self.n_pairs = n_pairs
        self.engine = engine

    def _prepare(self, graph, init_tree):
        super()._prepare(graph, init_tree)
        self._pairs_per_step = self._count_pairs()
        dense = self.engine == "dense" or (self.engine == "auto" and self._graph.shape[0] <= DENSE_NODE_LIMIT
                                           and not self._pairs_per_step)
        if dense and self._pairs_per_step:
            raise ValueError("engine='dense' uses the whole graph every step; pair sampling needs engine='tree'")
        if dense and torch.device(self.device).type != "cpu":
            if self.engine == "dense":
                raise ValueError(f"engine='dense' runs on the CPU; use engine='tree' on {self.device}")
            dense = False
        self._dense_pairs = DensePairs(self._pairs) if dense else None
        self._dense_step = None if not dense else DenseStep(
            self._dense_pairs, self._mask, objective=self.objective, tsd_loss=self.tsd_loss,
            mutual_information=self._info, n_samples=self.n_samples, temperature=self.temperature)

    def _count_pairs(self) -> int:
        if self.n_pairs == "auto":
            stored = getattr(self._pairs, "n_pairs", 0)
            return 0 if stored <= EXACT_PAIR_LIMIT else int(self._pairs.n_nodes * math.sqrt(self._pairs.n_nodes))
        return int(self.n_pairs or 0)

    def _make_optimizer(self, run: Run, state):
        if run.lr_B is None:
            run.lr_B = self.lr_B
        run.optimizer = torch.optim.Adamax([{"params": [run.A], "lr": self.lr_A}, {"params": [run.B], "lr": run.lr_B}])
        if state is not None:
            run.optimizer.load_state_dict(state)

    def _step(self, run: Run, step: int) -> float:
        if self.reset_every and step > 1 and (step - 1) % self.reset_every == 0:
            self._reset(run)
        A, B = run.A, run.B
        if self._dense_step is not None:
            expected = self._dense_step(run)
        else:
            step_pairs = self._pairs.sample(self._pairs_per_step, run.generator) if self._pairs_per_step else self._pairs
            A.grad, B.grad, expected = self.expected_gradients(A, B, step_pairs, self._mask, run.generator)
            run.optimizer.step()
            with torch.no_grad():
                A.copy_(project_rows_to_simplex(A))
                B.copy_(project_rows_to_simplex(B, self._mask))
        if self.objective == "tsd" and self.tsd_loss == "published":
            return -100.0 * expected / self._info           # nats -> the reported 100 TSD / I
        return self._loss(expected)

    def _reset(self, run: Run):
        """Lower lr_B and restart from the one-hot argmax of the run's best solution."""
        run.lr_B *= self.lr_B_decay
        _, _, best_A, best_B = run.best
        pa, pb = ProbabilisticHierarchy(best_A, best_B, validate=False).argmax_parents()
        with torch.no_grad():
            run.A.zero_()[torch.arange(run.A.shape[0]), pa] = 1.0
            run.B.zero_()[torch.arange(run.B.shape[0] - 1), pb[:-1]] = 1.0
        if self.reset_optimizer:
            self._make_optimizer(run, None)
        else:
            run.optimizer.param_groups[1]["lr"] = run.lr_B

    def expected_gradients(self, A, B, pairs, mask, generator=None):
        """Monte Carlo estimate of the expected loss and its straight-through gradients.

        A Gumbel-softmax sample ``softmax((log(p + 1e-9) + G) / t)`` with ``G = -log E``,
        ``E ~ Exp(1)``, is ``w^(1/t) / sum(w^(1/t))`` with ``w = (p + 1e-9) / E``: no logarithm of
        the probabilities is needed, and its argmax is an exact categorical sample. Both engines
        draw the same uniform noise in the same order.

        Returns
        -------
        grad_A, grad_B : tensors
        loss : float
            The mean loss of the samples (for TSD in the units of ``tsd_loss``).
        """
        generator = generator if generator is not None else torch.Generator(device=A.device)
        if getattr(self, "_dense_step", None) is not None and pairs is self._pairs:
            grad_A, grad_B, loss = self._dense_step.gradients(A.detach().numpy(), B.detach().numpy(), generator)
            return torch.from_numpy(grad_A), torch.from_numpy(grad_B), loss
        weights_A = A.detach() + LOG_OFFSET
        weights_B = torch.where(mask, B.detach() + LOG_OFFSET, torch.zeros_like(B))[:-1]
        with torch.no_grad():
            grad_A, grad_B, total = self._tree_gradients(weights_A, weights_B, pairs, mask, generator)
            scale = 1.0 / (self.n_samples * self.temperature)
            grad_A *= scale / weights_A
            grad_B[:-1] *= scale / weights_B.clamp_min(LOG_OFFSET)
            grad_B[~mask] = 0.0
        return grad_A, grad_B, total / self.n_samples

    def _argmax_parents(self, run: Run):
        if self._dense_step is not None:
            return argmax_parents(run.A.detach().numpy(), run.B.detach().numpy(), self._dense_step.mask)
        return super()._argmax_parents(run)

    def _tree_gradients(self, weights_A, weights_B, pairs, mask, generator):
        """One sample at a time: tree operations, and buffers reused by every sample."""
        k = weights_B.shape[1]
        grad_A, grad_B = torch.zeros_like(weights_A), weights_B.new_zeros(k, k)
        soft_A, soft_B = torch.empty_like(weights_A), torch.empty_like(weights_B)
        scratch_A, scratch_B = torch.empty_like(weights_A), torch.empty_like(weights_B)
        sample_grad_A = torch.empty_like(weights_A)
        root = torch.tensor([k - 1], device=weights_B.device)
        total = 0.0
        for _ in range(self.n_samples):
            self._gumbel_softmax(weights_A, soft_A, generator)
            self._gumbel_softmax(weights_B, soft_B, generator)
            pa, pb = soft_A.argmax(dim=1), torch.cat([soft_B.argmax(dim=1), root])
            loss, g_A, g_B = score_and_gradients(pairs, SampledTree(pa, pb), self.objective,
                                                 mutual_information=self._info, tsd_loss=self.tsd_loss,
                                                 out=sample_grad_A)
            total += float(loss)
            grad_A += _softmax_backward(soft_A, g_A, scratch_A)
            grad_B[:-1] += _softmax_backward(soft_B, g_B[:-1].mul_(mask[:-1]), scratch_B)
        return grad_A, grad_B, total

    def _gumbel_softmax(self, weights: torch.Tensor, out: torch.Tensor, generator=None) -> torch.Tensor:
        """Gumbel-softmax samples of the rows of ``weights`` from the uniform noise in ``out``
        (drawn there first when a generator is given, see :meth:`expected_gradients`; without one,
        ``out`` already holds it, as ``scripts/gpu_check.py`` arranges), in place: these matrices
        are n x n', and on CPU a new one costs page faults on top of the arithmetic."""
        if generator is not None:
            out.uniform_(generator=generator)                   # the stream of torch.rand
        log_uniform = out.clamp_min_(torch.finfo(weights.dtype).tiny).log_()
        noisy = torch.div(weights, log_uniform, out=out)        # minus w / E, exactly
        if self.temperature != 1.0:
            noisy.neg_()
            noisy.div_(noisy.amax(dim=-1, keepdim=True)).pow_(1.0 / self.temperature)
        return noisy.div_(noisy.sum(dim=-1, keepdim=True))


def _softmax_backward(probs: torch.Tensor, grad_output: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """Gradient through a row softmax with outputs ``probs`` (given d loss / d outputs), in
    place of ``grad_output``."""
    centre = torch.mul(probs, grad_output, out=scratch).sum(dim=-1, keepdim=True)
    return grad_output.sub_(centre).mul_(probs)


class FPH(ProbabilisticLearner):
    """Flexible Probabilistic Hierarchies: projected gradient descent on the relaxed scores.

    Parameters
    ----------
    objective : {"dasgupta", "tsd"}
    n_internal : int
    n_steps : int
        Epochs of full-batch projected SGD (1 000).
    lr : float or None
        0.05 for Dasgupta, 150 for TSD when None (the published settings; the TSD rate applies
        to the published loss, minus the TSD in nats).
    tsd_loss : {"published", "exact"}
        "published" (default): minus the published code's guarded KL in nats
        (:func:`hc_lib.eph.probabilistic.published_tsd`); "exact": minus ``100 TSD / I`` over the
        nodes where p and q are positive (the rate then acts on a loss ``100 / I`` times larger).
    n_restarts, polish, init, checkpoint_dir, checkpoint_every, device, dtype, random_state, progress
        As in :class:`EPH`.
    """

    def __init__(self, objective="dasgupta", n_internal=512, *, n_steps=1000, lr=None, tsd_loss="published",
                 n_restarts=0, polish=False, init="average_linkage", checkpoint_dir=None, checkpoint_every=100,
                 device="cpu", dtype=torch.float64, random_state=None, progress=True):
        super().__init__(objective, n_internal, n_steps, n_restarts, polish, init, checkpoint_dir, checkpoint_every,
                         device, dtype, random_state, progress)
        self.lr = lr
        self.tsd_loss = check_tsd_loss(tsd_loss)

    def _make_optimizer(self, run: Run, state):
        run.A.requires_grad_()
        run.B.requires_grad_()
        lr = self.lr if self.lr is not None else (0.05 if self.objective == "dasgupta" else 150.0)
        run.optimizer = torch.optim.SGD([run.A, run.B], lr=lr)
        if state is not None:
            run.optimizer.load_state_dict(state)

    def _step(self, run: Run, step: int) -> float:
        A, B = run.A, run.B
        run.optimizer.zero_grad()
        hierarchy = ProbabilisticHierarchy(A, B, validate=False)
        if self.objective == "dasgupta":
            loss = reported = hierarchy.soft_dasgupta(self._pairs)
        elif self.tsd_loss == "published":                 # minus the guarded KL, in nats
            p, q, _ = hierarchy.soft_distributions(self._pairs)
            loss = -published_tsd(p, q)
            reported = 100.0 * loss / self._info
        else:
            loss = reported = -hierarchy.soft_tsd(self._pairs, self._info)
        loss.backward()
        run.optimizer.step()
        with torch.no_grad():
            A.copy_(project_rows_to_simplex(A))
            B.copy_(project_rows_to_simplex(B, self._mask))
        return float(reported.detach())
