"""scripts/notebooks.py: sync strips outputs but keeps pins, pin records them, check fails."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "notebooks.py"
_spec = importlib.util.spec_from_file_location("hc_book_notebooks_script", SCRIPT)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

MD = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Title

```{code-cell} ipython3
:tags: [parameters]

x = 3
```

```{code-cell} ipython3
print("not pinned", x)
```

```{code-cell} ipython3
# NBVAL_CHECK_OUTPUT
print(x * x)
```
"""


@pytest.fixture
def md(tmp_path):
    path = tmp_path / "nb.md"
    path.write_text(MD)
    return path


def code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_check_cell_detection():
    cell = nbformat.v4.new_code_cell("x = 1\n  #  NBVAL_CHECK_OUTPUT \nx")
    assert tool.is_check_cell(cell)
    assert not tool.is_check_cell(nbformat.v4.new_code_cell("x = 'NBVAL_CHECK_OUTPUT'"))
    assert not tool.is_check_cell(nbformat.v4.new_markdown_cell("# NBVAL_CHECK_OUTPUT"))


def test_sync_is_idempotent_and_check_detects_edits(md, capsys):
    ipynb = md.with_suffix(".ipynb")
    assert tool.check([md]) == 1  # twin missing
    tool.sync([md])
    first = ipynb.read_text()
    tool.sync([md])
    assert ipynb.read_text() == first
    assert tool.check([md], directory=md.parent) == 0
    md.write_text(MD.replace("x = 3", "x = 4"))
    assert tool.check([md]) == 1
    assert "cell sources differ" in capsys.readouterr().err


def test_pin_keeps_only_check_outputs_and_sync_preserves_them(md):
    ipynb = md.with_suffix(".ipynb")
    tool.pin([md], timeout=60)
    params, plain, checked = code_cells(ipynb)
    assert params.outputs == [] and params.execution_count is None
    assert plain.outputs == [] and plain.execution_count is None
    assert checked.execution_count is not None
    assert [o.get("text") for o in checked.outputs] == ["9\n"]
    # A plain re-sync keeps the pin ...
    tool.sync([md])
    assert code_cells(ipynb)[2].outputs == checked.outputs
    # ... unless the check cell's source changed: then it is unpinned.
    md.write_text(MD.replace("print(x * x)", "print(x * x + 1)"))
    tool.sync([md])
    assert code_cells(ipynb)[2].execution_count is None
    assert code_cells(ipynb)[2].outputs == []
