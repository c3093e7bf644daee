"""A task earns points only for the code it teaches: finding ready-made answers in a student's code.

Each task declares in ``Task.forbidden`` the calls, classes and modules its answer must not use (the
course's own reference implementations and the library equivalents), e.g.
``("torchvision.ops.box_iou", "cvcourse_utils.detection")``. An entry names a qualified name and everything
below it; an entry that starts with a dot (``".unfold"``) names an attribute on any object (a tensor method).

:func:`find_delegations` reads the notebook's source (never runs it), starting from the task's function and
following everything it can reach: the functions and classes of the notebook it calls or subclasses, the
module-level names it reads (``tools = {"iou": box_iou}``), imports inside functions, aliases
(``import torchvision.ops as O``, ``F = torch.nn.functional``, ``from M import f as g``), re-exports and
subclasses of a forbidden class (compared as live objects where the library is loaded). Code that hides what it
calls (``exec``, ``eval``, ``__import__``, ``importlib``, ``getattr`` with a computed name, ``__dict__``,
``sys.modules``, ...) cannot be read, so it counts as delegated too. ``check`` and the grader run the same
reading; the grader does it in its own process, on the cells it merged, so a submission cannot change it.

What it cannot see: an answer computed through objects that allowed code returns at run time (for example
walking ``type(x).__mro__`` or a tensor's ``grad_fn`` to reach a library function), a course or library
function that is not in the list but calls a forbidden one inside (it does not read library code), and
library calls that are not declared in the task's list.
"""
from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import linecache
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

#: Forbidden in every task: the checks' own references, the solutions and PyTorch's low-level back doors.
ALWAYS_FORBIDDEN = ("cvcourse_utils.labchecks", "solutions", "torch._C", "torch.ops", "torch._refs",
                    "torch._decomp", "torch._prims", "torch._VF")

#: Names and attributes that hide what code calls: an answer that uses one cannot be read, so it earns nothing.
UNREADABLE = {
    "exec": "exec()", "eval": "eval()", "compile": "compile()", "__import__": "__import__()",
    "globals": "globals()", "vars": "vars()", "importlib": "importlib", "builtins": "builtins",
    "__builtins__": "__builtins__", "sys.modules": "sys.modules", "inspect": "inspect", "gc": "gc",
    "pickle": "pickle", "marshal": "marshal", "dill": "dill", "cloudpickle": "cloudpickle", "ctypes": "ctypes",
    "runpy": "runpy", "subprocess": "subprocess", "os.system": "os.system", "os.popen": "os.popen",
    "os.exec": "os.exec*", "operator.attrgetter": "operator.attrgetter", "operator.methodcaller": "operator.methodcaller",
    "types.FunctionType": "types.FunctionType", "types.CodeType": "types.CodeType", "code": "the code module",
    "codeop": "codeop",
}
UNREADABLE_ATTRIBUTES = {"__dict__", "__globals__", "__builtins__", "__code__", "__getattribute__", "__subclasses__",
                         "__import__", "__loader__", "__spec__", "__closure__", "__func__", "__wrapped__"}

#: Nodes that open a scope of their own (their names are not module-level).
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


@dataclass(frozen=True)
class Finding:
    """One forbidden use: ``what`` was used (``torchvision.ops.box_iou``), ``entry`` is the list entry it matches,
    ``where`` says where (``line 3 of nms``)."""

    what: str
    entry: str
    where: str

    def __str__(self) -> str:
        if self.where.startswith("its code"):
            return f"{self.what} ({self.where})"
        if self.entry.startswith("unreadable:"):
            return f"{self.what}, which hides what the code calls ({self.where})"  # what: already quoted
        via = "" if self.what == self.entry or self.what.startswith(self.entry + ".") else f", which is `{self.entry}`"
        return f"`{self.what}`{via} ({self.where})"


# --------------------------------------------------------------------------- the notebook's names


@dataclass
class Binding:
    """What a module-level name was bound to: a qualified name (an import or a dotted alias) or code to read."""

    qual: str | None = None      # an import's module path, or a dotted alias (``F = torch.nn.functional``)
    node: ast.AST | None = None  # code to read when the name is used (a def, a class, an expression)
    owner: str = ""              # the name it came from, for messages
    absolute: bool = False       # qual is a full module path (an import), not a chain of the notebook's names


@dataclass
class Module:
    """The module-level names of a notebook (all its cells, in order) and where each star import points."""

    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)

    def bind(self, name: str, binding: Binding, replace: bool = False) -> None:
        if replace:
            self.bindings[name] = [binding]
        else:
            self.bindings.setdefault(name, []).append(binding)


def dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]`` (also ``getattr(a, "b")``); None for anything else."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and _is_constant_getattr(node):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return None


def _is_constant_getattr(node: ast.Call) -> bool:
    return (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def _import_bindings(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """``(bound name, qualified name)`` for each name an import statement binds."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            out.append((alias.asname, alias.name) if alias.asname else (alias.name.split(".")[0], alias.name.split(".")[0]))
    else:
        base = ("." * node.level) + (node.module or "")
        for alias in node.names:
            out.append((alias.asname or alias.name, f"{base}.{alias.name}" if base else alias.name))
    return out


def _targets(target: ast.AST) -> list[str]:
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]


def _collect(statements: Iterable[ast.stmt], module: Module) -> None:
    """Module-level bindings of ``statements`` (into if/for/while/with/try bodies, not into defs or classes)."""
    for stmt in statements:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.bind(stmt.name, Binding(node=stmt, owner=stmt.name), replace=True)
            _collect_globals(stmt, module)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for name, qual in _import_bindings(stmt):
                if name == "*":
                    module.stars.append(qual[:-2])
                else:
                    module.bind(name, Binding(qual=qual, absolute=True), replace=True)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if stmt.value is None:
                continue
            chain = dotted(stmt.value)
            for target in targets:
                for name in _targets(target):
                    simple = isinstance(target, ast.Name) and not isinstance(stmt, ast.AugAssign)
                    module.bind(name, Binding(node=stmt.value, owner=name, qual=".".join(chain) if chain and simple else None),
                                replace=simple)
        else:
            for name, value in _statement_targets(stmt):
                module.bind(name, Binding(node=value, owner=name))
            for child in ("body", "orelse", "finalbody", "handlers"):
                _collect(getattr(stmt, child, []) or [], module)
        for walrus in (n for n in ast.walk(stmt) if isinstance(n, ast.NamedExpr) and not isinstance(stmt, _SCOPES)):
            module.bind(walrus.target.id, Binding(node=walrus.value, owner=walrus.target.id))


def _statement_targets(stmt: ast.stmt) -> list[tuple[str, ast.AST]]:
    """Names a ``for``/``with`` statement binds at module level, each with the expression it comes from."""
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [(name, stmt.iter) for name in _targets(stmt.target)]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return [(name, item.context_expr) for item in stmt.items if item.optional_vars is not None
                for name in _targets(item.optional_vars)]
    return []


def _collect_globals(scope: ast.AST, module: Module) -> None:
    """Assignments inside a function to names it declares ``global`` bind module-level names too."""
    declared = {name for n in ast.walk(scope) if isinstance(n, ast.Global) for name in n.names}
    if not declared:
        return
    for node in ast.walk(scope):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for name in set(_targets(target)) & declared:
                    module.bind(name, Binding(node=node.value, owner=name))


def read_module(sources: Iterable[str]) -> Module:
    """The module-level names of cells run one after another (a cell that does not parse is skipped)."""
    module = Module()
    for source in sources:
        try:
            tree = ast.parse(textwrap.dedent(source))
        except (SyntaxError, ValueError):
            continue
        _collect(tree.body, module)
    return module


# --------------------------------------------------------------------------- forbidden names and objects


def _loaded_object(qual: str) -> Any:
    """The object a qualified name denotes, from modules already imported (never imports a student's module)."""
    parts = qual.split(".")
    for i in range(len(parts), 0, -1):
        obj = sys.modules.get(".".join(parts[:i]))
        if obj is None:
            continue
        try:
            for attr in parts[i:]:
                obj = inspect.getattr_static(obj, attr) if not inspect.ismodule(obj) else getattr(obj, attr)
        except Exception:  # noqa: BLE001 - no such attribute, or a lazy import failing: not resolvable
            return None
        return obj
    return None


def _home(obj: Any) -> str | None:
    """Where a module, function or class is defined: ``torchvision.ops.boxes.box_iou`` (None for other objects)."""
    if inspect.ismodule(obj):
        return obj.__name__
    if inspect.isroutine(obj) or inspect.isclass(obj):
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
            return f"{module}.{qualname}"
    return None


class Rules:
    """The forbidden entries of one task, with the live objects they denote (for re-exports and subclasses)."""

    def __init__(self, forbidden: Iterable[str], eager: bool = True):
        entries = tuple(dict.fromkeys((*ALWAYS_FORBIDDEN, *forbidden)))
        self.names = tuple(e for e in entries if not e.startswith("."))
        self.declared = tuple(e for e in dict.fromkeys(forbidden) if not e.startswith("."))
        self.attributes = {e[1:] for e in entries if e.startswith(".")}
        self.objects: dict[int, tuple[Any, str]] = {}
        for entry in self.names:
            if eager or entry.split(".")[0] in sys.modules:  # a student's kernel loads only what its code loaded
                self._import_parent(entry)
            obj = _loaded_object(entry)
            if obj is not None and not isinstance(obj, (int, float, str, bool, type(None))):
                self.objects[id(obj)] = (obj, entry)
        self.classes = [(obj, entry) for obj, entry in self.objects.values() if inspect.isclass(obj)]

    @staticmethod
    def _import_parent(entry: str) -> None:
        parts = entry.split(".")
        for i in range(len(parts), 0, -1):
            name = ".".join(parts[:i])
            if name in sys.modules:
                return
            try:
                importlib.import_module(name)
                return
            except Exception:  # noqa: BLE001 - not a module: try its parent
                continue

    def match(self, qual: str) -> str | None:
        """The entry that forbids ``qual`` (textually, or as the same object / a subclass), or None."""
        for entry in self.names:
            if qual == entry or qual.startswith(entry + "."):
                return entry
        for key, what in UNREADABLE.items():
            if qual == key or qual.startswith(key + ".") or (key == "os.exec" and qual.startswith("os.exec")):
                return f"unreadable:{what}"
        obj = _loaded_object(qual)
        if obj is None:
            return None
        found = self.objects.get(id(obj))
        if found is not None and found[0] is obj:
            return found[1]
        home = _home(obj)
        if home is not None:  # a re-export of something defined in a forbidden place (``torchvision.models.vit_b_16``)
            for entry in self.declared:
                if home == entry or home.startswith(entry + "."):
                    return entry
        if inspect.isclass(obj):
            for cls, entry in self.classes:
                try:
                    if obj is not cls and issubclass(obj, cls):
                        return entry
                except TypeError:
                    continue
        return None


# --------------------------------------------------------------------------- reading a task's code


def _own_locals(scope: ast.AST) -> set[str]:
    """Names local to a function or lambda: its parameters and what its own body binds (not nested scopes)."""
    args = scope.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
    names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    if isinstance(scope, ast.Lambda):
        return names
    declared_global = set()
    todo = list(scope.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global |= set(node.names)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {name for name, _ in _import_bindings(node) if name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return names - declared_global


def _local_aliases(scope: ast.AST) -> dict[str, tuple[str, bool]]:
    """Inside one function: ``{name: (qualified name, absolute)}`` for names bound by an import (absolute) or
    to a dotted chain of other names (``O = torchvision.ops``: resolved when used)."""
    aliases = {}
    for node in ast.walk(scope):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            aliases.update({name: (qual, True) for name, qual in _import_bindings(node) if name != "*"})
        elif _alias_assignment(node):
            aliases[node.targets[0].id] = (".".join(dotted(node.value)), False)
    return aliases


def _alias_assignment(node: ast.AST) -> bool:
    """``name = a.b.c``: an alias, read where it is used rather than as a value."""
    return (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and dotted(node.value) is not None)


class Reader:
    """Walks everything a task's function can reach and records each forbidden use."""

    def __init__(self, module: Module, rules: Rules):
        self.module, self.rules = module, rules
        self.findings: list[Finding] = []
        self.done: set[int] = set()
        self.todo: list[tuple[ast.AST, str]] = []

    # -- names

    def resolve_global(self, name: str, seen: frozenset = frozenset()) -> list[str]:
        """The qualified names a module-level name may denote; code it is bound to is queued for reading."""
        if name in seen:
            return []
        bindings = self.module.bindings.get(name)
        if bindings is None:
            if hasattr(builtins, name):
                return [name]
            return [f"{star}.{name}" for star in self.module.stars]
        quals = []
        for b in bindings:
            if b.absolute:
                quals.append(b.qual)
                continue
            if b.qual is not None:  # an alias: resolve the chain's first name in turn
                head, _, rest = b.qual.partition(".")
                quals += [q + ("." + rest if rest else "") for q in self.resolve_global(head, seen | {name})]
                continue
            if b.node is not None and id(b.node) not in self.done:
                self.todo.append((b.node, b.owner or name))
        return quals

    def note(self, qual: str, where: str) -> bool:
        """Record ``qual`` if a rule forbids it; True when one does."""
        entry = self.rules.match(qual)
        if entry is not None:
            self.findings.append(Finding(f"`{qual}`" if entry.startswith("unreadable:") else qual, entry, where))
        return entry is not None

    # -- walking

    def read(self, root: ast.AST, owner: str) -> None:
        if id(root) in self.done:
            return
        self.done.add(id(root))
        start = getattr(root, "lineno", 1)
        self._visit(root, [], {}, owner, start)

    def _visit(self, node: ast.AST, scopes: list[set[str]], aliases: dict, owner: str, start: int) -> None:
        where = f"line {getattr(node, 'lineno', start) - start + 1} of {owner}"
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for child in [*getattr(node, "decorator_list", []), *node.args.defaults, *node.args.kw_defaults,
                          *(a.annotation for a in (*node.args.args, *node.args.kwonlyargs) if a.annotation)]:
                if child is not None:
                    self._visit(child, scopes, aliases, owner, start)
            inner = {**aliases, **_local_aliases(node)}
            body = node.body if isinstance(node.body, list) else [node.body]
            for child in body:
                self._visit(child, [*scopes, _own_locals(node)], inner, owner, start)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for _, qual in _import_bindings(node):
                self.note(qual[:-2] if qual.endswith(".*") else qual, where)
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and not any(node.func.id in s for s in scopes) and not _is_constant_getattr(node):
            self.findings.append(Finding("getattr() with a computed name", "unreadable:getattr", where))
        if isinstance(node, ast.Attribute) and dotted(node) is None:
            if node.attr in UNREADABLE_ATTRIBUTES:
                self.findings.append(Finding(f"`.{node.attr}`", f"unreadable:.{node.attr}", where))
            if node.attr in self.rules.attributes:
                self.findings.append(Finding(f".{node.attr}", f".{node.attr}", where))
        if _alias_assignment(node):  # F = torch.nn.functional: checked as a chain, not as a module passed on
            self._chain(dotted(node.value), scopes, aliases, where, alias=True)
            return
        chain = dotted(node) if isinstance(node, (ast.Attribute, ast.Name, ast.Call)) else None
        if chain and isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            self._chain(chain, scopes, aliases, where)
            if isinstance(node, ast.Call):  # getattr(a, "b", default): its default is code too
                for child in [*node.args[2:], *(k.value for k in node.keywords)]:
                    self._visit(child, scopes, aliases, owner, start)
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child, scopes, aliases, owner, start)

    def _bases(self, head: str, scopes: list[set[str]], aliases: dict, seen: frozenset = frozenset()) -> list[str]:
        """The qualified names the first name of a chain may denote, here."""
        if head in seen:
            return []
        bases = []
        if head in aliases:
            qual, absolute = aliases[head]
            if absolute:
                bases.append(qual)
            else:
                first, _, rest = qual.partition(".")
                bases += [b + ("." + rest if rest else "") for b in self._bases(first, scopes, aliases, seen | {head})]
        if not any(head in s for s in scopes):  # a local that shares a module-level name is not that name
            bases += self.resolve_global(head)
        return bases

    def _chain(self, chain: list[str], scopes: list[set[str]], aliases: dict, where: str, alias: bool = False) -> None:
        head, rest = chain[0], chain[1:]
        for attr in rest:
            if attr in UNREADABLE_ATTRIBUTES:
                self.findings.append(Finding(f"`.{attr}`", f"unreadable:.{attr}", where))
            if attr in self.rules.attributes:
                self.findings.append(Finding(f".{attr}", f".{attr}", where))
        for base in dict.fromkeys(self._bases(head, scopes, aliases)):
            full = [*base.split("."), *rest]
            if not any(self.note(".".join(full[:i]), where) for i in range(1, len(full) + 1)) and not alias:
                self.note_module_value(".".join(full), where)

    def note_module_value(self, qual: str, where: str) -> None:
        """A module that holds a forbidden name, used as a value (``[ops][0].box_iou``), hides what it calls."""
        if qual.count(".") < 1 or not inspect.ismodule(_loaded_object(qual)):
            return
        inside = [e for e in self.rules.names if e.startswith(qual + ".")]
        if inside:
            self.findings.append(Finding(f"the module `{qual}` passed on as a value", f"unreadable:module {inside[0]}", where))

    def run(self, function: str) -> list[Finding]:
        for qual in self.resolve_global(function):  # the task's name bound by an import or to an alias
            parts = qual.split(".")
            any(self.note(".".join(parts[:i]), f"the definition of {function}") for i in range(1, len(parts) + 1))
        while self.todo:
            node, owner = self.todo.pop(0)
            self.read(node, owner)
        unique = {(f.what, f.where): f for f in self.findings}
        return list(unique.values())


@functools.lru_cache(maxsize=256)
def rules_for(forbidden: tuple[str, ...], eager: bool = True) -> Rules:
    """The :class:`Rules` of a forbidden list, built once. ``eager`` (the grader) imports the modules it names, so
    re-exports compare as objects; otherwise (``check``, in a student's kernel) only those of packages the
    notebook has already imported, since code can only reach a loaded package."""
    return Rules(forbidden, eager)


def find_delegations(sources: Iterable[str], function: str, forbidden: Iterable[str], eager: bool = True) -> list[Finding]:
    """Every forbidden use in what ``function`` can reach, in notebook cells ``sources`` (in the order they run).

    A function the cells never define is reported as unreadable (its code cannot be checked).
    """
    sources = list(sources)
    module = read_module(sources)
    if function not in module.bindings:
        return [Finding(f"no definition of `{function}` in the notebook", "unreadable:missing", "its code could not be read")]
    return Reader(module, rules_for(tuple(forbidden), eager)).run(function)


# --------------------------------------------------------------------------- live functions (what ``check`` reads)


def _namespace(fn: Any) -> dict:
    """The global names ``fn`` was defined among (for a class: those of its methods)."""
    if isinstance(getattr(fn, "__globals__", None), dict):
        return fn.__globals__
    for value in vars(fn).values() if inspect.isclass(fn) else ():
        value = getattr(value, "__func__", value)
        if isinstance(getattr(value, "__globals__", None), dict):
            return value.__globals__
    return getattr(sys.modules.get(getattr(fn, "__module__", "") or ""), "__dict__", {})


def notebook_sources(fn: Callable, caller: dict | None = None) -> list[str]:
    """The code run before ``fn`` was checked: the kernel's input history in a notebook (IPython's ``In``, from
    ``caller``'s names or ``fn``'s), else the source of ``fn``'s module."""
    history = (caller if caller is not None and "In" in caller else _namespace(fn)).get("In")
    if isinstance(history, list) and len(history) > 1 and all(isinstance(s, str) for s in history):
        return history[1:]
    try:
        return [inspect.getsource(sys.modules[fn.__module__])]
    except (KeyError, OSError, TypeError, AttributeError):
        return []


def _defining_cells(fn: Any) -> list[str]:
    """The whole source of the cell(s) or file(s) that define ``fn`` (its methods, for a class), from the line
    cache that IPython and Python keep for tracebacks: found even when the kernel keeps no history."""
    codes = [fn.__code__] if hasattr(fn, "__code__") else []
    if inspect.isclass(fn):
        for value in vars(fn).values():
            value = getattr(value, "__func__", value)
            if hasattr(value, "__code__"):
                codes.append(value.__code__)
    cells = []
    for filename in dict.fromkeys(code.co_filename for code in codes):
        lines = linecache.getlines(filename)
        if lines:
            cells.append("".join(lines))
    if not cells:
        try:
            cells.append(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):
            pass
    return cells


def _live_imports(sources: list[str], namespace: dict) -> str:
    """Import lines for the modules, functions and classes that ``sources`` name and ``namespace`` holds, so
    that code read without the cells that imported them still resolves (``np`` -> ``import numpy as np``)."""
    used = set()
    for source in sources:
        try:
            used |= {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
        except (SyntaxError, ValueError):
            continue
    lines = []
    for name in sorted(used):
        value = namespace.get(name)
        if inspect.ismodule(value):
            lines.append(f"import {value.__name__} as {name}")
        elif (inspect.isroutine(value) or inspect.isclass(value)) and _home(value) and \
                getattr(value, "__module__", None) not in ("__main__", namespace.get("__name__")):
            module, qualname = value.__module__, value.__qualname__
            if "." not in qualname:
                lines.append(f"from {module} import {qualname} as {name}")
    return "\n".join(lines)


def _lambda_source(fn: Callable) -> str | None:
    """``_lambda_ = lambda ...`` for a lambda, read from the line that made it."""
    try:
        lines = inspect.getsource(fn)
    except (OSError, TypeError):
        return None
    for start in range(len(lines)):
        for end in range(len(lines), start, -1):
            try:
                tree = ast.parse(lines[start:end].strip(), mode="eval")
            except SyntaxError:
                continue
            if isinstance(tree.body, ast.Lambda):
                return f"_lambda_ = {ast.unparse(tree.body)}"
    return None


def delegations_in_function(fn: Callable, forbidden: Iterable[str], caller: dict | None = None) -> list[Finding]:
    """:func:`find_delegations` for a live function or class (what ``check`` reads): the notebook's history, or
    else the cells that defined it with imports for the names they use. ``caller``: the global names of the code
    that called ``check`` (the notebook), whose ``In`` is the history; by default ``fn``'s own."""
    forbidden = tuple(forbidden)
    name = getattr(fn, "__name__", "")
    namespace = _namespace(fn)
    home = _home(fn)
    if caller is not None and home and getattr(fn, "__module__", None) != caller.get("__name__"):
        entry = rules_for(forbidden, False).match(home)  # not defined in the notebook: a library's or the course's own
        if entry is not None:
            return [Finding(home, entry, f"the definition of {name}")]
    try:
        closure = inspect.getclosurevars(fn).nonlocals if inspect.isfunction(fn) else {}
    except (TypeError, ValueError):
        closure = {}
    sources = notebook_sources(fn, caller)
    if name == "<lambda>":
        source = _lambda_source(fn)
        if source is None:
            return [Finding("a lambda whose source cannot be read", "unreadable:source", "its code could not be read")]
        return find_delegations([*sources, _live_imports([source], {**namespace, **closure}), source], "_lambda_", forbidden, False)
    if name not in read_module(sources).bindings:
        cells = _defining_cells(fn)
        sources += [_live_imports(cells, {**namespace, **closure}), *cells]
    return find_delegations(sources, name, forbidden, False)


TAUGHT_CASE = "taught code: no ready-made answer"


def delegation_message(function: str, by_hand: str, findings: list[Finding]) -> str:
    """What a task is told when its answer uses ready-made code (one line per finding after the first)."""
    uses = "; ".join(str(f) for f in findings[:3]) + (f"; and {len(findings) - 3} more" if len(findings) > 3 else "")
    return (f"`{function}` asks you to {by_hand}; it uses {uses}. A task earns points only for the code it teaches: "
            "write that part yourself (the check and the grader give this task 0 until then).")
