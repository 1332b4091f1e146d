"""The notebooks' two forms agree: notebooks/*.md (MyST, what the book reads) and the .ipynb
twins (what Colab opens and nbval runs). Fix failures with `make sync` (or `make pin`)."""

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
MD_FILES = sorted(NOTEBOOKS.glob("*.md"))
IPYNB_FILES = sorted(NOTEBOOKS.glob("*.ipynb"))


def is_check_cell(cell):
    return cell.cell_type == "code" and any(
        line.strip().startswith("#") and line.strip().lstrip("#").strip() == "NBVAL_CHECK_OUTPUT"
        for line in cell.source.splitlines()
    )


def sources(nb):
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def test_there_are_notebooks():
    assert MD_FILES, f"no notebooks/*.md found in {NOTEBOOKS}"


@pytest.mark.parametrize("md", MD_FILES, ids=lambda p: p.name)
def test_md_has_ipynb_twin_with_same_cells(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make sync`"
    md_nb = jupytext.read(md, fmt="md:myst")
    ipynb_nb = nbformat.read(ipynb, as_version=4)
    assert sources(ipynb_nb) == sources(md_nb), f"{ipynb.name} is stale: run `make sync`"


@pytest.mark.parametrize("ipynb", IPYNB_FILES, ids=lambda p: p.name)
def test_ipynb_has_md_source(ipynb):
    assert ipynb.with_suffix(".md").exists(), f"{ipynb.name} has no .md source"


@pytest.mark.parametrize("md", MD_FILES, ids=lambda p: p.name)
def test_md_has_parameters_cell(md):
    nb = jupytext.read(md, fmt="md:myst")
    tagged = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, (
        f"{md.name}: needs exactly one code cell tagged `parameters` (papermill), found {len(tagged)}"
    )


@pytest.mark.parametrize("ipynb", IPYNB_FILES, ids=lambda p: p.name)
def test_ipynb_outputs_only_in_check_cells(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if is_check_cell(cell):
            # nbval skips the comparison when the stored execution_count is None.
            assert cell.execution_count is not None, (
                f"{ipynb.name} cell {i}: NBVAL_CHECK_OUTPUT cell not pinned: run `make pin`"
            )
        else:
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{ipynb.name} cell {i}: outputs stored: run `make sync`"
            )
