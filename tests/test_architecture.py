"""The architecture of ARCHITECTURE.md, checked: the import-linter contracts hold, no module is
over 600 lines, no import cycle among gateway modules (function-level and TYPE_CHECKING imports
count), and no gateway module imports the gateway inside a function except the entry points
that say why (start-up time)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gateway"
MAX_LINES = 600
# Entry points whose commands import the gateway lazily, to keep `gateway --help` fast (each
# of these modules says so, with its measurement).
LAZY_IMPORTS_ALLOWED = ("gateway/cli/", "gateway/demo/")


def modules() -> list[Path]:
    return [path for path in PACKAGE.rglob("*.py")
            if "migrations/versions" not in path.as_posix()]


def test_the_import_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ", 0 broken." in result.stdout


def test_no_module_is_over_600_lines():
    long = {path.relative_to(ROOT).as_posix(): count for path in modules()
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_gateway_imports_inside_functions_only_where_start_up_time_needs_them():
    found = []
    for path in modules():
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(LAZY_IMPORTS_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                        "gateway") or isinstance(inner, ast.Import) and any(
                        alias.name.startswith("gateway") for alias in inner.names):
                    found.append(f"{name}:{inner.lineno}")
    assert not found, found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def gateway_imports() -> dict[str, set[str]]:
    """Module -> the gateway modules it imports anywhere: at module level, inside functions
    and under TYPE_CHECKING alike (a cycle hidden in a function is still a cycle)."""
    known = {module_name(path): path for path in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in known else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def test_no_import_cycles_among_gateway_modules():
    graph = gateway_imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert not cycles, cycles
