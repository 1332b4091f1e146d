"""The datasets of the EPH / FPH tables: eight graphs and seven vector datasets.

==================  =========================================  ==================================
what                where                                      how to get it
==================  =========================================  ==================================
8 graphs            ``data/graphs/<name>.npz`` (raw CSR)        :func:`load_graph` (preprocessed)
6 UCI vector sets   ``data/vectors/<name>.npz`` (``X``, ``y``)  :func:`load_vectors`
digits              ``sklearn.datasets.load_digits`` (bundled)  :func:`load_vectors`
class names         the same files                             :func:`class_names`
similarity graph    computed from ``X``, never n x n            :func:`similarity_graph`
==================  =========================================  ==================================

The ``data/`` folder ships inside the package as ``hc_lib.data_files``; the environment variable
``HC_LIB_DATA`` points the loaders at another folder with the same layout. Every file is checked
once per process against the ``SHA256SUMS`` shipped with the package. Provenance, licences and
credits: ``data/README.md``.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from sklearn.datasets import load_digits

from hc_lib.graphs import CosineSimilarityGraph

__all__ = ["GRAPH_NAMES", "VECTOR_NAMES", "data_dir", "preprocess_graph", "load_graph",
           "load_vectors", "class_names", "normalized_rows", "similarity_graph"]

GRAPH_NAMES = ("polblogs", "brain", "citeseer", "genes", "cora_ml", "openflight",
               "wiki_physics", "dblp")
VECTOR_NAMES = ("zoo", "iris", "glass", "digits", "segmentation", "spambase", "letter")
DATA_ENV = "HC_LIB_DATA"
_VERIFIED: set[tuple[str, int, int]] = set()


def data_dir() -> Path:
    """Folder with ``graphs/`` and ``vectors/``: ``$HC_LIB_DATA`` if set, else the packaged copy."""
    override = os.environ.get(DATA_ENV)
    if override:
        return Path(override).expanduser()
    return Path(str(files("hc_lib.data_files")))


@lru_cache(maxsize=None)
def _expected_digests() -> dict[str, str]:
    text = files("hc_lib.data_files").joinpath("SHA256SUMS").read_text(encoding="utf-8")
    pairs = (line.split(maxsplit=1) for line in text.splitlines() if line.strip())
    return {path.strip().lstrip("*"): digest.lower() for digest, path in pairs}


def _open_npz(relative: str):
    """``numpy.load`` of ``data_dir() / relative`` after checking its sha256 (once per process)."""
    path = data_dir() / relative
    if not path.is_file():
        raise FileNotFoundError(f"dataset file {path} not found ({DATA_ENV} must name a folder "
                                "with the layout of data/: graphs/*.npz, vectors/*.npz)")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        expected = _expected_digests().get(relative)
        if expected is None:
            raise OSError(f"no checksum for {relative} in the packaged SHA256SUMS")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            raise OSError(f"checksum mismatch for {path}: sha256 {digest}, expected {expected} "
                          "(SHA256SUMS); the file is corrupt or not the published one")
        _VERIFIED.add(key)
    return np.load(path, allow_pickle=False)


def _check_name(name, known: tuple[str, ...], kind: str) -> None:
    if not isinstance(name, str) or name not in known:
        raise ValueError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known))}")


def preprocess_graph(adjacency) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The papers' graph preprocessing: binarise, symmetrise, keep the largest component.

    Every stored entry is set to 1, then ``W = A + A.T`` (a reciprocal pair of edges and a
    self-loop get weight 2, a one-way edge weight 1); only the largest connected component
    is kept (the first one on ties), self-loops included.

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix, float64, sorted indices
    kept : ndarray of int64
        The original index of every kept node.

    Examples
    --------
    >>> raw = sparse.csr_matrix([[0, 5, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    >>> adjacency, kept = preprocess_graph(raw)
    >>> adjacency.toarray()
    array([[0., 1., 0.],
           [1., 0., 2.],
           [0., 2., 0.]])
    >>> kept
    array([0, 1, 2])
    """
    matrix = sparse.csr_matrix(adjacency, copy=True)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"adjacency must be a non-empty square matrix, got shape {matrix.shape}")
    matrix.sum_duplicates()
    binary = sparse.csr_matrix((np.ones(matrix.nnz), matrix.indices, matrix.indptr),
                               shape=matrix.shape)
    symmetric = sparse.csr_matrix(binary + binary.T)
    _, component = csgraph.connected_components(symmetric, directed=False)
    kept = np.flatnonzero(component == np.argmax(np.bincount(component))).astype(np.int64)
    if kept.size < symmetric.shape[0]:
        symmetric = sparse.csr_matrix(symmetric[kept][:, kept])
    symmetric.sort_indices()
    return symmetric, kept


def load_graph(name: str) -> tuple[sparse.csr_matrix, np.ndarray | None]:
    """One of :data:`GRAPH_NAMES`, preprocessed as the papers did (:func:`preprocess_graph`).

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix, float64, shape (n, n)
        Symmetric; off-diagonal weights 1 or 2, self-loops 2.
    labels : ndarray of int64, shape (n,), or None
        Class of every kept node (dblp: a SNAP community, -1 for none); ``None`` for brain,
        genes, openflight and wiki_physics. Names: :func:`class_names`.

    Examples
    --------
    >>> adjacency, labels = load_graph("citeseer")
    >>> adjacency.shape, labels.shape
    ((2110, 2110), (2110,))
    """
    _check_name(name, GRAPH_NAMES, "graph")
    with _open_npz(f"graphs/{name}.npz") as raw:
        shape = tuple(int(size) for size in raw["adj_shape"])
        indices, indptr = raw["adj_indices"], raw["adj_indptr"]
        matrix = sparse.csr_matrix((np.ones(indices.size), indices, indptr), shape=shape)
        labels = raw["labels"] if "labels" in raw.files else None
    adjacency, kept = preprocess_graph(matrix)
    return adjacency, None if labels is None else labels[kept].astype(np.int64)


def load_vectors(name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of one of :data:`VECTOR_NAMES` (float64 features, int64 classes from 0).

    Digits comes from ``sklearn.datasets.load_digits``; iris is the original UCI file, whose
    rows 34 and 37 (0-based) differ from scikit-learn's corrected ``load_iris``.

    Examples
    --------
    >>> X, y = load_vectors("iris")
    >>> X.shape, y.dtype.name, X[34].tolist()
    ((150, 4), 'int64', [4.9, 3.1, 1.5, 0.1])
    """
    _check_name(name, VECTOR_NAMES, "vector dataset")
    if name == "digits":
        bunch = load_digits()
        return bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    with _open_npz(f"vectors/{name}.npz") as raw:
        return raw["X"].astype(np.float64), raw["y"].astype(np.int64)


def class_names(name: str) -> tuple[str, ...] | None:
    """Names of the classes of a graph or vector dataset: label ``k`` is ``class_names(name)[k]``.

    ``None`` where the source names no classes (polblogs has labels 0/1 without names, dblp
    has community ids, brain, genes, openflight and wiki_physics have no labels).

    Examples
    --------
    >>> class_names("citeseer")
    ('AI', 'Agents', 'DB', 'HCI', 'IR', 'ML')
    >>> class_names("brain") is None
    True
    """
    _check_name(name, GRAPH_NAMES + VECTOR_NAMES, "dataset")
    if name == "digits":
        return tuple(str(digit) for digit in range(10))
    folder = "graphs" if name in GRAPH_NAMES else "vectors"
    with _open_npz(f"{folder}/{name}.npz") as raw:
        return tuple(str(c) for c in raw["class_names"]) if "class_names" in raw.files else None


def normalized_rows(X) -> np.ndarray:
    """z-score every feature, then L2-normalise every row (the vector-data recipe).

    A constant feature becomes 0 (never NaN), a row that is zero after z-scoring stays zero.
    The linkages on vector data run on these rows (distance ``1 - x_i . x_j``).

    Examples
    --------
    >>> normalized_rows([[1.0, 7.0, 0.0], [3.0, 7.0, 2.0], [2.0, 7.0, 1.0]])
    array([[-0.70710678,  0.        , -0.70710678],
           [ 0.70710678,  0.        ,  0.70710678],
           [ 0.        ,  0.        ,  0.        ]])
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-d array (samples x features), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X has NaN or infinite entries")
    varies = X.max(axis=0) > X.min(axis=0)
    centred = np.where(varies, X - X.mean(axis=0), 0.0)
    scale = centred.std(axis=0)
    scores = np.divide(centred, scale, out=np.zeros_like(centred), where=varies)
    norms = np.linalg.norm(scores, axis=1, keepdims=True)
    return np.divide(scores, norms, out=np.zeros_like(scores), where=norms > 0)


def similarity_graph(X) -> CosineSimilarityGraph:
    """The complete graph ``s_ij = (1 + cos_ij) / 2`` on :func:`normalized_rows` of ``X``.

    Self-similarities are excluded; the n x n matrix is never formed.

    Examples
    --------
    >>> graph = similarity_graph([[1.0, 7.0], [3.0, 7.0], [2.0, 7.0]])
    >>> graph.to_dense()
    array([[0. , 0. , 0.5],
           [0. , 0. , 0.5],
           [0.5, 0.5, 0. ]])
    """
    return CosineSimilarityGraph(normalized_rows(X))
