"""Keep the book's notebooks and their Colab twins in step.

``notebooks/NN_topic.md`` (jupytext ``md:myst``) is the source of truth: the book reads it.
``notebooks/NN_topic.ipynb`` is generated from it for Colab and for nbval. The .ipynb carries
no outputs, except for code cells containing the line ``# NBVAL_CHECK_OUTPUT``: those keep the
outputs recorded by ``pin`` so that ``pytest --nbval-lax`` has a reference to compare with.

    python scripts/notebooks.py sync    # write every .ipynb from its .md (keeps pinned outputs)
    python scripts/notebooks.py pin     # execute every notebook, pin NBVAL_CHECK_OUTPUT outputs
    python scripts/notebooks.py check   # exit 1 naming the notebooks whose twins differ

nbval only compares a cell whose stored ``execution_count`` is set; ``pin`` sets it for the
NBVAL_CHECK_OUTPUT cells, ``sync`` clears it everywhere else.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from collections import defaultdict
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
MD_FORMAT = "md:myst"
CHECK_MARKER = "NBVAL_CHECK_OUTPUT"


def is_check_cell(cell) -> bool:
    """True for a code cell carrying the ``# NBVAL_CHECK_OUTPUT`` comment (as nbval reads it)."""
    if cell.get("cell_type") != "code":
        return False
    for line in cell.get("source", "").splitlines():
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() == CHECK_MARKER:
            return True
    return False


def cell_sources(nb) -> list[tuple[str, str]]:
    """The (cell type, source) of every cell: what must agree between the twins."""
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def read_md(path: Path):
    return jupytext.read(path, fmt=MD_FORMAT)


def read_ipynb(path: Path):
    return nbformat.read(path, as_version=4)


def twin(md_path: Path) -> Path:
    return md_path.with_suffix(".ipynb")


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def md_notebooks(names: list[str] | None = None) -> list[Path]:
    """The .md notebooks to work on: all of notebooks/*.md, or those named (stem or path)."""
    if not names:
        return sorted(NOTEBOOK_DIR.glob("*.md"))
    paths = []
    for name in names:
        path = Path(name)
        if not path.suffix:
            path = NOTEBOOK_DIR / (name + ".md")
        path = path.with_suffix(".md")
        if not path.exists():
            sys.exit(f"no such notebook source: {path}")
        paths.append(path.resolve())
    return paths


def _stable_ids(nb) -> None:
    """Give cells ids derived from their content, so that re-syncing does not churn the file."""
    seen: dict[str, int] = defaultdict(int)
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\0{cell.source}".encode()).hexdigest()[:12]
        seen[digest] += 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


def _pinned(nb) -> dict[str, list]:
    """Pinned (outputs, execution_count) of the NBVAL_CHECK_OUTPUT cells, by cell source."""
    pins: dict[str, list] = defaultdict(list)
    for cell in nb.cells:
        if is_check_cell(cell) and cell.get("execution_count") is not None:
            pins[cell.source].append((cell.outputs, cell.execution_count))
    return pins


def twin_notebook(md_nb, pinned_from=None):
    """The .ipynb twin of a notebook read from .md.

    Every output and execution count is stripped, except that NBVAL_CHECK_OUTPUT cells take the
    outputs pinned in ``pinned_from`` (a notebook) for a cell with the very same source; a check
    cell whose source changed loses its pin and must be pinned again.
    """
    nb = copy.deepcopy(md_nb)
    nb.metadata.pop("jupytext", None)
    pins = _pinned(pinned_from) if pinned_from is not None else {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if is_check_cell(cell) and pins.get(cell.source):
            outputs, count = pins[cell.source].pop(0)
            cell.outputs, cell.execution_count = copy.deepcopy(outputs), count
    _stable_ids(nb)
    nbformat.validate(nb)
    return nb


def write_if_changed(nb, path: Path) -> bool:
    text = nbformat.writes(nb)
    if not text.endswith("\n"):
        text += "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def sync(md_paths: list[Path]) -> int:
    for md_path in md_paths:
        ipynb_path = twin(md_path)
        old = read_ipynb(ipynb_path) if ipynb_path.exists() else None
        changed = write_if_changed(twin_notebook(read_md(md_path), old), ipynb_path)
        print(f"{'wrote' if changed else 'unchanged'}: {_show(ipynb_path)}")
    return 0


def pin(md_paths: list[Path], timeout: int) -> int:
    from nbclient import NotebookClient

    for md_path in md_paths:
        ipynb_path = twin(md_path)
        executed = read_md(md_path)
        print(f"executing {_show(md_path)} ...", flush=True)
        # The kernel is the notebook's kernelspec (python3: the ipykernel of the python running
        # this script, i.e. the venv), started in the notebook's folder like nbval does.
        NotebookClient(
            executed,
            timeout=timeout,
            kernel_name=executed.metadata.get("kernelspec", {}).get("name", "python3"),
            resources={"metadata": {"path": str(md_path.parent)}},
        ).execute()
        # Build from a fresh read so that only the pinned outputs come from the execution.
        nb = twin_notebook(read_md(md_path), pinned_from=executed)
        n_pinned = sum(is_check_cell(cell) for cell in nb.cells)
        changed = write_if_changed(nb, ipynb_path)
        print(f"{'wrote' if changed else 'unchanged'}: {_show(ipynb_path)}"
              f" ({n_pinned} {CHECK_MARKER} cell(s) pinned)")
    return 0


def check(md_paths: list[Path], directory: Path | None = None) -> int:
    """Report twins whose cell sources differ; with ``directory``, also orphan .ipynb files."""
    bad = []
    for md_path in md_paths:
        ipynb_path = twin(md_path)
        if not ipynb_path.exists():
            bad.append(f"{_show(ipynb_path)}: missing (run `make sync`)")
        elif cell_sources(read_md(md_path)) != cell_sources(read_ipynb(ipynb_path)):
            bad.append(f"{_show(md_path)} and {_show(ipynb_path)}: "
                       "cell sources differ (run `make sync`)")
    for ipynb_path in sorted(directory.glob("*.ipynb")) if directory else []:
        if not ipynb_path.with_suffix(".md").exists():
            bad.append(f"{_show(ipynb_path)}: no .md source")
    for line in bad:
        print(line, file=sys.stderr)
    if not bad:
        print(f"{len(md_paths)} notebook(s) in sync")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in [
        ("sync", "write each notebooks/*.ipynb from its .md, outputs stripped (pins kept)"),
        ("pin", "execute the notebooks and pin the outputs of NBVAL_CHECK_OUTPUT cells"),
        ("check", "exit 1 naming the notebooks whose .md and .ipynb cell sources differ"),
    ]:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("notebooks", nargs="*",
                         help="notebook names or paths (default: every notebooks/*.md)")
        if name == "pin":
            sub.add_argument("--timeout", type=int, default=600,
                             help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    paths = md_notebooks(args.notebooks)
    if args.command == "sync":
        return sync(paths)
    if args.command == "pin":
        return pin(paths, args.timeout)
    return check(paths, directory=None if args.notebooks else NOTEBOOK_DIR)


if __name__ == "__main__":
    sys.exit(main())
