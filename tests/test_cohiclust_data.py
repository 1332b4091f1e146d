"""CoHiClust data: offline loaders, stratified subsets, CIFAR-100 superclasses, augmentations."""
import gzip
import math
import pickle
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.datasets.mnist import read_image_file, read_label_file

from hc_lib.cohiclust import data
from hc_lib.cohiclust.augment import Augmentation, _blend, _grey, _shift_hue, augmentation
from hc_lib.cohiclust.data import (CIFAR100_SUPERCLASSES, DATASET_NAMES, PAPER_SETTINGS, ImageSet,
                                   cifar100_coarse_map, load_images, stratified_subset)
from image_support import needs_fashion

pytestmark = pytest.mark.usefixtures("one_thread")




def check_image_set(images: ImageSet, n, shape, n_classes):
    assert isinstance(images, ImageSet) and len(images) == n
    assert images.images.dtype == torch.uint8 and tuple(images.images.shape) == (n, *shape)
    assert images.labels.dtype == torch.int64 and images.labels.shape == (n,)
    assert int(images.labels.min()) == 0 and int(images.labels.max()) == n_classes - 1
    assert len(images.classes) == n_classes


# ---------------------------------------------------------------------- offline loaders
def test_digits_splits_partition_the_images():
    every = load_images("digits", "all")
    check_image_set(every, 1797, (1, 8, 8), 10)
    assert int(every.images.max()) == 255 and int(every.images.min()) == 0      # 16 grey levels -> 0..255
    train, test = load_images("digits", "train"), load_images("digits", "test")
    assert len(train) + len(test) == 1797 and len(test) == round(0.2 * 1797)
    # the two splits are disjoint and cover the set: their images as a multiset equal all of it
    def rows(s):
        return sorted(map(bytes, s.images.reshape(len(s), -1).numpy()))
    assert sorted(rows(train) + rows(test)) == rows(every)
    share = np.bincount(test.labels.numpy()) / np.bincount(every.labels.numpy())
    assert np.all(np.abs(share - 0.2) < 0.02)                                   # stratified


def test_mnist_5k():
    train, test = load_images("mnist-5k", "train"), load_images("mnist-5k", "test")
    check_image_set(train, 4000, (1, 28, 28), 10)
    check_image_set(test, 1000, (1, 28, 28), 10)
    assert np.bincount(test.labels.numpy()).tolist() == [100] * 10
    assert int(train.images.max()) == 255
    assert len(load_images("mnist-5k", "all")) == 5000


@needs_fashion
def test_fashion_mnist_from_the_debian_package(tmp_path):
    test = load_images("fashion-mnist", "test")
    check_image_set(test, 10_000, (1, 28, 28), 10)
    assert test.classes[0] == "T-shirt/top" and test.classes[9] == "Ankle boot"
    assert np.bincount(test.labels.numpy()).tolist() == [1000] * 10
    # our IDX reader agrees with torchvision's on the uncompressed files
    for kind in ("images-idx3", "labels-idx1"):
        with gzip.open(data.FASHION_MNIST_DIR / f"t10k-{kind}-ubyte.gz") as source, \
                open(tmp_path / kind, "wb") as target:
            shutil.copyfileobj(source, target)
    assert torch.equal(read_image_file(str(tmp_path / "images-idx3"))[:, None], test.images)
    assert torch.equal(read_label_file(str(tmp_path / "labels-idx1")), test.labels)
    small = load_images("fashion-mnist", "test", limit=500)
    assert np.bincount(small.labels.numpy()).tolist() == [50] * 10


def test_limit_is_a_stratified_deterministic_subset():
    first, again = load_images("digits", "train", limit=300), load_images("digits", "train", limit=300)
    assert len(first) == 300 and torch.equal(first.images, again.images)
    counts = np.bincount(first.labels.numpy())
    assert counts.max() - counts.min() <= 2


def test_stratified_subset():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    chosen = stratified_subset(labels, 10)
    assert np.bincount(labels[chosen]).tolist() == [5, 3, 2]
    assert np.all(np.diff(chosen) > 0)
    assert set(chosen) <= set(stratified_subset(labels, 40))                    # nested
    assert not np.array_equal(stratified_subset(labels, 10, seed=1), chosen)
    assert np.array_equal(stratified_subset(labels, 100), np.arange(100))
    for bad in (0, 101):
        with pytest.raises(ValueError, match="subset size"):
            stratified_subset(labels, bad)


# ---------------------------------------------------------------------- CIFAR-100 superclasses
def test_cifar100_superclasses_are_20_groups_of_5():
    fine = sorted(name for names in CIFAR100_SUPERCLASSES.values() for name in names)
    assert len(fine) == len(set(fine)) == 100
    mapping = cifar100_coarse_map(fine)
    assert sorted(set(mapping.tolist())) == list(range(20))                     # onto 20 superclasses
    assert np.bincount(mapping).tolist() == [5] * 20
    # the dataset's own coarse labels of its first ten fine classes (apple ... bottle)
    assert mapping[:10].tolist() == [4, 1, 14, 8, 0, 6, 7, 7, 18, 3]
    with pytest.raises(ValueError, match="without a superclass"):
        cifar100_coarse_map(fine[:99] + ["unicorn"])


def test_cifar100_coarse_labels_checked_against_the_archive(tmp_path):
    fine = sorted(name for names in CIFAR100_SUPERCLASSES.values() for name in names)
    fine_labels = np.array([0, 2, 99, 50])
    coarse = cifar100_coarse_map(fine)[fine_labels]
    (tmp_path / "cifar-100-python").mkdir()
    fake = SimpleNamespace(train=True, train_list=[["train", None]], root=str(tmp_path),
                           base_folder="cifar-100-python")
    with open(tmp_path / "cifar-100-python" / "train", "wb") as stream:
        pickle.dump({"coarse_labels": coarse.tolist()}, stream)
    labels, names = data._coarse_labels([fake], fine_labels, fine)
    assert labels.tolist() == coarse.tolist() and names == sorted(CIFAR100_SUPERCLASSES)
    with open(tmp_path / "cifar-100-python" / "train", "wb") as stream:
        pickle.dump({"coarse_labels": (coarse + 1).tolist()}, stream)
    with pytest.raises(ValueError, match="disagree"):
        data._coarse_labels([fake], fine_labels, fine)


# ---------------------------------------------------------------------- errors
def test_unknown_names_and_bad_arguments():
    with pytest.raises(ValueError, match="known: fashion-mnist, mnist"):
        load_images("cifar")
    with pytest.raises(ValueError, match="split"):
        load_images("digits", "validation")
    with pytest.raises(ValueError, match="limit"):
        load_images("digits", limit=0)


def test_missing_datasets_say_how_to_get_them(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="download=True"):
        load_images("cifar10", root=tmp_path, download=False)
    monkeypatch.setattr(data, "FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_images("fashion-mnist", root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="ImageNet"):
        load_images("imagenet10")
    with pytest.raises(FileNotFoundError, match="n02056570"):             # the built-in WNIDs
        load_images("imagenet10", root=tmp_path)
    with pytest.raises(ValueError, match="10 classes"):
        load_images("imagenet10", root=tmp_path, wnids=["n00000000"] * 10)
    with pytest.raises(FileNotFoundError, match="n00000000"):
        load_images("imagenet10", root=tmp_path, wnids=[f"n0000000{i}" for i in range(10)])


def test_imagenet_subset_from_a_folder(tmp_path):
    wnids = [f"n{i:08d}" for i in range(15)]
    for label, wnid in enumerate(wnids):
        (tmp_path / "train" / wnid).mkdir(parents=True)
        for k in range(2):
            pixels = np.full((20 + 5 * k, 30, 3), 10 * label, dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "train" / wnid / f"{wnid}_{k}.JPEG", format="PNG")
        (tmp_path / "train" / wnid / "notes.txt").write_text("not an image")
    dogs = load_images("imagenet-dogs", root=tmp_path, wnids=wnids, image_size=16)
    check_image_set(dogs, 30, (3, 16, 16), 15)
    assert dogs.classes == wnids
    assert np.array_equal(dogs.images[:, 0, 8, 8].numpy(), 10 * dogs.labels.numpy())   # label order kept
    assert len(load_images("imagenet-dogs", root=tmp_path / "train", wnids=wnids, limit=15, image_size=8)) == 15


def test_paper_settings():
    assert set(PAPER_SETTINGS) <= set(DATASET_NAMES)
    assert PAPER_SETTINGS["stl10"]["backbone"] == "resnet34" and PAPER_SETTINGS["stl10"]["n_leaves"] == 16
    assert PAPER_SETTINGS["cifar10"]["batch_size"] == 512 and PAPER_SETTINGS["imagenet10"]["batch_size"] == 128
    assert PAPER_SETTINGS["imagenet-dogs"]["n_clusters"] == 15
    assert PAPER_SETTINGS["fashion-mnist"]["pretrain_epochs"] == 200 and PAPER_SETTINGS["mnist"]["epochs"] == 100


# ---------------------------------------------------------------------- augmentations
def test_augmentation_shape_range_and_seed():
    x = torch.rand(64, 3, 32, 32)
    first = augmentation("cifar10", generator=3)(x)
    assert first.shape == x.shape and first.dtype == x.dtype
    assert float(first.min()) >= 0 and float(first.max()) <= 1
    assert torch.equal(first, augmentation("cifar10", generator=3)(x))          # repeatable
    assert not torch.equal(first, augmentation("cifar10", generator=4)(x))
    same = augmentation(32, generator=0)(x[:1].expand(16, -1, -1, -1).contiguous())
    assert len({tuple(view.flatten()[:50].tolist()) for view in same}) == 16    # each image its own draw
    grey = augmentation("fashion-mnist", generator=0)(torch.rand(8, 1, 28, 28))
    assert grey.shape == (8, 1, 28, 28) and float(grey.max()) <= 1
    uint8 = augmentation(8, generator=0)(torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8))
    assert uint8.dtype == torch.float32 and float(uint8.max()) <= 1


def test_augmentation_size_and_errors():
    assert augmentation(load_images("digits", "test", limit=20)).size == 8
    assert augmentation("stl10").size == 96 and augmentation("mnist-5k").size == 28
    with pytest.raises(ValueError, match="unknown image dataset"):
        augmentation("cifar")
    with pytest.raises(ValueError, match="crop_scale"):
        augmentation(32, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="channels"):
        augmentation(32)(torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match="dtype"):
        augmentation(32)(torch.zeros(2, 3, 32, 32, dtype=torch.int64))


def test_crops_are_torchvision_resized_crops():
    x = torch.rand(12, 3, 24, 20)
    boxes = Augmentation(16, generator=5).crop_boxes(12, 24, 20)
    left, top, width, height = boxes.T
    assert torch.all((left >= 0) & (top >= 0) & (left + width <= 20) & (top + height <= 24))
    area = width * height / (24 * 20)
    assert torch.all((area > 0.06) & (area < 1.01))
    assert torch.all((width / height > 0.7) & (width / height < 1.4))
    plain = Augmentation(16, generator=5, flip=0, jitter=0, grey=0)(x)
    for i, (l, t, w, h) in enumerate(boxes.int().tolist()):
        expected = TF.resized_crop(x[i], t, l, h, w, [16, 16], antialias=False)
        assert torch.allclose(plain[i], expected, atol=1e-5)
    flipped = Augmentation(16, generator=5, flip=1, jitter=0, grey=0)(x)
    assert torch.allclose(flipped, plain.flip(-1), atol=1e-5)
    whole = Augmentation(20, crop_scale=(1, 1), generator=0, flip=0, jitter=0, grey=0)(x[:, :, :20])
    assert torch.allclose(whole, x[:, :, :20], atol=1e-6)


def test_colour_operations_match_torchvision():
    x = torch.rand(5, 3, 9, 9)
    for factor in (0.6, 1.3):
        assert torch.allclose(_blend(x, _grey(x), factor), TF.adjust_saturation(x, factor), atol=1e-5)
        assert torch.allclose(_blend(x, _grey(x).mean(dim=(1, 2, 3), keepdim=True), factor),
                              TF.adjust_contrast(x, factor), atol=1e-5)
    for shift in (-0.1, 0.05):
        assert torch.allclose(_shift_hue(x, torch.full((5,), shift)), TF.adjust_hue(x, shift), atol=1e-4)
    assert torch.allclose(_grey(x), TF.rgb_to_grayscale(x), atol=1e-6)
    always_grey = Augmentation(9, crop_scale=(1, 1), generator=0, flip=0, jitter=0, grey=1)(x)
    assert torch.allclose(always_grey, TF.rgb_to_grayscale(x).expand(-1, 3, -1, -1), atol=1e-6)
    bright = Augmentation(9, crop_scale=(1, 1), generator=0, flip=0, jitter=1, strength=(0.4, 0, 0, 0), grey=0)
    ratio = bright(torch.full((200, 3, 9, 9), 0.5)) / 0.5                      # brightness factor per image
    assert torch.allclose(ratio.amin(dim=(1, 2, 3)), ratio.amax(dim=(1, 2, 3)))
    assert 0.6 <= float(ratio.min()) < 0.7 and 1.3 < float(ratio.max()) <= 1.4
    assert math.isclose(float(ratio[:, 0, 0, 0].mean()), 1.0, abs_tol=0.05)
