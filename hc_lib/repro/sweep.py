"""An ``hc-repro`` sweep file: its checks, all made before anything runs, and its runs.

A sweep is checked before anything runs (also with ``--dry-run``), and every problem found is
reported at once, one line each, instead of a traceback: keys the sweep file does not know, a
notebook that is not there, ``grid`` values that are not lists, seeds that are not integers, a
configuration listed twice, ``report`` entries without ``value`` or with another ``better`` than
``lower``/``higher``, and, read from the notebook's first code cell tagged ``parameters`` (parsed
with :mod:`ast`, never executed):

* a name in ``parameters`` or ``grid``, or the sweep's ``seed_parameter`` or ``output_parameter``,
  that the cell does not assign (a typo such as ``n_step`` would otherwise run the default); also
  the seed or output parameter set in ``parameters`` or ``grid``, where hc-repro overrides it;
* a value outside the list of allowed values the cell gives for a parameter. The list is a
  trailing comment on the parameter's line that contains ``one of:`` followed by the values,
  separated by commas; a value is a Python literal (``"EPH"``, ``None``, ``512``) or a plain word
  (``fashion-mnist``, ``cora_ml``), optionally followed by a remark in parentheses. Text before
  ``one of:`` is free, nothing may follow the list. The notebook's own default always counts as
  allowed::

      method = "EPH"        # learned or a baseline; one of: EPH, FPH, AL, Louvain
      dtype = None          # None: the profile's; one of: float64 (published), float32 (half the memory)

  A comment without ``one of:`` is prose and checks nothing.

This module imports nothing else of ``hc_lib``: the allowed
values come from the notebooks, not from the library.
"""
from __future__ import annotations

import ast
import hashlib
import itertools
import json
import difflib
import io
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import yaml

__all__ = ["Run", "expand", "SweepError", "SweepFileNotFoundError", "Parameter", "check_sweep", "notebook_parameters", "parse_choices",
           "notebook_candidates", "SWEEP_KEYS", "REPORT_KEYS"]

SWEEP_KEYS = {"name", "notebook", "parameters", "grid", "seeds", "seed_parameter", "output_parameter",
              "kernel", "timeout", "report"}
REPORT_KEYS = {"value", "better", "title", "rows", "columns", "published", "row_name", "name", "where", "at_steps"}


@dataclass
class Run:
    """One configuration of a sweep: its id (a folder name) and its notebook parameters."""

    run_id: str
    parameters: dict = field(default_factory=dict)


class SweepError(ValueError):
    """A sweep that cannot run: ``problems`` holds one line per problem found."""

    def __init__(self, problems):
        self.problems = [" ".join(str(problem).split()) for problem in problems]
        super().__init__("\n".join(self.problems))


class SweepFileNotFoundError(SweepError, FileNotFoundError):
    """The sweep file itself is not there."""


@dataclass
class Parameter:
    """A name assigned in a notebook's ``parameters`` cell: its line in the notebook file (None
    where it cannot be located), its default (``NO_DEFAULT`` when that is no literal), the values
    its ``one of:`` comment allows (None: no list) or why that list is not understood."""

    name: str
    line: int | None = None
    default: object = None
    choices: tuple | None = None
    choices_problem: str | None = None


NO_DEFAULT = object()
_ONE_OF = re.compile(r"\bone of:(.*)$", re.IGNORECASE)
_PLAIN_WORD = re.compile(r"[\w.+/:-]+")


def _split_items(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and outside quotes that open an item (an
    apostrophe in a remark is no quote).

    >>> _split_items("'a, b', c (d's, e), [1, 2]")
    ["'a, b'", "c (d's, e)", '[1, 2]']
    """
    items, depth, quote, current = [], 0, None, []
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'" and depth == 0 and not "".join(current).strip():
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items]


def parse_choices(comment: str):
    """The values a ``one of:`` comment lists, None for a comment without one; a ValueError says
    what is not understood.

    >>> parse_choices('# learned or a baseline; one of: EPH, "FPH", AL (average linkage), None, 512')
    ('EPH', 'FPH', 'AL', None, 512)
    >>> parse_choices("# gradient steps (EPH) or epochs (FPH)") is None
    True
    >>> parse_choices('# one of: "dasgupta" or "tsd"')
    Traceback (most recent call last):
    ...
    ValueError: '"dasgupta" or "tsd"' is no value (a quoted string, a number, None, True, False or a plain word)
    """
    match = _ONE_OF.search(comment)
    if match is None:
        return None
    values = []
    for item in _split_items(match.group(1)):
        item = re.sub(r"\s*\([^()]*\)$", "", item)  # a remark in parentheses
        if not item:
            raise ValueError("an empty item in the list")
        try:
            value = ast.literal_eval(item)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            if not _PLAIN_WORD.fullmatch(item):
                raise ValueError(f"{item!r} is no value (a quoted string, a number, None, True, False "
                                 "or a plain word)") from None
            value = item
        values.append(value)
    return tuple(values)


def notebook_parameters(notebook) -> dict[str, Parameter]:
    """The names the notebook's first code cell tagged ``parameters`` assigns (where papermill
    injects a run's parameters), read with :mod:`ast` without executing anything; raises
    ValueError when there is no such cell or it is not Python.

    >>> parameters = notebook_parameters(Path(__file__).parents[2] / "tests" / "data" / "sweep_probe.md")
    >>> list(parameters)
    ['dataset', 'method', 'seed', 'fail', 'sleep', 'marker', 'output']
    >>> parameters["method"].default, parameters["method"].choices
    ('square', None)
    """
    notebook = Path(notebook)
    try:
        nb = jupytext.read(notebook)
    except Exception as error:  # noqa: BLE001 - whatever jupytext makes of a broken file
        raise ValueError(f"cannot read {_shown(notebook)}: {type(error).__name__}: {error}") from None
    cells = [cell for cell in nb.cells
             if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{_shown(notebook)} has no code cell tagged parameters, so its parameters "
                         "cannot be checked (MyST: `:tags: [parameters]` in the cell's header)")
    source = cells[0].source
    # the cell's first line in the notebook file, for messages; jupytext keeps a code cell's text
    try:
        text = notebook.read_text()
    except (OSError, UnicodeDecodeError):
        text = ""
    offset = text[:text.find(source)].count("\n") if source.strip() and source in text else None
    # IPython magics and shell escapes are no Python: blank them, keeping the line numbers
    python = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(python)
        comments = {}
        for token in tokenize.generate_tokens(io.StringIO(python).readline):
            if token.type == tokenize.COMMENT:
                comments.setdefault(token.start[0], []).append(token.string)
    except (SyntaxError, tokenize.TokenError, IndentationError) as error:
        raise ValueError(f"the parameters cell of {_shown(notebook)} is not Python: {error}") from None
    parameters = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = [element for target in targets
                 for element in (target.elts if isinstance(target, ast.Tuple) else [target])
                 if isinstance(element, ast.Name)]
        for target in names:
            parameter = Parameter(target.id, None if offset is None else offset + node.lineno)
            try:
                parameter.default = ast.literal_eval(value) if len(names) == 1 else NO_DEFAULT
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                parameter.default = NO_DEFAULT
            trailing = [comment for line in range(node.lineno, node.end_lineno + 1)
                        for comment in comments.get(line, [])]
            try:
                parameter.choices = next((choices for choices in map(parse_choices, trailing)
                                          if choices is not None), None)
            except ValueError as error:
                parameter.choices_problem = str(error)
            parameters[target.id] = parameter
    return parameters


def _shown(path) -> str:
    """A path as a message shows it: relative to the working directory when it lies below it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _value(value) -> str:
    """A value for a message: a string that YAML reads back as that string bare, anything else as
    Python writes it (so that the string "1" and the number 1 differ).

    >>> _value("cora_ml"), _value("1"), _value(1), _value("yes"), _value("a b")
    ('cora_ml', "'1'", '1', "'yes'", "'a b'")
    """
    if isinstance(value, str) and _PLAIN_WORD.fullmatch(value):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return repr(value)


def _closest(word, candidates) -> list:
    """The candidate closest to ``word`` (ignoring case), as a list of none or one.

    >>> _closest("n_step", ["n_steps", "seed"]), _closest("eph", ["EPH", "FPH"]), _closest("x", ["seed"])
    (['n_steps'], ['EPH'], [])
    """
    spelled = {str(candidate).lower(): str(candidate) for candidate in candidates}
    return [spelled[match] for match in difflib.get_close_matches(str(word).lower(), list(spelled), n=1, cutoff=0.6)]


def notebook_candidates(notebook: str, path) -> list[Path]:
    """Where a relative ``notebook`` is looked up: beside the sweep file, then one folder up."""
    notebook = Path(notebook)
    if notebook.is_absolute():
        return [notebook]
    if path is None:
        return [notebook]
    folder = Path(path).parent
    return [folder / notebook, folder.parent / notebook]


def _seed_problems(where: str, seeds) -> list[str]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return [f"{where} is {seeds}, not a list; write seeds: [{seeds}]"]
    if not isinstance(seeds, list):
        return [f"{where} is {_value(seeds)[:60]}, not a list of integers such as [0, 1, 2]"]
    if not seeds:
        return [f"{where} is an empty list: no runs; give at least one integer seed"]
    wrong = [seed for seed in seeds if not isinstance(seed, int) or isinstance(seed, bool)]
    if not wrong:
        return []
    return [f"{where}: {', '.join(_value(seed) for seed in wrong)} "
            f"{'is not an integer' if len(wrong) == 1 else 'are not integers'}; seeds are integers such as [0, 1, 2]"]


def _same(value, choice) -> bool:
    """``value == choice``, except that True and False are not 1 and 0."""
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice
    try:
        return bool(value == choice)
    except Exception:  # noqa: BLE001 - values that do not compare are different
        return False


def check_sweep(sweep, path=None) -> list[str]:
    """Every problem of a sweep, one line each (empty: the sweep can run).

    ``sweep`` is the mapping of a sweep file, as read or as :func:`load_sweep` returns it; ``path``
    is the file, for the messages and to find a relative ``notebook``. The names and values are
    checked against the notebook's ``parameters`` cell (see the module's documentation).

    >>> probe = str(Path(__file__).parents[2] / "tests" / "data" / "sweep_probe.md")
    >>> check_sweep({"notebook": probe, "grid": {"dataset": "a", "metod": ["x"]}, "seeds": [0, "1"]},
    ...             "sweep.yaml")  # doctest: +NORMALIZE_WHITESPACE +ELLIPSIS
    ["sweep.yaml: seeds: '1' is not an integer; seeds are integers such as [0, 1, 2]",
     'sweep.yaml: grid: dataset is a, not a list; write dataset: [a]',
     'sweep.yaml: grid: metod is not a parameter of ...sweep_probe.md; did you mean method?']
    """
    label = str(path) if path is not None else "sweep"
    problems: list[str] = []

    def problem(text):
        problems.append(f"{label}: {text}")

    if not isinstance(sweep, dict):
        kind = "empty" if sweep is None else f"a {type(sweep).__name__} ({_value(sweep)[:60]})"
        return [f"{label}: the file is {kind}, not a mapping of keys "
                "(notebook, parameters, grid, seeds, report)"]
    for key in sorted(set(sweep) - SWEEP_KEYS, key=str):
        hint = _closest(key, SWEEP_KEYS)
        problem(f"unknown key {_value(key)}" + (f"; did you mean {hint[0]}?" if hint else
                                                  f"; the keys of a sweep: {', '.join(sorted(SWEEP_KEYS))}"))

    notebook = None
    if "notebook" not in sweep:
        problem("the sweep names no notebook (e.g. notebook: notebooks/06_eph_vectors.md)")
    elif not isinstance(sweep["notebook"], str):
        problem(f"notebook: {_value(sweep['notebook'])} is not a file name")
    else:
        candidates = notebook_candidates(sweep["notebook"], path)
        notebook = next((candidate for candidate in candidates if candidate.is_file()), None)
        if notebook is None:
            looked = " and ".join(dict.fromkeys(str(candidate.resolve()) for candidate in candidates))
            problem(f"notebook: {sweep['notebook']} not found (looked for {looked})")

    name = sweep.get("name", Path(path).stem if path is not None else "sweep")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        problem(f"name: {_value(name)} must be a plain folder name (letters, digits, _ . -)")
    for key in ("seed_parameter", "output_parameter"):
        if key in sweep and not (isinstance(sweep[key], str) and sweep[key].isidentifier()):
            problem(f"{key}: {_value(sweep[key])} is not a parameter name")
    seed_parameter = sweep.get("seed_parameter", "seed")
    output_parameter = sweep.get("output_parameter", "output")
    timeout = sweep.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        problem(f"timeout: {_value(timeout)} is not a positive number of seconds (or null: no limit)")
    if sweep.get("kernel") is not None and not isinstance(sweep["kernel"], str):
        problem(f"kernel: {_value(sweep['kernel'])} is not a kernel name such as python3")

    # the parameters every run gets: (where, name, values)
    settings: list[tuple[str, object, list]] = []
    parameters = sweep.get("parameters") or {}
    if not isinstance(parameters, dict):
        problem(f"parameters: {_value(parameters)[:60]} is not a mapping of parameter names to values")
        parameters = {}
    settings += [("parameters", key, [value]) for key, value in parameters.items()]
    seeds = sweep.get("seeds", [0])
    problems += [f"{label}: {line}" for line in _seed_problems("seeds", seeds)]
    grids = sweep.get("grid") or {}
    grids = [grids] if isinstance(grids, dict) else grids
    if not isinstance(grids, list):
        problem(f"grid: {_value(grids)[:60]} is neither a mapping of parameter names to lists of values "
                "nor a list of such mappings")
        grids = []
    for number, grid in enumerate(grids, 1):
        where = "grid" if len(grids) == 1 else f"grid entry {number}"
        if not isinstance(grid, dict):
            problem(f"{where}: {_value(grid)[:60]} is not a mapping of parameter names to lists of values")
            continue
        for key, values in grid.items():
            if key == "seeds":
                problems += [f"{label}: {line}" for line in _seed_problems(f"{where}: seeds", values)]
                if isinstance(values, list):
                    settings.append((f"{where}: seeds", seed_parameter, values))
            elif not isinstance(values, list):
                problem(f"{where}: {key} is {_value(values)[:60]}, not a list; write {key}: [{_value(values)[:60]}]")
            elif not values:
                problem(f"{where}: {key} is an empty list: no runs")
            else:
                settings.append((where, key, values))
    if isinstance(seeds, list):
        settings.append(("seeds", seed_parameter, seeds))

    report = sweep.get("report") or []
    for number, entry in enumerate([report] if isinstance(report, dict) else
                                   report if isinstance(report, list) else [report], 1):
        where = "report" if isinstance(report, dict) else f"report entry {number}"
        if not isinstance(entry, dict):
            problem(f"{where}: {_value(entry)[:60]} is not a mapping (value, better, title, ...)")
            continue
        if "value" not in entry:
            problem(f"{where}: names no value to tabulate (a key of the notebook's metrics JSON)")
        if entry.get("better", "lower") not in ("lower", "higher"):
            problem(f"{where}: better is {_value(entry['better'])}; write lower or higher")
        if "where" in entry and not isinstance(entry["where"], dict):
            problem(f"{where}: where is {_value(entry['where'])[:60]}; write a mapping such as "
                    f"{{objective: tsd}}")
        for key in ("rows", "columns"):
            keys = entry.get(key)
            if not (keys is None or isinstance(keys, str)
                    or (isinstance(keys, list) and keys and all(isinstance(part, str) for part in keys))):
                problem(f"{where}: {key} is {_value(keys)[:60]}; write a key of the metrics JSON or a list of them")
        steps = entry.get("at_steps", [])
        if not (isinstance(steps, list) and all(isinstance(step, int) and not isinstance(step, bool) and step >= 0
                                                for step in steps)):
            problem(f"{where}: at_steps is {_value(steps)[:60]}; write a list of steps such as [200, 1000]")
        for key in sorted(set(entry) - REPORT_KEYS, key=str):
            hint = _closest(key, REPORT_KEYS)
            problem(f"{where}: unknown key {_value(key)}" + (f"; did you mean {hint[0]}?" if hint else
                                                             f"; known: {', '.join(sorted(REPORT_KEYS))}"))

    if notebook is not None:
        try:
            known = notebook_parameters(notebook)
        except ValueError as error:
            problem(f"notebook: {error}")
        else:
            shown = _shown(notebook)
            for key, role in ((seed_parameter, "seed_parameter"), (output_parameter, "output_parameter")):
                if isinstance(key, str) and key not in known:
                    hint = _closest(key, known)
                    problem(f"{role}: {key} is not a parameter of {shown}"
                            + (f"; did you mean {hint[0]}?" if hint else ""))
            for where, key, values in settings:
                if where == "seeds" or where.endswith(": seeds"):
                    parameter = known.get(key)
                elif key not in known:
                    hint = _closest(key, known)
                    problem(f"{where}: {_value(key)} is not a parameter of {shown}"
                            + (f"; did you mean {hint[0]}?" if hint else f"; its parameters: {', '.join(known)}"))
                    continue
                elif key == output_parameter:
                    problem(f"{where}: {key} is the output parameter: hc-repro sets it for every run; remove it")
                    continue
                elif key == seed_parameter:
                    problem(f"{where}: {key} is the seed parameter: set it with seeds: [...] instead")
                    continue
                else:
                    parameter = known[key]
                if parameter is None:
                    continue
                at = f"{shown}:{parameter.line}" if parameter.line else shown
                if parameter.choices_problem:
                    problem(f"{where}: {key}: the one-of list of {key} in {at} is not understood: "
                            f"{parameter.choices_problem}")
                    continue
                if parameter.choices is None:
                    continue
                allowed = [*parameter.choices, *([] if parameter.default is NO_DEFAULT else [parameter.default])]
                for value in values:
                    if not any(_same(value, choice) for choice in allowed):
                        hint = _closest(value, parameter.choices)
                        problem(f"{where}: {key} {_value(value)} is not one of "
                                f"{', '.join(_value(choice) for choice in parameter.choices)} (listed in {at})"
                                + (f"; did you mean {hint[0]}?" if hint else ""))

    if not problems:
        try:
            expand({**sweep, "parameters": parameters, "grid": grids, "seeds": seeds,
                    "seed_parameter": seed_parameter})
        except ValueError as error:
            problem(str(error))
    return problems


def _slug(value) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", str(value)).strip("-") or "x"


def expand(sweep: dict) -> list[Run]:
    """Every configuration of the grid, times the seeds.

    ``grid`` is a mapping ``{parameter: [values]}`` or a list of them (their union: e.g. the
    learned methods over several seeds and the deterministic baselines over one); an entry of the
    list may carry its own ``seeds``. The run id reads as the grid values and the seed, followed by
    a short hash of *all* the parameters, so that changing a fixed parameter gives new runs
    instead of reusing old ones.

    >>> sweep = {"parameters": {"profile": "quick"}, "grid": {"dataset": ["zoo", "iris"]},
    ...          "seeds": [0, 1], "seed_parameter": "seed"}
    >>> [run.run_id[:-10] for run in expand(sweep)]
    ['zoo__seed0', 'zoo__seed1', 'iris__seed0', 'iris__seed1']
    >>> expand(sweep)[0].parameters
    {'profile': 'quick', 'dataset': 'zoo', 'seed': 0}
    >>> sweep["grid"] = [{"method": ["EPH"]}, {"method": ["AL"], "seeds": [0]}]
    >>> [run.run_id[:-10] for run in expand(sweep)]
    ['EPH__seed0', 'EPH__seed1', 'AL__seed0']
    """
    grids = sweep["grid"] if isinstance(sweep["grid"], list) else [sweep["grid"]]
    runs = []
    for grid in grids:
        names = [name for name in grid if name != "seeds"]
        for values in itertools.product(*(grid[name] for name in names)):
            for seed in grid.get("seeds", sweep.get("seeds", [0])):
                parameters = {**sweep.get("parameters", {}), **dict(zip(names, values)),
                              sweep.get("seed_parameter", "seed"): seed}
                digest = hashlib.sha1(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:8]
                readable = "__".join([*(_slug(v) for v in values), f"seed{seed}"])
                runs.append(Run(f"{readable}__{digest}", parameters))
    seen = set()
    for run in runs:
        if run.run_id in seen:
            raise ValueError(f"the grid repeats the configuration {json.dumps(run.parameters, default=str)} "
                             "(a value listed twice in 'grid' or 'seeds', or grid entries that overlap)")
        seen.add(run.run_id)
    return runs
