"""The CoHiClust network and estimator: shapes, pruning schedule, exact resume, bad settings."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from hc_lib.cohiclust.checkpoint import CHECKPOINT_NAME
from hc_lib.cohiclust.model import CoHiClustNet, make_backbone
from hc_lib.cohiclust.training import DATA_KEYS, PROFILES, CoHiClust, profile_settings

ROOT = Path(__file__).resolve().parent.parent

TINY = {"depth": 2, "n_clusters": 3, "backbone": "small-cnn", "pretrain_epochs": 1, "epochs": 3,
        "batch_size": 16, "prune_start": 1, "crop_scale": (0.5, 1.0), "eval_size": 24, "progress": False}


@pytest.fixture(scope="module")
def tiny_data():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    # four classes: a bright quadrant each, plus noise
    images = (60 * torch.rand(40, 1, 12, 12, generator=generator)).to(torch.uint8)
    for cls, (row, col) in enumerate([(0, 0), (0, 6), (6, 0), (6, 6)]):
        images[labels == cls, :, row:row + 6, col:col + 6] += 180
    return images, labels.numpy()


def test_resnet_stems():
    net, features = make_backbone("resnet18", in_channels=1)
    assert features == 512 and isinstance(net.maxpool, nn.Identity)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1) and net.conv1.in_channels == 1
    imagenet, _ = make_backbone("resnet18", in_channels=3, cifar_stem=False)
    assert imagenet.conv1.kernel_size == (7, 7) and isinstance(imagenet.maxpool, nn.MaxPool2d)
    p_left, z = CoHiClustNet("resnet18", depth=3, in_channels=1)(torch.rand(2, 1, 16, 16))
    assert p_left.shape == (2, 7) and z.shape == (2, 128)
    assert torch.all((p_left >= 0) & (p_left <= 1))


def test_fit_prunes_on_schedule_and_predicts_kept_leaves(tiny_data):
    images, labels = tiny_data
    model = CoHiClust(**TINY).fit(images, labels)
    history = model.history_
    assert [record["phase"] for record in history] == ["pretrain", "tree", "tree", "tree"]
    assert [record["n_leaves"] for record in history] == [4, 3, 3, 3]   # one prune after tree epoch 1
    assert "cohi" not in history[0] and all(np.isfinite(r["loss"]) for r in history)
    assert {"nmi", "acc", "ari", "dp"} <= set(history[-1])
    assert int(model.leaf_mask_.sum()) == 3
    probs = model.predict_proba(images)
    assert probs.shape == (40, 4)
    assert torch.all(probs[:, ~model.leaf_mask_] == 0)
    assert torch.all(probs.sum(dim=1) <= 1 + 1e-6)
    assert set(model.predict(images).tolist()) <= set(torch.nonzero(model.leaf_mask_).flatten().tolist())
    assert model.tree_.n_leaves == 3
    assert 0 <= model.score(images, labels)["dp"] <= 1


def test_resume_equals_an_uninterrupted_run(tiny_data, tmp_path):
    images, labels = tiny_data
    straight = CoHiClust(**TINY, checkpoint_dir=tmp_path / "straight").fit(images, labels)
    first = CoHiClust(**TINY, checkpoint_dir=tmp_path / "split").fit(images, labels, max_epochs=2)
    assert first.epochs_done_ == 2 and len(first.history_) == 2
    assert (tmp_path / "split" / CHECKPOINT_NAME).is_file()
    resumed = CoHiClust(**TINY, checkpoint_dir=tmp_path / "split").fit(images, labels)
    assert resumed.epochs_done_ == 4
    for name, tensor in straight.model_.state_dict().items():
        assert torch.equal(tensor, resumed.model_.state_dict()[name]), name
    assert torch.equal(straight.leaf_mask_, resumed.leaf_mask_)

    def without_time(history):
        return [{k: v for k, v in record.items() if k != "seconds"} for record in history]
    assert without_time(straight.history_) == without_time(resumed.history_)
    # a finished run resumes to itself without training
    again = CoHiClust(**TINY, checkpoint_dir=tmp_path / "split").fit(images, labels)
    assert torch.equal(again.predict_proba(images), resumed.predict_proba(images))
    # another seed gives another run
    other = CoHiClust(**{**TINY, "random_state": 1}).fit(images, labels)
    assert not torch.equal(other.predict_proba(images), resumed.predict_proba(images))


def test_resume_with_other_settings_is_refused(tiny_data, tmp_path):
    images, _ = tiny_data
    CoHiClust(**TINY, checkpoint_dir=tmp_path).fit(images, max_epochs=1)
    with pytest.raises(ValueError, match="other settings.*lr"):
        CoHiClust(**{**TINY, "lr": 0.01}, checkpoint_dir=tmp_path).fit(images)


@pytest.mark.parametrize("settings, message", [
    ({"depth": 0}, "depth must be at least 1"),
    ({"n_clusters": 5}, "n_clusters must be in \\[2, 2\\^depth = 4\\]"),
    ({"backbone": "vgg"}, "unknown backbone 'vgg'"),
    ({"n_clusters": 2, "epochs": 1}, "needs epochs >= 2"),
    ({"batch_size": 64}, "at least batch_size"),
])
def test_bad_settings_raise(tiny_data, settings, message):
    images, _ = tiny_data
    with pytest.raises(ValueError, match=message):
        CoHiClust(**{**TINY, **settings}).fit(images)


def test_pruning_schedule_boundary(tiny_data):
    # prune_start 1: a leaf goes after tree epochs 1 and 2, so two epochs prune 4 leaves to 2
    images, _ = tiny_data
    model = CoHiClust(**{**TINY, "n_clusters": 2, "epochs": 2}).fit(images)
    assert int(model.leaf_mask_.sum()) == 2
    assert set(model.predict(images)) <= set(torch.nonzero(model.leaf_mask_).flatten().tolist())


def test_bad_input_and_unfitted_use_raise(tiny_data):
    images, labels = tiny_data
    with pytest.raises(ValueError, match="shape \\(N, C, H, W\\)"):
        CoHiClust(**TINY).fit(images[:, 0])
    with pytest.raises(ValueError, match="one entry per image"):
        CoHiClust(**TINY).fit(images, labels[:5])
    with pytest.raises(ValueError, match="not fitted"):
        CoHiClust(**TINY).predict(images)


def test_profiles():
    assert set(PROFILES) == {"quick", "long", "hour", "hour-all", "hour-train", "full"}
    assert profile_settings("full")["backbone"] == "resnet18"
    assert profile_settings("full", "cifar10")["backbone"] == "resnet50"
    # long: the quick profile (its data too), trained 10 + 50 epochs
    assert profile_settings("long") == {**profile_settings("quick"), "pretrain_epochs": 10, "epochs": 50}
    assert profile_settings("hour") == {**profile_settings("long"), "epochs": 40, "train_limit": 40_000}
    for profile, dataset in [("quick", "fashion-mnist"), ("long", "fashion-mnist"), ("hour-all", "fashion-mnist"),
                             ("hour-train", "fashion-mnist"),
                             ("full", "fashion-mnist"), ("full", "stl10")]:
        settings = {k: v for k, v in profile_settings(profile, dataset).items() if k not in DATA_KEYS}
        CoHiClust(**settings)._check()          # a consistent pruning schedule
    with pytest.raises(ValueError, match="unknown profile"):
        profile_settings("huge")


@pytest.mark.parametrize("profile", ["hour-all", "hour-train"])
def test_a_profile_is_what_its_sweep_ran(profile):
    """The committed runs of sweeps/cohiclust_hour_all.yaml and _hour_train.yaml set the hour
    profile's settings one by one in notebook 08; the profile must be the same settings."""
    sweep = yaml.safe_load((ROOT / "sweeps" / f"cohiclust_{profile.replace('-', '_')}.yaml").read_text())
    ran = sweep["parameters"]
    overrides = {key: value for key, value in ran.items() if key in PROFILES[ran["profile"]]}
    assert profile_settings(ran["profile"], **overrides) == profile_settings(profile)


def test_profile_overrides():
    assert profile_settings("hour", train_limit="all", epochs=None) == {**PROFILES["hour"], "train_limit": None}
    assert profile_settings("quick", train_limit=500)["train_limit"] == 500
    for limit in ("some", 0, 2.5, True):
        with pytest.raises(ValueError, match=f'train_limit must be a positive number of images or "all", '
                                             f'got {limit!r}'):
            profile_settings("quick", train_limit=limit)
    with pytest.raises(ValueError, match="a profile has no setting 'learning_rate'"):
        profile_settings("quick", learning_rate=0.1)
