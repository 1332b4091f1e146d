"""results/cohiclust/README.md's table is what scripts/cohiclust_table.py makes from the run
records beside it: a stale or hand-edited table fails here."""
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "cohiclust"


@pytest.fixture(scope="module")
def table():
    spec = importlib.util.spec_from_file_location("cohiclust_table", ROOT / "scripts" / "cohiclust_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def copy(tmp_path):
    """The README and the records, in a folder the test may change."""
    for path in [RESULTS / "README.md", *RESULTS.glob("*.json")]:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_the_committed_readme_is_regenerated_exactly(table):
    assert table.generate(RESULTS) == (RESULTS / "README.md").read_text(), \
        "results/cohiclust/README.md is stale: run scripts/cohiclust_table.py"


def test_every_record_has_its_row_and_the_paper_is_a_reference(table):
    records = table.load_records(RESULTS)
    rows = table.table_rows(records)
    assert [row[0] for row in rows[:len(records)]] == [f"`{name}`" for name, _ in records]
    dates = [record["provenance"]["date"] for _, record in records]
    assert dates == sorted(dates)
    for row, (_, record) in zip(rows, records):
        assert row[4] == f"{record['scores']['nmi']:.3f}" and row[5] == f"{record['scores']['acc']:.3f}"
        assert row[-1] == f"{record['fit_seconds']:.0f} s" and record["provenance"]["commit"][:7] in row[1]
    reference = [row for row in rows if row[0].startswith("paper")]
    assert len(reference) == 1 and "(reference, not a result)" in reference[0][0]
    paper = records[0][1]["reference_paper"]                     # printed as typed, e.g. 0.62
    assert reference[0][4:8] == [str(paper[key]) if key in paper else "" for key in ("nmi", "acc", "ari", "dp")]
    assert all(len(row) == len(table.HEADER) for row in rows)


def test_a_changed_record_makes_the_table_stale(table, copy, capsys):
    assert table.main(["--folder", str(copy), "--check"]) == 0
    path = copy / "quick_fashion-mnist.json"
    record = json.loads(path.read_text())
    record["scores"]["nmi"] = 0.7
    path.write_text(json.dumps(record))
    assert table.main(["--folder", str(copy), "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    before = (copy / "README.md").read_text()
    assert table.main(["--folder", str(copy)]) == 0
    after = (copy / "README.md").read_text()
    assert "| 0.700 |" in after and "| 0.700 |" not in before
    # only the table changed: the prose before and after it is kept
    assert after.split(table.BEGIN)[0] == before.split(table.BEGIN)[0]
    assert after.split(table.END)[1] == before.split(table.END)[1]
    assert table.main(["--folder", str(copy), "--check"]) == 0


def test_readme_without_markers_or_records(table, copy):
    (copy / "README.md").write_text("# CoHiClust runs\n\nno table here\n")
    with pytest.raises(ValueError, match="one line"):
        table.generate(copy)
    for path in copy.glob("*.json"):
        path.unlink()
    with pytest.raises(FileNotFoundError, match="no run records"):
        table.generate(copy)
