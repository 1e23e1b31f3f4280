"""The rules of the house, checked on the source (as Datasette does).

Every hookspec is documented in ``docs/hooks.md`` with its exact signature
and exercised by a test; the core imports no plugin; no plugin imports
another; every plugin package is registered as a ``hubcore.plugins`` entry
point. Signatures are compared in one format: the ``def`` line of
``hubcore/hookspecs.py`` as ``ast.unparse`` writes it, without ``def`` and
the colon, e.g. ``hubcore_register(app: Flask) -> None``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubcore import hookspecs
from hubcore.plugins import ENTRY_POINT_GROUP

ROOT = Path(__file__).resolve().parents[2]
HOOKSPECS = ROOT / "hubcore" / "hookspecs.py"
HOOKS_DOC = ROOT / "docs" / "hooks.md"
KINDS = {"each", "broadcast", "firstresult"}


# -- Hookspecs, read from the source --------------------------------------------------


@dataclass(frozen=True)
class Spec:
    name: str
    signature: str
    firstresult: bool


def _decorator_name(node: ast.expr) -> str | None:
    """``hookspec`` for ``@hookspec`` and ``@hookspec(firstresult=True)`` alike."""
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else None


def specs_in(source: str) -> dict[str, Spec]:
    """Every ``@hookspec`` function of a hookspecs module, with its signature line."""
    found = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        marks = [d for d in node.decorator_list if _decorator_name(d) == "hookspec"]
        if not marks:
            continue
        signature = f"{node.name}({ast.unparse(node.args)})"
        if node.returns is not None:
            signature += f" -> {ast.unparse(node.returns)}"
        firstresult = any(isinstance(m, ast.Call) and any(
            k.arg == "firstresult" and isinstance(k.value, ast.Constant) and k.value.value
            for k in m.keywords) for m in marks)
        found[node.name] = Spec(node.name, signature, firstresult)
    return found


SPECS = specs_in(HOOKSPECS.read_text(encoding="utf-8"))


def test_hookspecs_read_from_source_are_the_ones_pluggy_sees():
    marked = {name for name, value in vars(hookspecs).items()
              if getattr(value, f"{hookspecs.PROJECT}_spec", None) is not None}
    assert set(SPECS) == marked
    assert SPECS["hubcore_register"].signature == "hubcore_register(app: Flask) -> None"


# -- (a) Every hook documented with its exact signature ---------------------------------


@dataclass(frozen=True)
class DocSection:
    name: str
    text: str


def doc_sections(markdown: str) -> dict[str, DocSection]:
    """The ``### <hook name>`` sections of the hook reference (fenced code skipped)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#{1,6})\s+(.*?)\s*$", line)
        if heading:
            current = None
            if len(heading.group(1)) == 3:
                current = sections.setdefault(heading.group(2).strip("`"), [])
            continue
        if current is not None:
            current.append(line)
    return {name: DocSection(name, "\n".join(lines) + "\n") for name, lines in sections.items()}


def documentation_problems(spec: Spec, section: DocSection | None) -> list[str]:
    if section is None:
        return [f"{spec.name}: no '### {spec.name}' section in docs/hooks.md"]
    problems = []
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section.text, flags=re.MULTILINE | re.DOTALL)
    if spec.signature not in (line.strip() for block in blocks for line in block.splitlines()):
        problems.append(f"{spec.name}: the signature line `{spec.signature}` is not shown "
                        f"in a code block")
    kind = re.search(r"^\*\*Kind:\*\* *(\w+)", section.text, flags=re.MULTILINE)
    if kind is None or kind.group(1) not in KINDS:
        problems.append(f"{spec.name}: no '**Kind:** each|broadcast|firstresult' line")
    elif (kind.group(1) == "firstresult") != spec.firstresult:
        problems.append(f"{spec.name}: documented as {kind.group(1)}, "
                        f"firstresult={spec.firstresult} in the source")
    if not any("@hookimpl" in block and f"def {spec.name}(" in block for block in blocks):
        problems.append(f"{spec.name}: no example implementation (@hookimpl def ...)")
    return problems


def test_every_hookspec_is_documented_with_its_exact_signature():
    sections = doc_sections(HOOKS_DOC.read_text(encoding="utf-8"))
    problems = [p for spec in SPECS.values()
                for p in documentation_problems(spec, sections.get(spec.name))]
    assert problems == []


def test_hook_reference_documents_no_hook_that_does_not_exist():
    sections = doc_sections(HOOKS_DOC.read_text(encoding="utf-8"))
    assert sorted(set(sections) - set(SPECS)) == []


def test_documentation_check_catches_a_changed_signature():
    spec = specs_in(textwrap.dedent('''
        @hookspec(firstresult=True)
        def pick(task: Task, limit: int) -> Helper | None:
            """Pick one."""
    '''))["pick"]
    assert spec == Spec("pick", "pick(task: Task, limit: int) -> Helper | None", True)
    good = doc_sections(textwrap.dedent("""
        ### pick
        ```python
        pick(task: Task, limit: int) -> Helper | None
        ```
        **Kind:** firstresult
        ```python
        @hookimpl
        def pick(task, limit):
            return None
        ```
    """))
    assert documentation_problems(spec, good["pick"]) == []
    stale = DocSection("pick", good["pick"].text.replace("limit: int", "limit"))
    assert documentation_problems(spec, stale) == [
        "pick: the signature line `pick(task: Task, limit: int) -> Helper | None` "
        "is not shown in a code block"]
    assert documentation_problems(spec, None) == ["pick: no '### pick' section in docs/hooks.md"]


# -- (b) Every hook exercised by a test ---------------------------------------------------


def hooks_exercised(test_files: list[Path]) -> set[str]:
    """Hooks called as ``hook.<name>(`` in a test, or implemented by a test's plugin."""
    found: set[str] = set()
    for path in test_files:
        source = path.read_text(encoding="utf-8")
        found.update(re.findall(r"\bhook\.(\w+)\(", source))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and any(
                    _decorator_name(d) == "hookimpl" for d in node.decorator_list):
                found.add(node.name)
    return found


def test_every_hook_is_exercised_by_a_test():
    test_files = [p for p in (ROOT / "tests").rglob("*.py") if p.name != "test_meta.py"]
    assert sorted(set(SPECS) - hooks_exercised(test_files)) == []


# -- Imports, read with ast (inside functions too) -------------------------------------------


@dataclass(frozen=True)
class Import:
    where: str  # file relative to the project root
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.where}:{self.line}: {self.module}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> list[Import]:
    """Absolute names of what ``path`` imports, relative imports resolved.

    Dotted paths handed to a call as the first argument (``import_module``,
    ``jobs.enqueue("plugins.x.jobs.y")``) count as imports too.
    """
    this = module_name(path, root)
    where = path.relative_to(root).as_posix()
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(where, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base_name = ".".join(base)
            else:
                base_name = ""
            target = ".".join(part for part in (base_name, node.module or "") if part)
            if node.module is None:
                found += [Import(where, node.lineno, f"{target}.{alias.name}")
                          for alias in node.names]
            else:
                found.append(Import(where, node.lineno, target))
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and re.fullmatch(r"plugins(\.\w+)+", node.args[0].value)):
            found.append(Import(where, node.lineno, node.args[0].value))
    return found


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def core_imports_of_plugins(root: Path) -> list[str]:
    return [str(i) for path in python_files(root / "hubcore") for i in imports_of(path, root)
            if i.module == "plugins" or i.module.startswith("plugins.")]


def plugin_packages(root: Path) -> list[str]:
    folder = root / "plugins"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())


def plugins_importing_each_other(root: Path) -> list[str]:
    problems = []
    for name in plugin_packages(root):
        for path in python_files(root / "plugins" / name):
            for i in imports_of(path, root):
                parts = i.module.split(".")
                if parts[0] == "plugins" and len(parts) > 1 and parts[1] != name:
                    problems.append(f"{i} (plugin {name!r} imports another plugin)")
    return problems


def test_the_core_never_imports_a_plugin():
    assert core_imports_of_plugins(ROOT) == []


def test_no_plugin_imports_another_plugin():
    assert plugins_importing_each_other(ROOT) == []


def _write(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")


def test_import_checks_find_hidden_and_relative_imports_with_file_and_line(tmp_path):
    _write(tmp_path, "hubcore/__init__.py", "")
    _write(tmp_path, "hubcore/reports.py", """\
        import json

        def monthly():
            from plugins.hardship_grants import ledger
            return ledger
        """)
    _write(tmp_path, "hubcore/jobs.py", 'enqueue("plugins.volunteering.jobs.expire")\n')
    _write(tmp_path, "plugins/__init__.py", "")
    _write(tmp_path, "plugins/referrals/__init__.py", "from . import routing\n")
    _write(tmp_path, "plugins/referrals/routing.py", """\
        from .models import Service
        from ..volunteering import matching
        import plugins.referrals.models
        """)
    _write(tmp_path, "plugins/volunteering/__init__.py", "")
    _write(tmp_path, "plugins/volunteering/jobs.py", """\
        def later():
            import plugins.hub_requests.models as hr
        """)

    assert core_imports_of_plugins(tmp_path) == [
        "hubcore/jobs.py:1: plugins.volunteering.jobs.expire",
        "hubcore/reports.py:4: plugins.hardship_grants",
    ]
    assert plugins_importing_each_other(tmp_path) == [
        "plugins/referrals/routing.py:2: plugins.volunteering "
        "(plugin 'referrals' imports another plugin)",
        "plugins/volunteering/jobs.py:2: plugins.hub_requests.models "
        "(plugin 'volunteering' imports another plugin)",
    ]


# -- (e) Every plugin package registered as an entry point ----------------------------------


def declared_entry_points(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    return dict(project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {}))


def unregistered_plugin_packages(root: Path, entry_points: dict[str, str]) -> list[str]:
    """Plugin packages that no ``hubcore.plugins`` entry point loads."""
    modules = {value.partition(":")[0].strip() for value in entry_points.values()}
    return [name for name in plugin_packages(root)
            if not any(m == f"plugins.{name}" or m.startswith(f"plugins.{name}.")
                       for m in modules)]


def test_every_plugin_package_is_registered_as_an_entry_point():
    declared = declared_entry_points(ROOT / "pyproject.toml")
    assert unregistered_plugin_packages(ROOT, declared) == []


def test_declared_entry_points_are_installed():
    declared = declared_entry_points(ROOT / "pyproject.toml")
    installed = {ep.name: ep.value for ep in
                 importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    stale = {name: value for name, value in declared.items() if installed.get(name) != value}
    assert stale == {}, "pyproject.toml and the installed metadata differ: run pip install -e ."


@pytest.mark.parametrize("entry_points, expected", [
    ({}, ["referrals"]),
    ({"referrals": "plugins.referrals"}, []),
    ({"referrals": "plugins.referrals.hooks:Plugin"}, []),
    ({"referral": "plugins.referral"}, ["referrals"]),
])
def test_registration_check_names_the_unregistered_package(tmp_path, entry_points, expected):
    _write(tmp_path, "plugins/__init__.py", "")
    _write(tmp_path, "plugins/referrals/__init__.py", "")
    _write(tmp_path, "plugins/not_a_package/README.md", "")
    assert unregistered_plugin_packages(tmp_path, entry_points) == expected
