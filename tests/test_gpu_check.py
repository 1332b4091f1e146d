"""scripts/gpu_check.py on the CPU (``--allow-cpu``, tiny sizes): its JSON, its exit codes, and
its refusal without CUDA. CUDA is hidden from the script, so these tests run the same way on a
machine with a GPU."""
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from hc_lib.datasets import load_graph

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--allow-cpu", "--threads", "1", "--eph-internal", "8", "--eph-steps", "3", "--eph-samples", "2",
        "--images", "16", "--batch-size", "8", "--image-size", "8"]


@pytest.fixture
def gpu_check(monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)


def test_refuses_without_cuda_in_one_line(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path / "check.json")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no CUDA device" in error and "--allow-cpu" in error
    assert not (tmp_path / "check.json").exists()


def test_allow_cpu_runs_both_checks_and_writes_the_record(gpu_check, tmp_path, capsys):
    out = tmp_path / "check.json"
    assert gpu_check.main(TINY + ["--out", str(out)]) == 0
    assert "all checks passed" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["passed"] is True and record["device"] == "cpu" and record["torch"] == torch.__version__
    assert {"commit", "machine", "date"} <= set(record["provenance"])
    assert record["sizes"]["eph_internal"] == 8 and record["sizes"]["backbone"] == "resnet18"
    eph = record["checks"]["eph"]
    assert eph["passed"] and eph["same_tree"] and eph["same_score"] and eph["graph"] == "polblogs"
    assert eph["dtype"] == "float64" and [fit["device"] for fit in eph["fits"]] == ["cpu", "cpu"]
    for fit in eph["fits"]:
        assert fit["stock"]["steps_per_second"] > 0
        # on the CPU the host-noise fit is the stock fit
        assert fit["shared_noise"]["score"] == fit["stock"]["score"]
    cohi = record["checks"]["cohiclust"]
    assert cohi["passed"] and cohi["finite"] and cohi["predictions_valid"]
    assert cohi["images_per_second"] > 0 and cohi["image_shape"] == [3, 8, 8] and cohi["amp"] is False
    assert set(cohi["scores_on_random_images"]) == {"nmi", "acc", "ari", "dp"}


def test_a_failing_check_is_recorded_and_exits_1(gpu_check, tmp_path, monkeypatch):
    def broken(device, sizes, seed):
        raise RuntimeError("CUDA error: out of memory")

    monkeypatch.setattr(gpu_check, "check_cohiclust", broken)
    out = tmp_path / "check.json"
    assert gpu_check.main(TINY + ["--eph-steps", "1", "--out", str(out)]) == 1
    record = json.loads(out.read_text())
    assert record["passed"] is False and record["checks"]["eph"]["passed"] is True
    assert record["checks"]["cohiclust"]["error"] == "RuntimeError: CUDA error: out of memory"


def test_host_noise_eph_draws_the_stock_samples_on_the_cpu(gpu_check):

    adjacency, _ = load_graph("polblogs")
    sizes = {"eph_internal": 8, "eph_steps": 2, "eph_samples": 2}
    host, _ = gpu_check._fit_eph(gpu_check.HostNoiseEPH, adjacency, "cpu", sizes, 3)
    stock, _ = gpu_check._fit_eph(gpu_check.EPH, adjacency, "cpu", sizes, 3)
    assert host.history_["objective"][1:] == stock.history_["objective"][1:]
    assert (host.tree_.parent == stock.tree_.parent).all()
    with pytest.raises(ValueError, match="n_restarts=0"):
        gpu_check.HostNoiseEPH(n_internal=8, n_steps=1, n_restarts=1, progress=False).fit(adjacency)
