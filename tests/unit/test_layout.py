"""The layering rules of src/numamove, checked on the source with ``ast`` (README.md, "Layout").

Data flows one way: kernel (the I/O seam) -> procfs (pure parsers) -> scan ->
model -> trackers -> policy (pure) -> move -> cli / daemon; render draws.

The rules name packages of the target layout (policy/, move/, trackers/,
render/, cli/, daemon/); a package that does not exist yet has no modules to
check. Where today's tree still has a module that the layout will split, it
is listed by name (``TODAY_...``) with the package it goes to: the next steps
of issue 9 shrink those lists to nothing.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import numamove

SRC = Path(__file__).resolve().parents[2] / "src"
FIXTURE_ROOT = str(Path(__file__).resolve().parents[1] / "fixtures" / "qemu-3node-hmat")

# --- the layers -------------------------------------------------------------------------------------

PURE = ("numamove.policy", "numamove.render", "numamove.procfs", "numamove.model", "numamove.selection")
"""Pure: plain data in, plain data out. They import no kernel/ (not even through another module) and do
no I/O, so they are tested on plain data."""

THROUGH_KERNEL = ("numamove.scan", "numamove.trackers")
"""Read and write only through a Kernel: no I/O of their own."""

PROFILE = ("numamove.profile",)
"""The recorder and its log: the recorder touches the kernel only through a Kernel and the library;
profile/log.py reads and writes the user's own files (the log and its rotated parts), no kernel file."""

USER_FILES = {
    "numamove.profile.log": "the profile log named by the user, and its rotated parts (writing)",
    "numamove.profile.lines": "the profile log named by the user, and its rotated parts (reading)",
}
"""Modules of PROFILE that do file I/O of their own, and on what."""

KERNEL = ("numamove.kernel",)
"""The I/O seam: a Kernel's files, and the ctypes syscall layer."""

CLI = ("numamove.cli", "numamove._entry", "numamove.__main__")
"""The command line: the only layer that imports click or rich, prints or exits."""

DAEMON = ("numamove.daemon",)

MOVERS = ("numamove.move",)
"""The only callers of the migration syscalls (move_pages, migrate_pages, mbind)."""

MIGRATION_SYSCALLS = frozenset({"move_pages", "migrate_pages", "mbind"})

IO_ALLOWED = {
    ("numamove.render.files", "picture_format"):
        "checks that the folder of the picture the caller names exists, before a long scan",
    ("numamove.render.files", "save_picture"):
        "writes the picture file the caller names (a temporary file beside it, then a rename)",
}
"""(module, function) allowed to do I/O inside a pure or through-kernel package, and why.

Only the user's own files: never a kernel interface."""

PURE_OS = frozenset({"os.path.join", "os.path.basename", "os.path.dirname", "os.path.split",
                     "os.path.splitext", "os.path.normpath", "os.fspath", "os.PathLike", "os.strerror",
                     "os.sep"})
"""What of ``os`` is string work, not I/O."""

IO_MODULES = frozenset({"subprocess", "socket", "shutil", "tempfile"})
# pathlib's file methods; a Kernel has a read_text too, so these count in pure modules only.
FILE_METHODS = frozenset({"read_text", "write_text", "read_bytes", "write_bytes", "unlink", "mkdir",
                          "touch", "rmdir"})
EXITS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort"})
UI_PACKAGES = ("click", "rich")

MAX_LINES = 450
TODAY_OVER_MAX: dict[str, tuple[int, str]] = {}
"""Modules over 450 lines, by path, with their size and where their parts go: none."""


# --- reading the source -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """Something a module does at a line: imports a module, calls a name, reads an attribute."""

    module: str
    line: int
    function: str
    """The enclosing def ("Class.method"), "" at module level."""
    what: str
    runtime: bool = True
    """False for an import under ``if TYPE_CHECKING:``."""

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.module}:{self.line}{where}: {self.what}"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def relative(self) -> str:
        return self.path.relative_to(SRC).as_posix()

    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]

    @functools.cached_property
    def parents(self) -> dict[ast.AST, ast.AST]:
        return {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}

    def function_of(self, node: ast.AST) -> str:
        names = []
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.append(node.name)
        return ".".join(reversed(names))

    def at_runtime(self, node: ast.AST) -> bool:
        """False when ``node`` is in the body of an ``if TYPE_CHECKING:``."""
        while node in self.parents:
            parent = self.parents[node]
            if isinstance(parent, ast.If) and _dotted(parent.test) in TYPE_CHECKING and node in parent.body:
                return False
            node = parent
        return True

    def use(self, node: ast.AST, what: str, runtime: bool = True) -> Use:
        return Use(self.name, getattr(node, "lineno", 0), self.function_of(node), what, runtime)

    @functools.cached_property
    def imports(self) -> list[Use]:
        """Every module name imported; ``from a import b`` gives "a" and "a.b" (b may be a module)."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found += [self.use(node, alias.name, self.at_runtime(node)) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = self.package().split(".")
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                runtime = self.at_runtime(node)
                found.append(self.use(node, base, runtime))
                found += [self.use(node, f"{base}.{alias.name}", runtime) for alias in node.names
                          if alias.name != "*"]
        return found

    @functools.cached_property
    def calls(self) -> list[Use]:
        """Every call of a dotted name (``open``, ``sys.exit``, ``kernel.read_text``), raise SystemExit."""
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and (name := _dotted(node.func)):
                found.append(self.use(node, name))
            elif isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if _dotted(exc) == "SystemExit":
                    found.append(self.use(node, "raise SystemExit"))
        return found

    @functools.cached_property
    def attributes(self) -> list[Use]:
        """Every whole dotted chain (``os.path.join``, not also ``os.path``) read or called."""
        found = []
        for node in ast.walk(self.tree):
            inner = isinstance(self.parents.get(node), ast.Attribute)  # part of a longer chain
            if isinstance(node, ast.Attribute) and not inner and (name := _dotted(node)):
                found.append(self.use(node, name))
        return found

    @functools.cached_property
    def syscall_uses(self) -> list[Use]:
        """Uses of the migration calls of a Syscalls or Kernel object, however it is named or reached:
        ``kernel.syscalls.move_pages(...)``, ``call = self._syscalls.mbind``, ``kernel.migrate_pages``.

        A function of ours with the same name (``numamove.move_pages``, a wrapper) is not one.
        """
        found = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute) and node.attr in MIGRATION_SYSCALLS:
                owner = node.value
                name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if name.lstrip("_").endswith(("syscalls", "kernel")):
                    found.append(self.use(node, f"{name}.{node.attr}"))
        return found


TYPE_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)):
        return f"{base}.{node.attr}"
    return None


def _load() -> dict[str, Module]:
    modules = {}
    for path in sorted((SRC / "numamove").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = Module(name, path, ast.parse(path.read_text(), str(path)))
    return modules


MODULES = _load()


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``prefixes`` or inside one of them (a package's modules)."""
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def modules_in(prefixes: tuple[str, ...]) -> list[Module]:
    return [module for name, module in MODULES.items() if under(name, prefixes)]


def _home(name: str) -> str | None:
    """The module of ours that importing ``name`` runs (``a.b.f`` -> ``a.b``), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def runtime_reach(name: str) -> frozenset[str]:
    """Every module of ours that importing ``name`` can load, function-level imports included."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # a module's packages load first
        todo += [home for use in MODULES[current].imports if use.runtime and (home := _home(use.what))]
    return frozenset(seen)


def io_uses(module: Module) -> Iterator[Use]:
    """I/O that does not go through a Kernel: open(), os's I/O, I/O modules; in a pure module (which
    has no Kernel to call) also pathlib's file methods."""
    pure = under(module.name, PURE)
    for use in module.calls:
        if use.what in ("open", "io.open") or (pure and use.what.rpartition(".")[2] in FILE_METHODS):
            yield use
    for use in module.attributes:
        if use.what.startswith("os.") and use.what not in PURE_OS:
            yield use
    for use in module.imports:
        if use.runtime and use.what.split(".")[0] in IO_MODULES:
            yield use


def report(problems: list[Use]) -> str:
    return "\n".join(map(str, problems))


# --- the rules --------------------------------------------------------------------------------------


def test_the_layers_are_found() -> None:
    """A guard against a rule that silently checks nothing: today's layers are where the rules look."""
    assert modules_in(("numamove.render",)) and modules_in(("numamove.trackers",))
    assert modules_in(PURE) and modules_in(KERNEL) and modules_in(CLI) and modules_in(MOVERS)


@pytest.mark.parametrize("module", modules_in(PURE), ids=lambda module: module.name)
def test_pure_layers_import_no_kernel(module: Module) -> None:
    direct = [use for use in module.imports if under(use.what, KERNEL) or use.what.split(".")[0] == "ctypes"]
    assert not direct, "a pure module imports the kernel layer:\n" + report(direct)
    reached = sorted(name for name in runtime_reach(module.name) if under(name, KERNEL))
    assert not reached, f"importing {module.name} loads the kernel layer: {', '.join(reached)}"


@pytest.mark.parametrize("module", modules_in(PURE + THROUGH_KERNEL), ids=lambda module: module.name)
def test_pure_and_scanning_layers_do_no_io_of_their_own(module: Module) -> None:
    found = [use for use in io_uses(module) if (module.name, use.function) not in IO_ALLOWED]
    assert not found, "I/O outside a Kernel (go through the Kernel, or list it in IO_ALLOWED):\n" + \
        report(found)


@pytest.mark.parametrize("module", modules_in(PROFILE), ids=lambda module: module.name)
def test_profile_touches_the_kernel_only_through_a_kernel(module: Module) -> None:
    if module.name in USER_FILES:  # its own files only: it never reaches the kernel layer
        reached = sorted(name for name in runtime_reach(module.name) if under(name, KERNEL))
        assert not reached, f"importing {module.name} loads the kernel layer: {', '.join(reached)}"
        return
    found = list(io_uses(module))
    assert not found, "I/O outside a Kernel (go through the Kernel or the library):\n" + report(found)


def test_io_allowed_names_functions_that_exist() -> None:
    for (name, function), _why in IO_ALLOWED.items():
        module = MODULES[name]
        assert any(isinstance(node, ast.FunctionDef) and node.name == function for node in module.tree.body)


@pytest.mark.parametrize("module", [m for m in MODULES.values() if not under(m.name, CLI)],
                         ids=lambda module: module.name)
def test_only_the_cli_imports_click_or_rich_prints_or_exits(module: Module) -> None:
    found = [use for use in module.imports if under(use.what, UI_PACKAGES)]
    found += [use for use in module.calls if use.what in EXITS or use.what in ("print", "raise SystemExit")]
    found += [use for use in module.attributes
              if use.what.startswith(("sys.stdout", "sys.stderr", "sys.stdin"))]
    assert not found, "only cli/ talks to the terminal and exits; the library raises NumaMoveError:\n" + \
        report(found)


@pytest.mark.parametrize("module", [m for m in MODULES.values() if not under(m.name, CLI)],
                         ids=lambda module: module.name)
def test_nothing_but_the_cli_imports_the_cli(module: Module) -> None:
    """The daemon above all: it shares move/ and policy/ with the CLI, never the CLI itself."""
    found = [use for use in module.imports if under(use.what, CLI)]
    assert not found, report(found)
    if under(module.name, DAEMON):
        reached = sorted(name for name in runtime_reach(module.name) if under(name, CLI))
        assert not reached, f"importing {module.name} loads the command line: {', '.join(reached)}"


def test_only_move_calls_the_migration_syscalls() -> None:
    found = [use for module in MODULES.values() if not under(module.name, MOVERS + KERNEL)
             for use in module.syscall_uses]
    assert not found, "move_pages, migrate_pages and mbind are move/'s to call:\n" + report(found)
    # The rule sees the calls where they are made today: it would see a new caller.
    assert [use for module in modules_in(MOVERS + KERNEL) for use in module.syscall_uses]


DOCTOR = ("numamove.doctor",)
"""``numamove doctor`` as a library: it reads through a Kernel (no I/O of its own), calls only move/'s
query and mempolicy wrappers (its syscall probes on numamove's own process), and never prints (the rule
on cli/ above covers that)."""

DOCTOR_PROBES = frozenset({"numamove.move.pages", "numamove.move.mempolicy"})


@pytest.mark.parametrize("module", modules_in(DOCTOR), ids=lambda module: module.name)
def test_doctor_reads_through_a_kernel_and_probes_only_through_move(module: Module) -> None:
    found = list(io_uses(module))
    assert not found, "I/O outside a Kernel in doctor/:\n" + report(found)
    moves = [use for use in module.imports
             if under(use.what, MOVERS) and _home(use.what) not in DOCTOR_PROBES]
    assert not moves, "doctor/ uses move/ for its syscall probes only (pages, mempolicy):\n" + report(moves)


def test_the_doctor_rule_checks_something() -> None:
    assert modules_in(DOCTOR)
    assert any(_home(use.what) in DOCTOR_PROBES for module in modules_in(DOCTOR) for use in module.imports)


@pytest.mark.parametrize("module", MODULES.values(), ids=lambda module: module.name)
def test_every_module_says_what_it_holds(module: Module) -> None:
    assert ast.get_docstring(module.tree), f"{module.relative} has no docstring"


@pytest.mark.parametrize("module", MODULES.values(), ids=lambda module: module.name)
def test_no_module_is_over_450_lines(module: Module) -> None:
    lines = len(module.path.read_text().splitlines())
    limit, goes_to = TODAY_OVER_MAX.get(module.relative, (MAX_LINES, ""))
    assert lines <= limit, f"{module.relative} has {lines} lines" + (f", more than today's {limit}: "
                                                                      f"issue 9 splits it to {goes_to}"
                                                                      if goes_to else "")


# --- the public face --------------------------------------------------------------------------------


def _lazy_table() -> dict[str, str]:
    homes: dict[str, str] = vars(numamove)["_HOMES"]
    return homes


def test_all_is_complete_and_exported() -> None:
    public = {name for name in dir(numamove)
              if not name.startswith("_") and not isinstance(getattr(numamove, name), types.ModuleType)}
    assert public == set(numamove.__all__) - {"__version__"}
    for name in numamove.__all__:
        assert getattr(numamove, name) is not None


def test_all_is_the_lazy_table_and_every_name_is_at_its_home() -> None:
    homes = _lazy_table()
    assert len(numamove.__all__) == len(set(numamove.__all__))
    assert set(numamove.__all__) == set(homes) | {"__version__"}
    for name, home in homes.items():
        assert getattr(numamove, name) is getattr(__import__(home, fromlist=[name]), name), name


def test_type_checking_imports_match_the_lazy_table() -> None:
    """mypy reads the TYPE_CHECKING imports, the running code the table: they name the same homes."""
    init = MODULES["numamove"]
    typed = {alias.asname or alias.name: node.module for node in ast.walk(init.tree)
             if isinstance(node, ast.ImportFrom) and not init.at_runtime(node) for alias in node.names}
    assert typed == _lazy_table()


def test_names_load_on_first_use_so_commands_pay_only_for_what_they_need() -> None:
    code = ("import sys, numamove, numamove.cli; numamove.Kernel; numamove.NumaMoveError; "
            "numamove.read_topology; print(sorted(m for m in ('numpy', 'ctypes') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        numamove.nothing  # noqa: B018


def test_numamove_nodes_loads_neither_numpy_nor_ctypes() -> None:
    """``python -m numamove nodes``, with a look at the loaded modules on the way out."""
    code = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: print(sorted(m for m in ('numpy', 'ctypes') if m in sys.modules),"
            " file=sys.stderr))\n"
            f"sys.argv = ['numamove', '--root', {FIXTURE_ROOT!r}, 'nodes']\n"
            "runpy.run_module('numamove', run_name='__main__', alter_sys=True)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "NUMA nodes" in run.stdout
    assert run.stderr.strip() == "[]"
