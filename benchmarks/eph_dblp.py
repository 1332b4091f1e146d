"""Where one EPH step goes on DBLP (317 080 nodes), and what a published-budget run would take.

Times each part of a step of the tree engine on the real graph (float32 by default, n' = 512,
exact pairs: DBLP's 2.1 million stored pairs are below the sampling threshold), one sample at
a time as the engine runs them, and multiplies by the samples of a step:

* noise: the uniform draw, its logarithm and the Gumbel-softmax of A (n x n') and B (n' x n');
* tree: the argmax parents, the sampled tree's lifts, preorder and lca table;
* gradient: the tree's scores and the closed-form gradient (lca masses, the product of the
  graph with the k x k path-sum table, the subtree sums for B);
* backward: the straight-through softmax backward of A and B;
* update: Adamax and the projections of A and B onto the simplex (once per step), all timed on a
  random hierarchy (dense rows), not on the published start;
* validation: the argmax tree and its exact Dasgupta cost (once per step).

The GPU figures are estimates from the bytes each part must move at a stated memory bandwidth,
not measurements.

    python benchmarks/eph_dblp.py --output results/benchmarks/eph_dblp_cpu.json
    python benchmarks/eph_dblp.py --graph polblogs --dtype float64 --output results/benchmarks/eph_parts_polblogs.json

``--graph`` takes the step of another graph apart the same way (the noise of the n x n' matrix A
and the graph product inside "gradient" are what a step must touch).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

import torch

from hc_lib.datasets import load_graph
from hc_lib.eph import EPH
from hc_lib.eph.estimators import _softmax_backward
from hc_lib.eph.expected import SampledTree, score_and_gradients
from hc_lib.eph.probabilistic import ProbabilisticHierarchy, parents_to_tree, project_rows_to_simplex
from hc_lib.records import provenance


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def sample_parts(model, A, B, mask, generator, buffers) -> dict:
    """Seconds of each part of one sample (``EPH._tree_gradients``, taken apart)."""
    soft_A, soft_B, scratch_A, scratch_B, grad_out = buffers
    weights_A = A + 1e-9
    weights_B = torch.where(mask, B + 1e-9, torch.zeros_like(B))[:-1]
    parts = {}
    _, parts["noise"] = timed(lambda: (model._gumbel_softmax(weights_A, soft_A, generator),
                                       model._gumbel_softmax(weights_B, soft_B, generator)))
    root = torch.tensor([B.shape[0] - 1])

    def tree():
        pa, pb = soft_A.argmax(dim=1), torch.cat([soft_B.argmax(dim=1), root])
        sampled = SampledTree(pa, pb)
        sampled.lca_matrix()
        return sampled

    sampled, parts["tree"] = timed(tree)
    (_, g_A, g_B), parts["gradient"] = timed(score_and_gradients, model._pairs, sampled, out=grad_out)
    _, parts["backward"] = timed(lambda: (_softmax_backward(soft_A, g_A, scratch_A),
                                          _softmax_backward(soft_B, g_B[:-1], scratch_B)))
    return parts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graph", default="dblp")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--n-internal", type=int, default=512)
    parser.add_argument("--samples", type=int, default=3, help="samples timed (a step has 20)")
    parser.add_argument("--bandwidth", type=float, default=4.8e12,
                        help="GPU memory bandwidth in bytes/s for the estimate (H200: 4.8e12)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    adjacency, _ = load_graph(args.graph)
    n, k = adjacency.shape[0], args.n_internal
    model = EPH(n_internal=k, n_samples=20, init="random", dtype=dtype, random_state=0, progress=False)
    _, prepare_s = timed(model._prepare, adjacency, None)
    hierarchy = ProbabilisticHierarchy.random(n, k, generator=torch.Generator().manual_seed(0), dtype=dtype)
    A, B, mask = hierarchy.A, hierarchy.B, model._mask
    generator = torch.Generator().manual_seed(1)
    buffers = (torch.empty_like(A), torch.empty_like(B[:-1]), torch.empty_like(A), torch.empty_like(B[:-1]),
               torch.empty_like(A))
    samples = [sample_parts(model, A, B, mask, generator, buffers) for _ in range(args.samples)]
    per_sample = {part: statistics.median(sample[part] for sample in samples) for part in samples[0]}
    A.grad, B.grad = torch.randn_like(A), torch.randn_like(B)
    optimizer = torch.optim.Adamax([{"params": [A], "lr": 0.05}, {"params": [B], "lr": 0.1}])
    _, adamax_s = timed(optimizer.step)
    _, project_A_s = timed(project_rows_to_simplex, A.detach())
    _, project_B_s = timed(project_rows_to_simplex, B.detach(), mask)

    def validate():
        pa, pb = ProbabilisticHierarchy(A.detach(), B.detach(), validate=False).argmax_parents()
        return model._score(parents_to_tree(pa, pb))

    _, validation_s = timed(validate)
    step = {part: 20 * seconds for part, seconds in per_sample.items()}
    step.update({"adamax": adamax_s, "projections": project_A_s + project_B_s, "validation": validation_s})
    step_s = sum(step.values())
    element = torch.finfo(dtype).bits // 8
    # bytes a GPU must move per step: about 12 passes over the n x n' noise and gradient matrices
    # per sample, and the graph product reading one n'-row of the path-sum table per stored pair
    pairs = model._pairs.n_pairs
    gpu_bytes = 20 * (12 * n * k + pairs * k) * element + 30 * n * k * element
    report = {"benchmark": "eph_dblp", "graph": args.graph, **provenance(), "torch_threads": torch.get_num_threads(),
              "load_average": os.getloadavg(), "nodes": n, "stored_pairs": pairs, "n_internal": k,
              "dtype": args.dtype, "prepare_s": prepare_s, "per_sample_s": per_sample, "per_step_s": step,
              "step_s": step_s, "published_run_hours_cpu": 10_000 * step_s / 3600,
              "peak_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "gpu_estimate": {"bytes_per_step": gpu_bytes, "bandwidth_bytes_per_s": args.bandwidth,
                               "step_s": gpu_bytes / args.bandwidth,
                               "published_run_hours": 10_000 * gpu_bytes / args.bandwidth / 3600,
                               "note": "an estimate from memory traffic at full bandwidth, not a measurement"}}
    for part, seconds in step.items():
        print(f"{part:>12}: {seconds:8.2f} s a step")
    print(f"{'step':>12}: {step_s:8.2f} s; 10 000 steps: {report['published_run_hours_cpu']:.0f} hours on this CPU; "
          f"estimated {report['gpu_estimate']['step_s']:.3f} s a step on a GPU at {args.bandwidth / 1e12:.1f} TB/s")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
