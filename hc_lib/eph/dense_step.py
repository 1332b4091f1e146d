"""EPH's whole step on small graphs, in NumPy, on the fit's own torch tensors.

On a graph of a few dozen nodes a step's arithmetic is tiny and its time is the fixed cost of
about a hundred array operations: a few microseconds each in torch, about one in NumPy. So the
dense engine draws the step's uniform noise from the run's torch generator (the tree engine's
stream, in its order) and does the rest in NumPy: the Gumbel-softmax samples, the closed-form
gradient (:func:`hc_lib.eph.dense_expected.sample_gradients`), the straight-through backward,
torch's Adamax update and the projections onto the simplex, on arrays that share memory with the
run's ``A``, ``B`` and optimiser state. A checkpoint is the same as the tree engine's, and a fixed
seed follows the torch code's trajectory up to rounding (``benchmarks/eph_tiny.py``).
"""
from __future__ import annotations

import numpy as np
import torch

from hc_lib.eph.dense_expected import DensePairs, sample_gradients
from hc_lib.eph.probabilistic import project_rows_to_simplex

__all__ = ["DenseStep", "LOG_OFFSET"]

LOG_OFFSET = 1e-9          # Gumbel-softmax logits are log(p + 1e-9), as published
_SORT_WIDTH = 64           # as in project_rows_to_simplex: wider rows go to its torch code


class DenseStep:
    """One EPH step (gradient estimate, Adamax, projections) for the dense engine.

    Parameters
    ----------
    pairs : DensePairs
    mask : bool tensor (n', n')
        The allowed entries of B.
    objective, tsd_loss, mutual_information, n_samples, temperature
        As in :class:`hc_lib.eph.EPH`.
    """

    def __init__(self, pairs: DensePairs, mask, *, objective, tsd_loss, mutual_information, n_samples,
                 temperature):
        self.pairs, self.mask = pairs, mask.cpu().numpy()
        self.objective, self.tsd_loss, self.mutual_information = objective, tsd_loss, mutual_information
        self.n_samples, self.temperature = n_samples, temperature

    def __call__(self, run) -> float:
        """Advance ``run`` (:class:`hc_lib.eph.learner.Run`) by one step in place; return the
        mean loss of the step's samples."""
        A, B = run.A.detach().numpy(), run.B.detach().numpy()
        grad_A, grad_B, loss = self.gradients(A, B, run.generator)
        adamax_step(run.optimizer, (grad_A, grad_B))
        A[...] = project_rows(A)
        B[...] = project_rows(B, self.mask)
        return loss

    def gradients(self, A: np.ndarray, B: np.ndarray, generator):
        """Monte Carlo estimate of the expected loss and its straight-through gradients, as
        :meth:`hc_lib.eph.EPH.expected_gradients` defines them.

        Returns
        -------
        grad_A, grad_B : arrays
        loss : float
        """
        (n, k), S = A.shape, self.n_samples
        weights_A = A + LOG_OFFSET
        weights_B = np.where(self.mask, B + LOG_OFFSET, 0.0)[:-1]
        dtype = torch.from_numpy(A).dtype
        noise = torch.rand(S, n * k + (k - 1) * k, generator=generator, dtype=dtype)
        log_uniform = noise.clamp_min_(torch.finfo(dtype).tiny).log_().numpy()   # torch's rounding, as before
        soft_A = self._gumbel_softmax(weights_A, log_uniform[:, :n * k].reshape(S, n, k))
        soft_B = self._gumbel_softmax(weights_B, log_uniform[:, n * k:].reshape(S, k - 1, k))
        hard_A = _one_hot_argmax(soft_A)
        hard_B = np.zeros((S, k, k), dtype=A.dtype)                   # the root's row stays empty
        hard_B[:, :-1] = _one_hot_argmax(soft_B)
        losses, g_A, g_B = sample_gradients(self.pairs, hard_A, hard_B, self.objective, self.tsd_loss,
                                            self.mutual_information)
        scale = 1.0 / (S * self.temperature)
        grad_A = _softmax_backward(soft_A, g_A).sum(axis=0)
        grad_A *= scale / weights_A
        grad_B = np.zeros((k, k), dtype=B.dtype)
        grad_B[:-1] = _softmax_backward(soft_B, g_B[:, :-1]).sum(axis=0)
        grad_B[:-1] *= scale / np.maximum(weights_B, LOG_OFFSET)
        grad_B[~self.mask] = 0.0
        return grad_A, grad_B, float(losses.sum()) / S

    def _gumbel_softmax(self, weights, log_uniform):
        """``softmax((log w + G) / t)`` with ``G = -log(-log U)``: ``(w / -log U)^(1/t)``, normalised."""
        noisy = weights / log_uniform                                  # minus w / E, exactly
        if self.temperature != 1.0:
            noisy = -noisy
            noisy /= noisy.max(axis=-1, keepdims=True)
            noisy **= 1.0 / self.temperature
        noisy /= noisy.sum(axis=-1, keepdims=True)
        return noisy


def argmax_parents(A: np.ndarray, B: np.ndarray, mask: np.ndarray):
    """:meth:`hc_lib.eph.ProbabilisticHierarchy.argmax_parents` of arrays, as torch tensors."""
    k = B.shape[0]
    pb = np.full(k, k - 1, dtype=np.int64)
    pb[:-1] = np.where(mask[:-1], B[:-1], -1.0).argmax(axis=1)
    return torch.from_numpy(A.argmax(axis=1)), torch.from_numpy(pb)


def adamax_step(optimizer: torch.optim.Adamax, grads):
    """torch's Adamax update (no weight decay) of every parameter group's one parameter, in
    NumPy on its state tensors, which are created as torch creates them on a first step."""
    for group, grad in zip(optimizer.param_groups, grads):
        (param,) = group["params"]
        state = optimizer.state[param]
        if not state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"], state["exp_inf"] = torch.zeros_like(param), torch.zeros_like(param)
        beta1, beta2 = group["betas"]
        step = state["step"].numpy()
        step += 1
        exp_avg, exp_inf = state["exp_avg"].numpy(), state["exp_inf"].numpy()
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_inf *= beta2
        np.maximum(exp_inf, np.abs(grad) + group["eps"], out=exp_inf)
        step_size = group["lr"] / (1 - beta1 ** float(step))
        param.detach().numpy()[...] += (-step_size * exp_avg) / exp_inf        # addcdiv's order


def project_rows(matrix: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """:func:`hc_lib.eph.probabilistic.project_rows_to_simplex` of an array (its sorting method
    for short rows, its torch code for long ones)."""
    if matrix.shape[1] > _SORT_WIDTH:
        as_tensor = torch.from_numpy(matrix)
        return project_rows_to_simplex(as_tensor, None if mask is None else torch.from_numpy(mask)).numpy()
    values = matrix if mask is None else np.where(mask, matrix, -1e30)
    ordered = -np.sort(-values, axis=1)
    cumulative = ordered.cumsum(axis=1) - 1.0
    ranks = np.arange(1, matrix.shape[1] + 1, dtype=matrix.dtype)
    count = np.maximum((ordered - cumulative / ranks > 0).sum(axis=1, keepdims=True), 1)
    threshold = cumulative[np.arange(matrix.shape[0])[:, None], count - 1] / count.astype(matrix.dtype)
    projected = np.maximum(values - threshold, 0.0)
    return projected if mask is None else np.where(mask, projected, 0.0)


def _one_hot_argmax(soft: np.ndarray) -> np.ndarray:
    rows = soft.reshape(-1, soft.shape[-1])
    hard = np.zeros_like(rows)
    hard[np.arange(rows.shape[0]), rows.argmax(axis=1)] = 1.0
    return hard.reshape(soft.shape)


def _softmax_backward(probs: np.ndarray, grad_output: np.ndarray) -> np.ndarray:
    """Gradient through a row softmax with outputs ``probs``, given d loss / d outputs."""
    return (grad_output - (probs * grad_output).sum(axis=-1, keepdims=True)) * probs
