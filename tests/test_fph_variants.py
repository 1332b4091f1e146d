"""scripts/fph_variants.py: the declared variants, the rules that read a run's history, and a
tiny end-to-end run (zoo, 3 epochs) that writes, resumes and reports."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "fph_variants.py"
_spec = importlib.util.spec_from_file_location("hc_book_fph_variants_script", SCRIPT)
variants = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(variants)


def test_every_variant_is_declared_in_the_docstring_and_has_runs_or_a_rule():
    assert list(variants.VARIANTS) == list("abcdefg")
    lines = [line.split()[0] for line in variants.__doc__.splitlines() if line[:2].strip() in variants.VARIANTS
             and line[1:2] == " "]
    assert lines == list("abcdefg")
    assert set(variants.RUNS) | {"b", "c"} == set(variants.VARIANTS)
    assert [options["random_state"] for _, options in variants.RUNS["d"]] == [0, 1, 2]


@pytest.mark.parametrize("objective, variant, epoch, score", [
    ("dasgupta", "b", 3, 11.0),           # the last epoch, whatever it scored
    ("dasgupta", "c", 2, 9.5),            # the best of epochs 1.., the start left out
    ("tsd", "c", 1, 12.0),                # TSD: higher is better
])
def test_history_rules(objective, variant, epoch, score):
    a_record = {"objective": objective, "runs": [{"history": {"score": [10.0, 12.0, 9.5, 11.0]}}]}
    run = variants._from_history(a_record, variant)
    assert run["epoch"] == epoch
    if objective == "dasgupta":
        assert run["score"] == score
    else:                                 # correct TSD only: not compared with the poster
        assert run["score"] is None and run["tsd_correct"] == score


def test_a_tiny_run_writes_resumes_and_reports(tmp_path, monkeypatch):
    monkeypatch.setattr(variants, "EPOCHS", 3)
    monkeypatch.setattr(variants, "OUT", tmp_path / "fph_variants")
    monkeypatch.setattr(variants, "PUBLISHED_RUNS", (tmp_path / "none",))
    monkeypatch.setattr(variants, "REPORT", tmp_path / "fph_variants.md")
    monkeypatch.setattr(variants, "ROOT", tmp_path)
    variants.run_cell("zoo", "dasgupta")
    paths = sorted((tmp_path / "fph_variants").glob("zoo__dasgupta__*.json"))
    assert [path.stem[-1] for path in paths] == list("abcdefg")
    records = {path.stem[-1]: json.loads(path.read_text()) for path in paths}
    assert all(record["complete"] and record["provenance"]["commit"] is not None for record in records.values())
    assert len(records["d"]["runs"]) == 3 and len(records["g"]["runs"][0]["restart_scores"]) == 3
    assert records["a"]["score"] <= records["a"]["start"]["score"] + 1e-9     # the start is a candidate
    assert records["d"]["score"] == min(run["score"] for run in records["d"]["runs"])
    assert records["a"]["published_fph"] == 56.13                              # the poster's cell, a reference
    stamps = [path.stat().st_mtime_ns for path in paths]
    variants.run_cell("zoo", "dasgupta")                                       # finished: nothing runs again
    assert [path.stat().st_mtime_ns for path in paths] == stamps
    variants.report(None)
    text = (tmp_path / "fph_variants.md").read_text()
    assert "## zoo, Dasgupta cost" in text and "**Verdict (zoo):**" in text
    assert "| d (best) |" in text and "| c (epoch" in text
