"""The one way stackyard imports a user's code: every load in a namespace of its own.

A model version's entry point and the helper modules beside it (``import utils``) become
submodules of a package with a fresh name, ``stackyard_code_<n>_<hash>``, so two versions in
one server (variants, or both sides of a blue/green update) never share a module, and
nothing is put on ``sys.path`` or under a plain name in ``sys.modules`` -- global state that
controller threads would race on. Inside that code ``import utils`` still finds the sibling
file: each module loaded here gets its own ``__import__`` (through its ``__builtins__``),
which maps the names of the code folder's modules onto the private package. Relative
imports (``from . import utils``) work as in any package.

When the caller passes the sha256 of every file (code from the artifact store), a module is
compiled from bytes that were checked against that hash as they were read: an edited file
is refused (``IntegrityError``) even when it is imported later, lazily, and no ``.pyc`` is
ever read or written. Only ``.py`` modules load from the code folder.

Limits (as documented in the README): ``importlib.import_module("utils")`` and pickles that
name a helper module by its plain name (``utils.MyTransformer``) look in the global module
table and do not see the private one.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import itertools
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from stackyard.errors import IntegrityError, UsageError

_PREFIX = "stackyard_code_"
_numbers = itertools.count(1)
_SPACES: dict[str, _Space] = {}  # private package name -> its load


class _Space:
    """One load of one code folder: its private package name, files and ``__import__``."""

    def __init__(self, name: str, root: Path, files: Mapping[str, str] | None) -> None:
        self.name = name
        self.root = root
        self.files = dict(files) if files is not None else None
        self.dirs = {"/".join(rel.split("/")[:i]) for rel in self.files
                     for i in range(1, rel.count("/") + 1)} if self.files is not None else set()
        self.owned: dict[str, bool] = {}
        self.builtins = {**builtins.__dict__, "__import__": self._import}

    # what the folder holds: the manifest when there is one, else the folder itself
    def _has_file(self, rel: str) -> bool:
        return rel in self.files if self.files is not None else (self.root / rel).is_file()

    def _has_dir(self, rel: str) -> bool:
        return rel in self.dirs if self.files is not None else (self.root / rel).is_dir()

    def owns(self, top: str) -> bool:
        """Whether a plain ``import top`` means this folder's module (a module or package
        there; a bare folder only when nothing installed has that name, as Python's own
        namespace packages work)."""
        if top not in self.owned:
            mine = self._has_file(f"{top}.py") or self._has_file(f"{top}/__init__.py")
            if not mine and top.isidentifier() and self._has_dir(top):
                mine = importlib.machinery.PathFinder.find_spec(top) is None
            self.owned[top] = mine
        return self.owned[top]

    def _import(self, name: str, globals: Any = None, locals: Any = None,
                fromlist: Any = (), level: int = 0) -> ModuleType:
        if level == 0 and name and self.owns(name.partition(".")[0]):
            module = builtins.__import__(f"{self.name}.{name}", globals, locals, fromlist, 0)
            return module if fromlist else sys.modules[f"{self.name}.{name.partition('.')[0]}"]
        return builtins.__import__(name, globals, locals, fromlist, level)

    def spec(self, fullname: str) -> importlib.machinery.ModuleSpec | None:
        rel = fullname[len(self.name) + 1:].replace(".", "/")
        for candidate, package in ((f"{rel}/__init__.py", True), (f"{rel}.py", False)):
            if self._has_file(candidate):
                path = self.root / candidate
                return importlib.util.spec_from_file_location(
                    fullname, path, loader=_Loader(self, candidate),
                    submodule_search_locations=[str(path.parent)] if package else None)
        if self._has_dir(rel):  # a folder without __init__.py: a namespace package
            spec = importlib.machinery.ModuleSpec(fullname, _Loader(self, None),
                                                  is_package=True)
            spec.submodule_search_locations = [str(self.root / rel)]
            return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, space: _Space, rel: str | None) -> None:
        self.space = space
        self.rel = rel

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__["__builtins__"] = self.space.builtins
        if self.rel is None:
            return
        path = self.space.root / self.rel
        data = path.read_bytes()
        if self.space.files is not None:
            actual = hashlib.sha256(data).hexdigest()
            if actual != self.space.files[self.rel]:
                raise IntegrityError(f"{path} was modified after it was stored (sha256 "
                                     f"{actual[:12]}… != recorded "
                                     f"{self.space.files[self.rel][:12]}…); refusing to "
                                     "import it")
        exec(compile(data, str(path), "exec", dont_inherit=True), module.__dict__)  # noqa: S102


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the modules of private packages, and only those."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        space = _SPACES.get(fullname.partition(".")[0])
        return space.spec(fullname) if space is not None and fullname != space.name else None


_FINDER = _Finder()
sys.meta_path.insert(0, _FINDER)  # once, at import: never changed from a thread later


def load_module(root: str | Path, entry: str,
                files: Mapping[str, str] | None = None) -> ModuleType:
    """Import ``entry`` (a ``.py`` file, relative to ``root``) in a new private namespace.

    ``files``: ``{relative path: sha256}`` of the folder (from ``artifacts.checkout``);
    each module is checked against it as it is read, and only those files can be imported.
    Without it the folder is trusted as it is (a user's local code)."""
    root = Path(root).resolve()
    parts = [p for p in entry.split("/") if p not in ("", ".")]
    if not entry.endswith(".py") or ".." in parts or entry.startswith("/") or any(
            "." in p for p in [*parts[:-1], parts[-1][:-3]]):
        raise UsageError(f"entry point {entry!r} must be a .py file inside its code folder, "
                         "with no other '.' in its name")
    rel = "/".join(parts)
    if not (rel in files if files is not None else (root / rel).is_file()):
        raise UsageError(f"entry point {rel} is not in {root}")
    tag = hashlib.sha256(repr(sorted(files.items()) if files is not None else str(root))
                         .encode()).hexdigest()[:12]
    name = f"{_PREFIX}{next(_numbers)}_{tag}"
    space = _Space(name, root, files)
    package = ModuleType(name)
    package.__path__ = [str(root)]
    package.__package__ = name
    package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    package.__spec__.submodule_search_locations = package.__path__
    sys.modules[name] = package
    _SPACES[name] = space
    try:
        return importlib.import_module(f"{name}.{rel[:-3].replace('/', '.')}")
    except BaseException:
        for key in [k for k in sys.modules if k == name or k.startswith(f"{name}.")]:
            sys.modules.pop(key, None)
        _SPACES.pop(name, None)
        raise


def plain_name(module_name: str) -> str:
    """A module's name as its code folder knows it (``pipeline`` for
    ``stackyard_code_3_ab12cd34ef56.pipeline``); other names unchanged. What a record
    (a pipeline definition) keeps: the private prefix differs with every load."""
    if module_name.startswith(_PREFIX) and "." in module_name:
        return module_name.partition(".")[2]
    return module_name
