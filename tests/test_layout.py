"""The layout rules of design §2, checked on the source: the import ladder, module sizes, a cheap CLI import.

The rung table below is the ladder; adjust it when a module moves. A module with no
rung fails the ladder test, so a new module has to be placed on the ladder first.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mailer"

LEAF, ADAPTER, USE_CASE, BOOTSTRAP, ENTRY = range(5)
RUNG_NAMES = ["leaf", "adapter", "use case", "bootstrap", "entry point"]

#: Module (or package prefix) → rung; the longest matching prefix wins.
RUNGS = {
    # leaves: settings, the exception tree, plain values, the typed context
    "mailer": LEAF,
    "mailer.config": LEAF,
    "mailer.config_sections": LEAF,
    "mailer.errors": LEAF,
    "mailer.models": LEAF,
    "mailer.keys": LEAF,
    "mailer.context": LEAF,
    "mailer.exports": LEAF,
    "mailer.retry": LEAF,
    "mailer.shorten": LEAF,
    "mailer.logs": LEAF,
    "mailer.unsafe_text": LEAF,
    "mailer.particles": LEAF,
    "mailer.metrics": LEAF,
    "mailer.roles": LEAF,
    # adapters: Jinja2, MIME + SMTP, SQLAlchemy, and the HTTP/feedparser half of feeds
    "mailer.render": ADAPTER,
    "mailer.mail": ADAPTER,
    "mailer.store": ADAPTER,
    "mailer.feeds.fetch": ADAPTER,
    "mailer.feeds.transport": ADAPTER,
    "mailer.feeds.netguard": ADAPTER,
    "mailer.feeds.urlnorm": ADAPTER,
    "mailer.feeds.parse": ADAPTER,
    "mailer.feeds.parse_pool": ADAPTER,
    "mailer.feeds.encoding": ADAPTER,
    "mailer.feeds.sanitize": ADAPTER,
    "mailer.feeds.dates": ADAPTER,
    "mailer.feeds.item_warnings": ADAPTER,
    "mailer.feeds.jsonfeed": ADAPTER,
    "mailer.feeds.mojibake": ADAPTER,
    "mailer.feeds.relevance": ADAPTER,
    "mailer.feeds.dedupe": ADAPTER,
    "mailer.feeds.story_facts": ADAPTER,
    "mailer.feeds.news_words": ADAPTER,
    "mailer.feeds.similarity": ADAPTER,
    "mailer.feeds.prepare": ADAPTER,
    "mailer.feeds.feedlist": ADAPTER,
    "mailer.schedules.crontab": ADAPTER,
    # use cases: one step each (feeds' poll and catalog are the rest of mailer.feeds)
    "mailer.feeds": USE_CASE,
    "mailer.digest": USE_CASE,
    "mailer.delivery": USE_CASE,
    "mailer.subscribers": USE_CASE,
    "mailer.schedules": USE_CASE,
    "mailer.staff": USE_CASE,
    "mailer.seed": USE_CASE,
    "mailer.metrics_readings": USE_CASE,
    "mailer.backup": USE_CASE,
    "mailer.bootstrap": BOOTSTRAP,
    # entry points: they call use cases only
    "mailer.jobs": ENTRY,
    "mailer.cli": ENTRY,
    "mailer.web": ENTRY,
    "mailer.web.admin": ENTRY,
    "mailer.__main__": ENTRY,
}

#: Rungs whose modules must not import another package on the same rung
#: ("modules on one rung do not import each other"; siblings in one package may).
NO_SIDEWAYS = {ADAPTER, USE_CASE}

#: Entry points call use cases only: none of them may import these.
ENTRY_POINTS = ("mailer.jobs", "mailer.cli", "mailer.web")
FORBIDDEN_IN_ENTRY_POINTS = ("mailer.store",)

MAX_LINES = 400
EXCEPTED_FROM_SIZE = ("mailer/store/migrations/",)

#: Libraries `mailer --help` must not load (Typer and Rich are fine).
HEAVY = [
    "fastapi",
    "uvicorn",
    "alembic",
    "httpx",
    "feedparser",
    "jinja2",
    "aiosmtplib",
    "apscheduler",
]


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module imported (resolved through lazy exports)
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


def rung_of(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        rung = RUNGS.get(".".join(parts[:end]))
        if rung is not None:
            return rung
    return None


def package_of(module: str) -> str:
    """The step package (``mailer.feeds``) or top-level module (``mailer.seed``) of ``module``."""
    return ".".join(module.split(".")[:2])


def lazy_exports_of(path: Path) -> dict[str, str]:
    """``name → submodule`` from a package's ``lazy_exports(__name__, {...})`` call."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "lazy_exports"
            and len(node.args) == 2
            and isinstance(node.args[1], ast.Dict)
        ):
            return {
                key.value: value.value
                for key, value in zip(node.args[1].keys, node.args[1].values, strict=True)
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
            }
    return {}


class _ImportCollector(ast.NodeVisitor):
    """Every import of ``mailer`` modules, except those under ``if TYPE_CHECKING:``."""

    def __init__(self, module: str, is_package: bool, files: dict[str, Path]) -> None:
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.files = files
        self.depth = 0
        self.found: list[Import] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = getattr(test, "id", getattr(test, "attr", None))
        if name == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            if node.level > 1:
                anchor = anchor[: -(node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        if not base.startswith("mailer"):
            return
        exports = lazy_exports_of(self.files[base]) if base in self.files else {}
        for alias in node.names:
            candidate = f"{base}.{alias.name}"
            if candidate in self.files:
                self._add(candidate, node)
            elif alias.name in exports:
                self._add(f"{base}.{exports[alias.name]}", node)
            else:
                self._add(base, node)

    def _add(self, target: str, node: ast.stmt) -> None:
        if target == "mailer" or target.startswith("mailer."):
            self.found.append(Import(self.module, target, node.lineno, self.depth > 0))


def all_imports() -> list[Import]:
    files = source_files()
    found: list[Import] = []
    for module, path in files.items():
        collector = _ImportCollector(module, path.name == "__init__.py", files)
        collector.visit(ast.parse(path.read_text("utf-8"), filename=str(path)))
        found.extend(collector.found)
    return found


def describe(item: Import) -> str:
    where = "in a function" if item.in_function else "at module level"
    source_rung, target_rung = rung_of(item.source), rung_of(item.target)
    return (
        f"{item.source}:{item.line} ({RUNG_NAMES[source_rung]}) imports {item.target} "
        f"({RUNG_NAMES[target_rung]}) {where}"
    )


def test_every_module_has_a_rung():
    missing = [module for module in source_files() if rung_of(module) is None]
    assert not missing, f"modules with no rung in RUNGS: {missing}"


def test_imports_only_go_down_the_ladder():
    violations = []
    for item in all_imports():
        source_rung, target_rung = rung_of(item.source), rung_of(item.target)
        if source_rung is None or target_rung is None:
            continue  # reported by test_every_module_has_a_rung
        if target_rung > source_rung:
            violations.append(describe(item) + ": up the ladder")
        elif (
            target_rung == source_rung
            and source_rung in NO_SIDEWAYS
            and package_of(item.source) != package_of(item.target)
        ):
            violations.append(describe(item) + ": sideways, to another package on its rung")
    assert not violations, "imports against design §2:\n" + "\n".join(sorted(set(violations)))


def test_entry_points_do_not_import_the_store():
    violations = [
        describe(item)
        for item in all_imports()
        if item.source.startswith(ENTRY_POINTS)
        and item.target.startswith(FORBIDDEN_IN_ENTRY_POINTS)
    ]
    assert not violations, "entry points call use cases, not the store:\n" + "\n".join(violations)


def test_no_module_is_over_400_lines():
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text("utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    over = {
        name: lines
        for name, lines in sizes.items()
        if lines > MAX_LINES and not name.startswith(EXCEPTED_FROM_SIZE)
    }
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{name} ({lines})" for name, lines in sorted(over.items(), key=lambda kv: -kv[1])
    )


def _modules_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter (this one has imported everything already)."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "cli = sorted(m for m in sys.modules if m.startswith('mailer.cli.'))\n"
        "print(json.dumps({'heavy': heavy, 'cli': cli}), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stderr.strip().splitlines()[-1])


def test_importing_the_command_line_loads_no_heavy_library():
    assert _modules_after("import mailer.cli.main")["heavy"] == []


def test_help_loads_no_command_group_and_no_heavy_library():
    loaded = _modules_after(
        "from mailer.cli.main import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert loaded == {
        "heavy": [],
        "cli": ["mailer.cli.groups", "mailer.cli.main", "mailer.cli.output", "mailer.cli.runtime"],
    }


#: Packages whose ``__init__`` lists the names other packages may use (the store is
#: one module per table group, used as such).
PUBLIC_PACKAGES = (
    "mailer.feeds",
    "mailer.digest",
    "mailer.render",
    "mailer.mail",
    "mailer.delivery",
    "mailer.subscribers",
    "mailer.schedules",
    "mailer.staff",
)


class _RawImports(ast.NodeVisitor):
    """``(line, module, names)`` of every ``from mailer… import …`` outside ``if TYPE_CHECKING:``."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str, list[str]]] = []

    def visit_If(self, node: ast.If) -> None:
        if getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.level and (node.module or "").startswith("mailer"):
            self.found.append((node.lineno, node.module, [alias.name for alias in node.names]))


def test_other_packages_use_a_package_only_through_its_public_names():
    """Invariant (c) of the layout: ``from mailer.feeds import poll_feeds``, never ``mailer.feeds.poll``."""
    files = source_files()
    violations = []
    for module, path in files.items():
        visitor = _RawImports()
        visitor.visit(ast.parse(path.read_text("utf-8"), filename=str(path)))
        for line, target, names in visitor.found:
            for package in PUBLIC_PACKAGES:
                if module == package or module.startswith(package + "."):
                    continue  # siblings inside a package import each other directly
                exports = lazy_exports_of(files[package])
                if target.startswith(package + "."):
                    violations.append(f"{module}:{line} imports {target}")
                elif target == package:
                    violations.extend(
                        f"{module}:{line} imports {package}.{name}, not a public name"
                        for name in names
                        if name not in exports
                    )
    assert not violations, "use the packages' public names:\n" + "\n".join(violations)
