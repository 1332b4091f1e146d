"""pyproject.toml (pip) and environment.yml (conda) declare the same dependencies; the package ships
every data file and sub-package."""

import fnmatch
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

# conda-forge name -> PyPI name, where they differ.
CONDA_TO_PYPI = {"pytorch": "torch"}
# Tooling in environment.yml that is not a dependency of the project.
CONDA_ONLY = {"pip"}


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def lower_bound(constraints):
    """The version of the `>=` constraint in a comma-separated constraint list, or None."""
    for part in constraints.split(","):
        part = part.strip()
        if part.startswith(">="):
            return part[2:].strip()
    return None


def pyproject_requirements(pyproject):
    """{name: lower bound} of [project] dependencies + book and test extras (+ python)."""
    project = pyproject["project"]
    extras = project["optional-dependencies"]
    specs = project["dependencies"] + extras["book"] + extras["test"]
    found = {"python": lower_bound(project["requires-python"])}
    for spec in specs:
        req = Requirement(spec)
        found[normalise(req.name)] = lower_bound(str(req.specifier))
    return found


def conda_requirements(environment):
    """{name: lower bound} of environment.yml, conda names mapped to PyPI ones, `-e .` left out."""
    specs = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            specs += [s for s in entry.get("pip", []) if not s.startswith("-e")]
        else:
            specs.append(entry)
    found = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", spec.strip())
        assert match, f"cannot parse {spec!r}"
        name = normalise(match.group(1))
        if name in CONDA_ONLY:
            continue
        name = CONDA_TO_PYPI.get(name, name)
        assert name not in found, f"{name} listed twice in environment.yml"
        found[name] = lower_bound(match.group(2))
    return found


def differences(pip_reqs, conda_reqs):
    """Human-readable list of disagreements (empty when the two files agree)."""
    problems = [f"only in pyproject.toml: {n}" for n in sorted(pip_reqs.keys() - conda_reqs.keys())]
    problems += [f"only in environment.yml: {n}" for n in sorted(conda_reqs.keys() - pip_reqs.keys())]
    for name in sorted(pip_reqs.keys() & conda_reqs.keys()):
        a, b = pip_reqs[name], conda_reqs[name]
        if a is not None and b is not None and a != b:
            problems.append(f"{name}: >={a} in pyproject.toml but >={b} in environment.yml")
    return problems


def load():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    return pyproject, environment


def test_pyproject_and_environment_agree():
    pyproject, environment = load()
    assert differences(pyproject_requirements(pyproject), conda_requirements(environment)) == []


def test_environment_installs_the_project():
    _, environment = load()
    pip = [e for e in environment["dependencies"] if isinstance(e, dict)]
    assert pip and "-e ." in pip[0]["pip"]


def test_a_new_dependency_on_one_side_is_caught():
    pyproject, environment = load()
    pyproject["project"]["dependencies"].append("rich>=13")
    deps = environment["dependencies"]
    deps[deps.index("pytorch>=2.1")] = "pytorch>=9.9"
    problems = differences(pyproject_requirements(pyproject), conda_requirements(environment))
    assert "only in pyproject.toml: rich" in problems
    assert "torch: >=2.1 in pyproject.toml but >=9.9 in environment.yml" in problems


def test_every_data_file_and_subpackage_is_shipped():
    """A plain (non-editable) install carries every checksummed file of data/ and every hc_lib package."""
    setuptools = load()[0]["tool"]["setuptools"]
    packages, patterns = set(setuptools["packages"]), setuptools["package-data"]
    listed = [line.split()[1].lstrip("*") for line in (ROOT / "data" / "SHA256SUMS").read_text().splitlines()
              if line.strip()]
    assert any(path.startswith("models/") for path in listed), "the shipped models have no checksums"
    for path in [*listed, "README.md", "SHA256SUMS"]:
        folder, _, name = path.rpartition("/")
        package = "hc_lib.data_files" + (f".{folder.replace('/', '.')}" if folder else "")
        assert package in packages, f"data/{path}: {package} is not in pyproject's packages"
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns.get(package, [])), \
            f"data/{path}: no package-data pattern of {package} matches it"
    found = {".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "hc_lib").rglob("__init__.py")}
    assert found <= packages, f"sub-packages missing from pyproject's packages: {sorted(found - packages)}"
