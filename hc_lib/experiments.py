"""One experiment of the EPH tables, end to end: data, method, scores, provenance.

The notebooks (``05_eph_graphs``, ``06_eph_vectors``) and the table scripts call
:func:`run_experiment` for one configuration and save what it returns with
:func:`hc_lib.records.write_json`,
so a table is a set of JSON files, each one a finished run that a later failure cannot lose.
"""
from __future__ import annotations

import datetime as _dt
import inspect
import time

import numpy as np
import torch

from hc_lib import baselines
from hc_lib import published as _published
from hc_lib.baselines.compression import compress_tree
from hc_lib.baselines.hyperbolic import GHHC, HypHC
from hc_lib.baselines.sparsest_cut import RecursiveSpectralSweep
from hc_lib.baselines.ultrametric_fitting import UltrametricFitting
from hc_lib.datasets import GRAPH_NAMES, VECTOR_NAMES, load_graph, load_vectors, similarity_graph
from hc_lib.eph import EPH, FPH
from hc_lib.graphs import as_graph
from hc_lib.metrics import dasgupta_cost, legacy_tree_sampling_divergence, tree_sampling_divergence
from hc_lib.records import provenance
from hc_lib.trees import Tree

__all__ = ["METHODS", "PROFILES", "learning_curve", "load_dataset", "run_experiment"]

LEARNED = ("EPH", "FPH")
BASELINES = ("AL", "Louvain", "WL", "SL", "CL", "UF", "RSC", "HypHC", "gHHC")
#: today's library versions of two published rows, with exact greedy compression: how much the
#: published code's tie rules, Louvain version and compression change the numbers
MODERN = ("AL-modern", "Louvain-modern")
METHODS = LEARNED + BASELINES + MODERN

# settings of the two profiles; "full" is the published one (the book's chapter "Reproduced tables")
PROFILES = {
    "quick": {"EPH": {"n_steps": 60, "n_samples": 5, "reset_every": 20}, "FPH": {"n_steps": 100}},
    "full": {"EPH": {"n_steps": 10_000, "n_samples": 20, "reset_every": 1000}, "FPH": {"n_steps": 1000}},
}


def load_dataset(name: str):
    """``(graph, labels, kind)``: a :class:`~hc_lib.graphs.SparseGraph` for graphs, a
    :class:`~hc_lib.graphs.CosineSimilarityGraph` for vector data (both validated here, once)."""
    if name in GRAPH_NAMES:
        adjacency, labels = load_graph(name)
        return as_graph(adjacency), labels, "graph"
    if name in VECTOR_NAMES:
        X, y = load_vectors(name)
        return similarity_graph(X), y, "vectors"
    known = ", ".join(GRAPH_NAMES + VECTOR_NAMES)
    raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")


def baseline_tree(name: str, graph, kind: str, *, seed: int = 0, n_internal: int = 100, **settings):
    """A baseline hierarchy of the tables, at full resolution (gHHC: ``n_internal`` nodes).

    The published rows are built as the published code built them: "AL" on graphs is the
    nearest-neighbour-chain average linkage with its tie rules
    (:func:`hc_lib.baselines.linkage.nn_chain_average_linkage`), "Louvain" the recursive Louvain of
    scikit-network 0.24 (``legacy=True``). "AL-modern" (scikit-network's Paris with uniform
    weights) and "Louvain-modern" are today's versions. The learned rows (UF, RSC, HypHC,
    gHHC) take ``settings`` for their estimator and ``seed``.
    """
    if name in ("UF", "RSC", "HypHC", "gHHC"):
        estimator = {"UF": UltrametricFitting, "RSC": RecursiveSpectralSweep, "HypHC": HypHC, "gHHC": GHHC}[name]
        _check_settings(estimator, settings)
        if name == "gHHC":
            settings["n_internal"] = n_internal
        if name != "UF":                      # UF has no randomness
            settings["random_state"] = seed
        return estimator(**settings).fit(graph).tree_
    if name in ("AL", "AL-modern"):
        if kind == "vectors":
            return baselines.vector_linkage(graph.unit_rows, "average")
        return baselines.nn_chain_average_linkage(graph) if name == "AL" else baselines.graph_average_linkage(graph)
    if name in ("Louvain", "Louvain-modern"):
        return baselines.louvain_hierarchy(graph if kind == "graph" else graph.to_sparse(), legacy=name == "Louvain")
    if kind != "vectors":
        raise ValueError(f"{name} is a linkage of vector data; on graphs use AL or Louvain")
    return baselines.vector_linkage(graph.unit_rows, {"WL": "ward", "SL": "single", "CL": "complete"}[name])


def compression_of(method: str, objective: str) -> str:
    """How a baseline's tree is compressed to n' nodes: the published rows with the published
    code's compressions (``legacy_dasgupta``, ``legacy_tsd``), the modern variants with the exact
    greedy ones (see :mod:`hc_lib.baselines.compression`)."""
    return objective if method in MODERN else f"legacy_{objective}"


def run_experiment(dataset: str, method: str = "EPH", objective: str = "dasgupta", *, profile: str = "quick",
                   n_internal: int = 512, seed: int = 0, device: str = "cpu", progress: bool = True,
                   **settings):
    """Run one configuration and score it.

    Parameters
    ----------
    dataset : a graph or vector dataset name
    method : "EPH", "FPH", or a baseline ("AL", "Louvain", "UF", "RSC", "HypHC", "gHHC"; on vectors
        also "WL", "SL", "CL"), built and compressed to n' as published (:func:`baseline_tree`,
        :func:`compression_of`), or "AL-modern", "Louvain-modern"
    objective : "dasgupta" or "tsd" (what EPH/FPH optimise and how baselines are compressed)
    profile : "quick" (minutes on a CPU) or "full" (the published settings)
    n_internal : internal nodes n' (capped at n - 1)
    settings : overrides of the profile's estimator settings (``n_steps``, ``n_samples``,
        ``lr_A``, ``tsd_loss``, ``n_restarts``, ``checkpoint_dir``...). A setting given as None
        is left out (the profile's value, or the estimator's default, applies); ``dtype`` may be
        a string, ``"float64"`` or ``"float32"``. A setting the method does not take is an error.

    Returns
    -------
    model : the fitted estimator, or None for baselines
    tree : the final Tree
    record : dict of scores, settings, timings and provenance (JSON-ready), with the learner's
        ``history`` and its ``curve`` (:func:`learning_curve`, what a run record keeps); for a baseline,
        ``record["full_resolution"]`` scores its tree before compression to n'; for a learner,
        ``initial_score``, ``last_score`` and ``best_after_start`` read its history (the start's
        argmax tree, the last step's and the best after the start, on the fit's own scale). With a
        ``checkpoint_dir``, ``record["resumed_from"]`` says where the fit found its checkpoint
        (None: it started afresh).

    Examples
    --------
    >>> _, _, record = run_experiment("zoo", "EPH", n_steps=3, n_samples=2, lr_A=None, dtype="float32",
    ...                               progress=False)
    >>> record["settings"]["n_steps"], record["settings"]["dtype"], record["settings"]["lr_A"], record["steps_run"]
    (3, 'float32', 0.05, 3)
    >>> run_experiment("zoo", "FPH", lr_A=0.1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: FPH takes no setting lr_A; its settings: ...
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose 'quick' or 'full'")
    settings = {key: value for key, value in settings.items() if value is not None}
    if isinstance(settings.get("dtype"), str):
        settings["dtype"] = _dtype(settings["dtype"])
    if method in LEARNED:
        _check_settings(EPH if method == "EPH" else FPH, settings)
    graph, labels, kind = load_dataset(dataset)
    n = graph.shape[0]
    n_prime = min(int(n_internal), n - 1)
    started = provenance(device)           # the code that runs is the code checked out now
    start = time.perf_counter()
    model = None
    if method in LEARNED:
        options = {**PROFILES[profile][method], **settings}
        estimator = (EPH if method == "EPH" else FPH)(objective, n_prime, device=device, random_state=seed,
                                                      progress=progress, **options)
        model = estimator.fit(graph)
        tree = model.tree_
    else:
        options = dict(settings)
        full = baseline_tree(method, graph, kind, seed=seed, n_internal=n_prime, **options)
        tree = compress_tree(graph, full, n_prime, objective=compression_of(method, objective))
    seconds = time.perf_counter() - start
    record = {
        "dataset": dataset, "kind": kind, "method": method, "objective": objective, "profile": profile,
        "n": int(n), "n_internal": n_prime, "tree_internal_nodes": int(tree.n_internal), "seed": seed,
        "settings": {key: _json_setting(value)
                     for key, value in (model.get_params() if model is not None else options).items()
                     if (np.isscalar(value) or isinstance(value, torch.dtype))
                     and key not in ("progress", "checkpoint_dir")},
        "dasgupta": dasgupta_cost(graph, tree),
        "published": _published.published(method, dataset, objective),
        "wall_time_s": seconds,
        "provenance": {**started, "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
    }
    if kind == "graph":
        record["tsd"] = tree_sampling_divergence(graph, tree)
        # a published baseline is scored as the published evaluation did, every node at a height
        # of its own (the legacy TSD then fuses only the equal-height chains of k-ary nodes)
        scored = tree if model is not None or method in MODERN else Tree.from_parent(tree.parent, tree.n_leaves)
        record["tsd_legacy"] = legacy_tree_sampling_divergence(graph, scored)
    if model is None:                                  # the baseline's own tree, before compression
        record["full_resolution"] = {"internal_nodes": int(full.n_internal), "dasgupta": dasgupta_cost(graph, full)}
        if kind == "graph":
            record["full_resolution"]["tsd"] = tree_sampling_divergence(graph, full)
    compared = record["dasgupta"] if objective == "dasgupta" else record.get("tsd_legacy")
    record["ratio_to_published"] = compared / record["published"] if record["published"] else None
    if model is not None:
        scores = model.history_["score"]
        record["initial_score"] = scores[0]
        # two other rules for which tree to return, read off the same run: the last step's
        # argmax tree, and the best one once the start is left out (the fit's own scale)
        record["last_score"] = scores[-1]
        record["best_after_start"] = (min if objective == "dasgupta" else max)(scores[1:]) if len(scores) > 1 else None
        record["steps_run"] = len(model.history_["step"]) - 1
        record["history"] = {key: [float(v) for v in values] for key, values in model.history_.items()}
        record["curve"] = learning_curve(record["history"])
        record["restart_scores"] = [float(value) for value in model.restart_scores_]
        record["best_restart"] = int(model.best_restart_)
        record["checkpoint_dir"] = None if model.checkpoint_dir is None else str(model.checkpoint_dir)
        record["resumed_from"] = model.resumed_from_
    return model, tree, record


def learning_curve(history: dict, points: int = 500) -> dict:
    """The training history at about ``points`` evenly spaced steps, the last one included: small
    enough to keep in every run record, enough to see whether a run had converged.

    >>> learning_curve({"step": list(range(11)), "best": [10 - s for s in range(11)]}, points=4)
    {'step': [0, 3, 6, 9, 10], 'best': [10, 7, 4, 1, 0]}
    """
    length = len(history["step"])
    every = max(1, -(-length // points))
    keep = list(range(0, length, every)) + ([length - 1] if (length - 1) % every else [])
    return {key: [values[i] for i in keep] for key, values in history.items()}


DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _dtype(name: str) -> torch.dtype:
    """``"float64"`` or ``"float32"`` (also with a ``torch.`` prefix) as a torch dtype."""
    key = name.removeprefix("torch.")
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[key]


def _json_setting(value):
    """A setting as the run record stores it: dtypes by name (``"float64"``)."""
    return str(value).removeprefix("torch.") if isinstance(value, torch.dtype) else value


def _check_settings(estimator_class, settings: dict) -> None:
    """Refuse, by name, a setting the estimator does not take (say, EPH's ``lr_A`` for FPH)."""
    known = [name for name in inspect.signature(estimator_class.__init__).parameters
             if name not in ("self", "objective", "n_internal", "device", "random_state", "progress")]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"{estimator_class.__name__} takes no setting {', '.join(unknown)}; "
                         f"its settings: {', '.join(known)}")
