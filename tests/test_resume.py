"""Checkpoint and resume of EPH and FPH: a fit stopped after k steps and started again ends with
the same tree, history and score as one that never stopped (CPU, bit for bit)."""
import pytest
import torch

from hc_lib.datasets import load_graph
from hc_lib.eph import EPH, FPH, initial_tree
from random_graphs import random_graph

HISTORY_KEYS = ("step", "score", "best", "objective")


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def citeseer():
    adjacency, _ = load_graph("citeseer")
    return adjacency, initial_tree(adjacency, 24)


def stopped_at(cls, stop_step, stop_restart=0):
    """A subclass whose fit dies (like a killed process) before the given step of a run."""

    class Stopped(cls):
        def _step(self, run, step):
            if step == stop_step and run.restart == stop_restart:
                raise Stop
            return super()._step(run, step)

    Stopped.__name__ = cls.__name__          # the checkpoint file is named after the learner
    return Stopped


def assert_same_fit(resumed, reference):
    assert resumed.tree_.parent.tolist() == reference.tree_.parent.tolist()
    assert resumed.score_ == reference.score_
    for key in HISTORY_KEYS:
        assert resumed.history_[key] == pytest.approx(reference.history_[key], rel=0, abs=0, nan_ok=True)
    assert resumed.restart_scores_ == reference.restart_scores_
    assert torch.equal(resumed.hierarchy_.A, reference.hierarchy_.A)
    assert torch.equal(resumed.hierarchy_.B, reference.hierarchy_.B)


CASES = {
    "EPH dasgupta, fresh optimiser at resets": (EPH, dict(objective="dasgupta", n_samples=3, reset_every=6)),
    "EPH tsd, Adamax state kept at resets": (EPH, dict(objective="tsd", n_samples=3, reset_every=6,
                                                       reset_optimizer=False)),
    "EPH with pair sampling": (EPH, dict(objective="dasgupta", n_samples=2, reset_every=6, n_pairs=500)),
    "FPH dasgupta": (FPH, dict(objective="dasgupta")),
    "FPH tsd": (FPH, dict(objective="tsd")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_stopped_fit_resumes_to_the_same_result(citeseer, tmp_path, case):
    adjacency, init = citeseer
    cls, settings = CASES[case]
    common = dict(n_internal=24, n_steps=16, checkpoint_every=5, random_state=3, progress=False, **settings)
    reference = cls(**common).fit(adjacency, init_tree=init)
    with pytest.raises(Stop):
        stopped_at(cls, stop_step=13)(checkpoint_dir=tmp_path, **common).fit(adjacency, init_tree=init)
    assert list(tmp_path.glob("*.pt"))                    # a checkpoint was left at step 10
    resumed = cls(checkpoint_dir=tmp_path, **common).fit(adjacency, init_tree=init)
    assert_same_fit(resumed, reference)


def test_a_fit_stopped_during_a_restart_resumes_there(tmp_path):
    W = random_graph(7, 5)
    common = dict(n_internal=10, n_steps=12, n_samples=3, n_restarts=2, polish=True, checkpoint_every=4,
                  random_state=1, progress=False)
    reference = EPH(**common).fit(W)
    with pytest.raises(Stop):
        stopped_at(EPH, stop_step=7, stop_restart=1)(checkpoint_dir=tmp_path, **common).fit(W)
    resumed = EPH(checkpoint_dir=tmp_path, **common).fit(W)
    assert_same_fit(resumed, reference)
    again = EPH(checkpoint_dir=tmp_path, **common).fit(W)    # a finished fit is read back, not redone
    assert_same_fit(again, reference)


def test_a_checkpoint_of_other_settings_or_data_is_refused(tmp_path):
    W = random_graph(6, 0)
    EPH(n_internal=5, n_steps=4, checkpoint_dir=tmp_path, progress=False).fit(W)
    with pytest.raises(ValueError, match="other settings.*n_samples"):
        EPH(n_internal=5, n_steps=4, n_samples=3, checkpoint_dir=tmp_path, progress=False).fit(W)
    with pytest.raises(ValueError, match="other data"):
        EPH(n_internal=5, n_steps=4, checkpoint_dir=tmp_path, progress=False).fit(random_graph(6, 1))
    # another objective writes its own file beside it
    EPH("tsd", n_internal=5, n_steps=2, checkpoint_dir=tmp_path, progress=False).fit(W)
    assert sorted(path.name for path in tmp_path.glob("*.pt")) == ["eph_dasgupta.pt", "eph_tsd.pt"]
