"""The library's floors: lower ones never import higher ones, the learners never import each
other, and no module imports itself back through others."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hc_lib"
CORE = {"trees", "graphs", "components", "metrics", "datasets", "plotting", "published", "records"}
#: what each floor may import besides itself and the core
ALLOWED = {"core": set(), "baselines": set(), "eph": {"baselines"}, "cohiclust": set(),
           "experiments": {"baselines", "eph"}, "repro": set()}


def imports_of(package: Path) -> dict[str, set[str]]:
    """``{module: hc_lib modules it imports}`` for every module under ``package``."""
    root, graph = package.parent, {}

    def exists(module):
        path = root / module.replace(".", "/")
        return path.with_suffix(".py").exists() or path.is_dir()

    for path in package.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hc_lib"):
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names
                             if exists(f"{node.module}.{alias.name}"))
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("hc_lib"))
        graph[name] = found - {name}
    return graph


def floor(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return "core" if parts[1] in CORE else parts[1]


def violations(graph) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        here = floor(module)
        if here == "package":
            continue
        if here not in ALLOWED:
            found.append(f"{module} is in no floor of the layout")
            continue
        found += [f"{module} ({here}) imports {target} ({floor(target)})" for target in sorted(imported)
                  if floor(target) not in {"core", here, "package"} | ALLOWED[here]]
    return found


def cycles(graph) -> list[list[str]]:
    state, found = {}, []

    def visit(module, path):
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == "open":
                found.append(path + [imported])
            elif imported in graph and imported not in state:
                visit(imported, path + [imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_every_module_imports_only_its_floor_and_the_ones_below():
    assert violations(imports_of(PACKAGE)) == []


def test_no_import_cycle():
    assert cycles(imports_of(PACKAGE)) == []


def test_the_checks_catch_a_forbidden_import_and_a_cycle(tmp_path):
    package = tmp_path / "hc_lib"
    (package / "eph").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "eph" / "__init__.py").write_text("")
    (package / "metrics.py").write_text("from hc_lib.eph.model import EPH\n")
    (package / "eph" / "model.py").write_text("from hc_lib.eph.pairs import f\n")
    (package / "eph" / "pairs.py").write_text("from hc_lib.eph.model import g\n")
    (package / "stray.py").write_text("")
    graph = imports_of(package)
    assert violations(graph) == ["hc_lib.metrics (core) imports hc_lib.eph.model (eph)",
                                 "hc_lib.stray is in no floor of the layout"]
    assert cycles(graph) == [["hc_lib.eph.model", "hc_lib.eph.pairs", "hc_lib.eph.model"]]
