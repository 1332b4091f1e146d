"""The colour datasets of CoHiClust, read offline from small files in each dataset's real format.

CIFAR-10, CIFAR-100 and STL-10 go through torchvision exactly as after a real download: the
files are written as the archives of cs.toronto.edu and stanford.edu hold them (pickled batches,
column-major STL-10 binaries), in the folders the archives unpack to. torchvision checks the MD5
sum of every file against the sums of the real files, which synthetic files cannot match: the
tests replace those expected sums (the class attributes ``train_list``, ``test_list``, ``meta``,
``tgz_md5``) with the sums of the written files, so the check itself still runs, and a test
shows that without this the loader refuses the files and says why. The download tests serve a
``.tar.gz`` of the same files through a stand-in for ``urllib.request.urlopen``: torchvision's
own download, archive check, extraction, file checks and reading all run, as on the first run
in Colab, with only the bytes from the network replaced.

ImageNet subsets are ImageFolder-style folders of JPEGs written with PIL.
"""
import hashlib
import io
import pickle
import tarfile
import urllib.request

import numpy as np
import pytest
import torch
import torchvision.datasets as tv
from PIL import Image

from hc_lib.cohiclust.data import (CIFAR100_SUPERCLASSES, IMAGENET_SUBSETS, PAPER_SETTINGS, STL10_CLASSES,
                                   load_images)

pytestmark = pytest.mark.usefixtures("one_thread")

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE = sorted(name for names in CIFAR100_SUPERCLASSES.values() for name in names)
CIFAR100_COARSE = sorted(CIFAR100_SUPERCLASSES)
# the coarse label of each fine label, as the dataset defines it
COARSE_OF_FINE = np.array([CIFAR100_COARSE.index(coarse) for fine in CIFAR100_FINE
                           for coarse, fines in CIFAR100_SUPERCLASSES.items() if fine in fines])



@pytest.fixture
def offline(monkeypatch):
    """Any attempt to reach the network fails the test."""
    def refuse(request, *args, **kwargs):
        raise AssertionError(f"the loader went online: {getattr(request, 'full_url', request)}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------------- writing the real formats
def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def dump(path, record) -> None:
    """A pickle as the CIFAR archives hold them (protocol 2, the newest Python 2 could write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        pickle.dump(record, stream, protocol=2)


def marked_images(rng, labels, side):
    """Random uint8 images (N, 3, side, side) whose first pixel is 10 x label + 5, so a test can
    see that images and labels stay paired."""
    images = rng.integers(0, 256, size=(len(labels), 3, side, side), dtype=np.uint8)
    images[:, 0, 0, 0] = 10 * np.asarray(labels) + 5
    return images


def paired(image_set) -> bool:
    return torch.equal(image_set.images[:, 0, 0, 0].long(), 10 * image_set.labels + 5)


def write_cifar10(root, per_class_per_batch=2, test_per_class=2, seed=0):
    """``root/cifar-10-batches-py`` with five training batches, a test batch and batches.meta;
    returns the training and test images and labels in file order."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    written = {"train": ([], []), "test": ([], [])}
    batches = [(f"data_batch_{i}", "train", per_class_per_batch, f"training batch {i} of 5") for i in range(1, 6)]
    for file_name, part, per_class, title in batches + [("test_batch", "test", test_per_class,
                                                        "testing batch 1 of 1")]:
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        images = marked_images(rng, labels, 32)
        # one row per image: the red plane, then green, then blue, each row by row
        dump(folder / file_name, {"batch_label": title, "labels": labels.tolist(),
                                  "data": images.reshape(len(labels), 3 * 32 * 32),
                                  "filenames": [f"image_{k}.png" for k in range(len(labels))]})
        written[part][0].append(images)
        written[part][1].append(labels)
    dump(folder / "batches.meta", {"num_cases_per_batch": 10 * per_class_per_batch, "label_names": CIFAR10_NAMES,
                                   "num_vis": 3 * 32 * 32})
    (folder / "readme.html").write_text("<html>CIFAR-10</html>")
    return {part: (np.concatenate(images), np.concatenate(labels)) for part, (images, labels) in written.items()}


def write_cifar100(root, train_per_fine=2, test_per_fine=1, seed=0, coarse_of_fine=COARSE_OF_FINE):
    """``root/cifar-100-python`` with ``train``, ``test`` and ``meta`` (fine and coarse labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    written = {}
    for part, per_fine in (("train", train_per_fine), ("test", test_per_fine)):
        fine = rng.permutation(np.repeat(np.arange(100), per_fine))
        coarse = coarse_of_fine[fine]
        images = marked_images(rng, coarse, 32)
        dump(folder / part, {"filenames": [f"image_{k}.png" for k in range(fine.size)],
                             "batch_label": f"{'training' if part == 'train' else 'testing'} batch 1 of 1",
                             "fine_labels": fine.tolist(), "coarse_labels": coarse.tolist(),
                             "data": images.reshape(fine.size, 3 * 32 * 32)})
        written[part] = (images, fine, coarse)
    dump(folder / "meta", {"fine_label_names": CIFAR100_FINE, "coarse_label_names": CIFAR100_COARSE})
    return written


def write_stl10(root, train_per_class=2, test_per_class=1, n_unlabeled=3, seed=0, class_names=True):
    """``root/stl10_binary``: ``*_X.bin`` hold 3 x 96 x 96 bytes per image, each channel stored
    column by column; ``*_y.bin`` one byte per image, the labels 1..10."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    written = {}
    for part, per_class in (("train", train_per_class), ("test", test_per_class), ("unlabeled", None)):
        labels = (rng.permutation(np.repeat(np.arange(10), per_class)) if per_class else
                  np.zeros(n_unlabeled, dtype=np.int64))
        images = marked_images(rng, labels, 96)
        (folder / f"{part}_X.bin").write_bytes(np.ascontiguousarray(images.transpose(0, 1, 3, 2)).tobytes())
        if per_class:
            (folder / f"{part}_y.bin").write_bytes((labels + 1).astype(np.uint8).tobytes())
            written[part] = (images, labels)
    if class_names:
        (folder / "class_names.txt").write_text("\n".join(STL10_CLASSES) + "\n")
    (folder / "fold_indices.txt").write_text("\n".join(" ".join(str(i) for i in range(k, 20, 10))
                                                       for k in range(10)) + "\n")
    return written


def trust(monkeypatch, dataset_class, root, archive=None) -> None:
    """Let torchvision's MD5 check accept the files written under ``root`` (and ``archive``)."""
    folder = root / dataset_class.base_folder
    for attribute in ("train_list", "test_list"):
        monkeypatch.setattr(dataset_class, attribute,
                            [[name, md5(folder / name)] for name, _ in getattr(dataset_class, attribute)])
    if isinstance(getattr(dataset_class, "meta", None), dict):
        monkeypatch.setattr(dataset_class, "meta", {**dataset_class.meta,
                                                    "md5": md5(folder / dataset_class.meta["filename"])})
    if archive is not None:
        monkeypatch.setattr(dataset_class, "tgz_md5", md5(archive))


# ---------------------------------------------------------------------- CIFAR-10
def test_cifar10_from_its_python_batches(tmp_path, monkeypatch, offline):
    written = write_cifar10(tmp_path)
    trust(monkeypatch, tv.CIFAR10, tmp_path)
    train = load_images("cifar10", "train", root=tmp_path, download=False)
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (100, 3, 32, 32)
    assert train.labels.dtype == torch.int64 and train.classes == CIFAR10_NAMES
    assert np.array_equal(train.images.numpy(), written["train"][0])        # channels first, pixel for pixel
    assert np.array_equal(train.labels.numpy(), written["train"][1]) and paired(train)
    test = load_images("cifar10", "test", root=tmp_path, download=False)
    assert np.array_equal(test.images.numpy(), written["test"][0]) and paired(test)
    every = load_images("cifar10", "all", root=tmp_path, download=False)
    assert len(every) == 120 and torch.equal(every.images[:100], train.images)     # train, then test
    small = load_images("cifar10", "all", root=tmp_path, limit=30, download=False)
    assert len(small) == 30 and np.bincount(small.labels.numpy()).tolist() == [3] * 10 and paired(small)
    assert torch.equal(small.images, load_images("cifar10", "all", root=tmp_path, limit=30).images)
    # with download=True (the default) files that pass the check are read, not downloaded again
    assert torch.equal(load_images("cifar10", "train", root=tmp_path).images, train.images)


def test_cifar10_files_failing_the_md5_check_are_refused(tmp_path, offline):
    write_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="MD5 check"):
        load_images("cifar10", root=tmp_path, download=False)


# ---------------------------------------------------------------------- CIFAR-100, 20 superclasses
def test_cifar100_superclasses_from_its_archive(tmp_path, monkeypatch, offline):
    assert COARSE_OF_FINE[:10].tolist() == [4, 1, 14, 8, 0, 6, 7, 7, 18, 3]     # apple ... bottle, as published
    written = write_cifar100(tmp_path)
    trust(monkeypatch, tv.CIFAR100, tmp_path)
    train = load_images("cifar100-20", "train", root=tmp_path, download=False)
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (200, 3, 32, 32)
    assert train.classes == CIFAR100_COARSE and len(train.classes) == 20
    assert np.array_equal(train.labels.numpy(), written["train"][2])            # the archive's coarse labels
    assert np.bincount(train.labels.numpy()).tolist() == [10] * 20 and paired(train)
    assert np.array_equal(train.images.numpy(), written["train"][0])
    every = load_images("cifar100-20", "all", root=tmp_path, download=False)
    assert len(every) == 300 and sorted(set(every.labels.tolist())) == list(range(20))
    small = load_images("cifar100-20", "train", root=tmp_path, limit=40, download=False)
    assert np.bincount(small.labels.numpy()).tolist() == [2] * 20 and paired(small)


def test_cifar100_coarse_labels_must_agree_with_the_superclasses(tmp_path, monkeypatch, offline):
    wrong = COARSE_OF_FINE.copy()
    wrong[[0, 1]] = wrong[[1, 0]]                                                # apple and aquarium_fish swapped
    write_cifar100(tmp_path, coarse_of_fine=wrong)
    trust(monkeypatch, tv.CIFAR100, tmp_path)
    with pytest.raises(ValueError, match="disagree"):
        load_images("cifar100-20", "test", root=tmp_path, download=False)


# ---------------------------------------------------------------------- STL-10
def test_stl10_from_its_binaries(tmp_path, monkeypatch, offline):
    written = write_stl10(tmp_path)
    trust(monkeypatch, tv.STL10, tmp_path)
    train = load_images("stl10", "train", root=tmp_path, download=False)
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (20, 3, 96, 96)
    assert np.array_equal(train.images.numpy(), written["train"][0])            # the column-major layout undone
    assert np.array_equal(train.labels.numpy(), written["train"][1]) and paired(train)
    assert train.classes == STL10_CLASSES and train.labels.min() == 0 and train.labels.max() == 9
    every = load_images("stl10", "all", root=tmp_path, download=False)           # labelled train + test
    assert len(every) == 30 and torch.equal(every.images[20:], torch.from_numpy(written["test"][0]))
    small = load_images("stl10", "all", root=tmp_path, limit=10, download=False)
    assert np.bincount(small.labels.numpy()).tolist() == [1] * 10 and paired(small)


def test_stl10_without_class_names_file_and_without_unlabelled_part(tmp_path, monkeypatch, offline):
    write_stl10(tmp_path, class_names=False)
    trust(monkeypatch, tv.STL10, tmp_path)
    assert load_images("stl10", "test", root=tmp_path, download=False).classes == STL10_CLASSES
    # torchvision checks the unlabelled images (2.6 GB in the real archive) whichever split is read
    (tmp_path / "stl10_binary" / "unlabeled_X.bin").unlink()
    with pytest.raises(FileNotFoundError, match="MD5 check"):
        load_images("stl10", "test", root=tmp_path, download=False)


# ---------------------------------------------------------------------- the first download, as on Colab
class Served:
    """What ``urllib.request.urlopen`` returns, for one URL and its bytes."""

    def __init__(self, url: str, payload: bytes):
        self.url, self.length, self._stream = url, len(payload), io.BytesIO(payload)

    def read(self, size=-1) -> bytes:
        return self._stream.read(size)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name, dataset_class, write", [("cifar10", tv.CIFAR10, write_cifar10),
                                                        ("cifar100-20", tv.CIFAR100, write_cifar100),
                                                        ("stl10", tv.STL10, write_stl10)])
def test_first_download_goes_through_torchvision(name, dataset_class, write, tmp_path, monkeypatch):
    source, cache = tmp_path / "server", tmp_path / "cache"
    write(source)
    archive = tmp_path / dataset_class.filename
    with tarfile.open(archive, "w:gz") as tar:                   # the layout of the real archive
        tar.add(source / dataset_class.base_folder, arcname=dataset_class.base_folder)
    trust(monkeypatch, dataset_class, source, archive)
    requested = []

    def urlopen(request, *args, **kwargs):
        requested.append(request.full_url)
        return Served(request.full_url, archive.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_images(name, "test", root=cache, download=False)
    assert requested == []
    downloaded = load_images(name, "all", root=cache)
    assert set(requested) == {dataset_class.url}                 # torchvision's real address
    assert (cache / dataset_class.filename).is_file() and (cache / dataset_class.base_folder).is_dir()
    expected = load_images(name, "all", root=source, download=False)
    assert torch.equal(downloaded.images, expected.images) and torch.equal(downloaded.labels, expected.labels)
    assert downloaded.classes == expected.classes and paired(downloaded)
    calls = len(requested)
    load_images(name, "train", root=cache)                       # the second run reads the cache
    assert len(requested) == calls


# ---------------------------------------------------------------------- ImageNet subsets
def write_imagenet(root, wnids, per_class, seed=0):
    """``root/<split>/<wnid>/<wnid>_<k>.JPEG``: JPEGs of several sizes and colour modes, each of
    one flat colour (red = 10 x label + 5), as ImageNet holds RGB, greyscale and CMYK JPEGs."""
    rng = np.random.default_rng(seed)
    modes = ["RGB", "L", "CMYK"]
    for split, count in per_class.items():
        for label, wnid in enumerate(wnids):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for k in range(count):
                height, width = rng.integers(20, 60, size=2)
                pixels = np.empty((height, width, 3), dtype=np.uint8)
                pixels[...] = (10 * label + 5, 100, 150)
                image = Image.fromarray(pixels).convert(modes[k % 3])
                image.save(folder / f"{wnid}_{k}.JPEG", format="JPEG", quality=95)
            (folder / "notes.txt").write_text("not an image")


def test_imagenet10_with_its_built_in_wnids(tmp_path, offline):
    wnids = list(IMAGENET_SUBSETS["imagenet10"])
    assert len(wnids) == PAPER_SETTINGS["imagenet10"]["n_clusters"] and wnids == sorted(wnids)
    write_imagenet(tmp_path, wnids, {"train": 3, "val": 1})
    train = load_images("imagenet10", root=tmp_path, image_size=16)
    assert train.images.dtype == torch.uint8 and tuple(train.images.shape) == (30, 3, 16, 16)
    assert train.classes == wnids and train.labels.tolist() == np.repeat(np.arange(10), 3).tolist()
    red = train.images[:, 0, 8, 8].long()
    grey = np.arange(30) % 3 == 1                                # greyscale JPEGs lost their colour
    assert torch.all((red[~grey] - (10 * train.labels[~grey] + 5)).abs() <= 4)
    assert torch.all(train.images[grey, 0] == train.images[grey, 2])
    test = load_images("imagenet10", "test", root=tmp_path, image_size=16)       # ImageNet's val/ folder
    assert len(test) == 10 and test.labels.tolist() == list(range(10))
    assert len(load_images("imagenet10", "all", root=tmp_path, image_size=8)) == 40
    small = load_images("imagenet10", root=tmp_path, limit=10, image_size=8)
    assert np.bincount(small.labels.numpy()).tolist() == [1] * 10
    assert tuple(load_images("imagenet10", root=tmp_path / "train", limit=10).images.shape) == (10, 3, 224, 224)


def test_imagenet_dogs_and_folder_errors(tmp_path, offline):
    wnids = list(IMAGENET_SUBSETS["imagenet-dogs"])
    assert len(set(wnids)) == PAPER_SETTINGS["imagenet-dogs"]["n_clusters"] == 15
    write_imagenet(tmp_path, wnids, {"train": 1})
    dogs = load_images("imagenet-dogs", root=tmp_path, image_size=8)
    assert len(dogs) == 15 and dogs.classes == wnids and dogs.labels.tolist() == list(range(15))
    with pytest.raises(FileNotFoundError, match="val"):
        load_images("imagenet-dogs", "test", root=tmp_path)
    (tmp_path / "val").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", format="JPEG")
    with pytest.raises(FileNotFoundError, match="flat"):
        load_images("imagenet-dogs", "test", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="n02056570"):
        load_images("imagenet10", root=tmp_path)
