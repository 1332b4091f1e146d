"""Saved and shipped CoHiClust models: an exact round trip, clear errors on bad files, the shipped
model's checksum and scores, and notebook 08 still training when told to (pretrained=False)."""
import dataclasses
import hashlib
import json
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import papermill
import pytest
import torch

from hc_lib.cohiclust import pretrained
from hc_lib.cohiclust.checkpoint import CHECKPOINT_NAME, MODEL_FORMAT
from hc_lib.cohiclust.data import load_images
from hc_lib.cohiclust.pretrained import MODELS, file_sha256, pretrained_model, shipped_for, shipped_path
from hc_lib.cohiclust.training import CoHiClust
from hc_lib.datasets import data_dir
from image_support import needs_fashion

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parent.parent
TINY = {"depth": 2, "n_clusters": 3, "backbone": "small-cnn", "pretrain_epochs": 1, "epochs": 2,
        "batch_size": 16, "prune_start": 1, "crop_scale": (0.5, 1.0), "eval_size": 24, "progress": False}




@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A model fitted for three epochs on 40 synthetic images (a bright quadrant per class), saved."""
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    images = (60 * torch.rand(40, 1, 12, 12, generator=generator)).to(torch.uint8)
    for cls, (row, col) in enumerate([(0, 0), (0, 6), (6, 0), (6, 6)]):
        images[labels == cls, :, row:row + 6, col:col + 6] += 180
    folder = tmp_path_factory.mktemp("tiny")
    model = CoHiClust(**TINY, checkpoint_dir=folder / "run").fit(images, labels.numpy())
    return model, model.save(folder / "model.pt"), images, labels.numpy()


def test_round_trip_is_exact(tiny):
    model, path, images, labels = tiny
    loaded = CoHiClust.load(path)
    assert torch.equal(loaded.predict_proba(images), model.predict_proba(images))
    assert np.array_equal(loaded.predict(images), model.predict(images))
    assert loaded.score(images, labels) == model.score(images, labels)
    assert np.array_equal(loaded.tree_.parent, model.tree_.parent)
    assert np.array_equal(loaded.tree_.heights, model.tree_.heights)
    assert np.array_equal(loaded.tree_leaf_of_, model.tree_leaf_of_)
    assert torch.equal(loaded.leaf_mask_, model.leaf_mask_)
    assert loaded.history_ == model.history_ and loaded.epochs_done_ == model.epochs_done_ == 3
    # the settings come back, less where the run was checkpointed
    assert loaded.get_params() == {**model.get_params(), "checkpoint_dir": None}


def test_loading_leaves_torch_random_state_alone(tiny):
    _, path, _, _ = tiny
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    CoHiClust.load(path)
    assert torch.equal(torch.rand(3), expected)


def test_the_file_is_plain_data(tiny):
    _, path, _, _ = tiny
    state = torch.load(path, weights_only=True)
    assert state["format"] == MODEL_FORMAT and state["in_channels"] == 1 and state["epochs_done"] == 3
    assert set(state) == {"format", "settings", "in_channels", "model", "leaf_mask", "history", "epochs_done"}


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        CoHiClust(**TINY).save(tmp_path / "model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_bad_files_give_errors_naming_them(tiny, tmp_path):
    model, path, _, _ = tiny
    missing = tmp_path / "missing.pt"
    with pytest.raises(FileNotFoundError, match=f"no saved CoHiClust model at {missing}"):
        CoHiClust.load(missing)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=f"{truncated} is not a saved CoHiClust model.*truncated or corrupt"):
        CoHiClust.load(truncated)
    text = tmp_path / "notes.pt"
    text.write_text("not a model\n")
    with pytest.raises(ValueError, match=f"{text} is not a saved CoHiClust model"):
        CoHiClust.load(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match=f"{other} is not a saved CoHiClust model \\(format None"):
        CoHiClust.load(other)
    # a training checkpoint resumes a run through fit(checkpoint_dir=...); it is not a saved model
    checkpoint = Path(model.checkpoint_dir) / CHECKPOINT_NAME
    with pytest.raises(ValueError, match=f"{checkpoint} is not a saved CoHiClust model"):
        CoHiClust.load(checkpoint)
    incomplete = tmp_path / "incomplete.pt"
    state = torch.load(path, weights_only=True)
    del state["leaf_mask"]
    torch.save(state, incomplete)
    with pytest.raises(ValueError, match=f"{incomplete} is an incomplete CoHiClust model: no leaf_mask"):
        CoHiClust.load(incomplete)


def test_registry_matches_the_shipped_files():
    assert shipped_for("fashion-mnist") is MODELS["fashion-mnist"] and shipped_for("mnist-5k") is None
    sums = dict(line.split()[::-1] for line in (ROOT / "data" / "SHA256SUMS").read_text().splitlines())
    for name, entry in MODELS.items():
        path = shipped_path(name)
        assert path == data_dir() / entry.file and path.is_file(), f"{entry.file} is not in the package"
        assert file_sha256(path) == entry.sha256 == sums[entry.file]
        assert entry.record and (ROOT / entry.record).is_file()
        record = json.loads((ROOT / entry.record).read_text())
        # the registry copies what the run recorded when it made the model
        assert record["saved_model"]["sha256"] == entry.sha256
        assert record["scores"] == entry.scores and record["saved_model"]["check"]["scores"] == entry.check["scores"]
        assert (record["dataset"], record["profile"], record["seed"]) == (entry.dataset, entry.profile, entry.seed)
        assert {key: record["settings"][key] for key in entry.data} == entry.data
        assert {key: record["settings"][key] for key in entry.settings} == json.loads(json.dumps(entry.settings))
        assert record["fit_seconds"] == entry.fit_seconds


def test_the_shipped_model_is_its_sweeps_seed_0():
    """The shipped model's run and seed 0 of sweeps/cohiclust_hour_train.yaml are one computation
    (same settings, seed, CPU kind and thread count): equal histories and scores, not just close."""
    entry = MODELS["fashion-mnist"]
    shipped = json.loads((ROOT / entry.record).read_text())
    sweep = ROOT / "results" / "runs" / "cohiclust_hour_train"
    swept = next(run for run in map(json.loads, (path.read_text() for path in sweep.glob("*/metrics.json")))
                 if run["seed"] == entry.seed)
    assert swept["settings"] == shipped["settings"]
    for key in ("machine", "torch_threads", "torch"):
        assert swept["provenance"][key] == shipped["provenance"][key], key
    without_time = [[{key: value for key, value in epoch.items() if key != "seconds"} for epoch in record["history"]]
                    for record in (shipped, swept)]
    assert without_time[0] == without_time[1]
    assert (shipped["scores"], shipped["scores_all"]) == (swept["scores"], swept["scores_all"])


def test_unknown_name_and_wrong_checksum(monkeypatch):
    with pytest.raises(ValueError, match="no shipped model 'cifar10'; shipped: fashion-mnist"):
        pretrained_model("cifar10")
    wrong = dataclasses.replace(MODELS["fashion-mnist"], sha256="0" * 64)
    monkeypatch.setitem(pretrained.MODELS, "fashion-mnist", wrong)
    with pytest.raises(OSError, match="checksum mismatch for .*cohiclust_fashion-mnist_hour-train.pt: "
                                      "sha256 [0-9a-f]{64}, expected 0{64}"):
        pretrained_model()


def test_missing_shipped_file(monkeypatch, tmp_path):
    monkeypatch.setenv("HC_LIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="the shipped model 'fashion-mnist' is not installed"):
        pretrained_model()


@needs_fashion
def test_shipped_model_scores_as_when_it_was_saved():
    entry = MODELS["fashion-mnist"]
    model = pretrained_model()
    assert model.epochs_done_ == model.pretrain_epochs + model.epochs and int(model.leaf_mask_.sum()) == 10
    assert {key: model.get_params()[key] for key in entry.settings} == entry.settings
    test = load_images("fashion-mnist", entry.check["split"])
    first = entry.check["first"]
    scores = model.score(test.images[:first], test.labels[:first])
    for metric in ("nmi", "acc", "ari", "dp"):
        assert scores[metric] == pytest.approx(entry.check["scores"][metric], abs=1e-6), metric


@pytest.mark.slow
def test_notebook_trains_when_not_pretrained(tmp_path):
    """Notebook 08 end to end with pretrained=False: one tree epoch on mnist-5k (about 30 s)."""
    notebook = tmp_path / "08.ipynb"
    nbformat.write(jupytext.read(ROOT / "notebooks" / "08_cohiclust.md"), notebook)
    parameters = {"dataset": "mnist-5k", "pretrained": False, "depth": 2, "n_clusters": 4, "pretrain_epochs": 0,
                  "epochs": 1, "device": "cpu", "save_model": str(tmp_path / "model.pt"),
                  "output": str(tmp_path / "record.json")}
    papermill.execute_notebook(notebook, tmp_path / "out.ipynb", parameters=parameters, cwd=str(tmp_path),
                               progress_bar=False)
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["pretrained"] is False and record["model"] is None and record["epochs_done"] == 1
    assert record["fit_seconds"] > 0 and record["n_train"] == 4000 and record["n_scored"] == 1000
    saved = record["saved_model"]
    assert saved["reload_max_difference"] == 0
    assert saved["sha256"] == hashlib.sha256((tmp_path / "model.pt").read_bytes()).hexdigest()
    assert CoHiClust.load(tmp_path / "model.pt").epochs_done_ == 1
