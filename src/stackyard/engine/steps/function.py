"""``@step`` functions: plain Python run inside the engine process (no subprocess).

A function is named in the definition by file, qualified name and source hash
(``function_ref``, which the SDK calls). A run stores each function's file when it starts;
a resume in a new process runs that snapshot, after checking its hash, not the file as
edited since. Results that are not JSON are pickled into the content-addressed store and
only unpickled after their hash is checked (``load_result``).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from stackyard import artifacts
from stackyard._imports import plain_name
from stackyard.engine._environ import scoped_environ
from stackyard.engine._execute import Attempt
from stackyard.engine.steps._base import StepType, Tokens
from stackyard.errors import DefinitionError, IntegrityError, StepFailed

if TYPE_CHECKING:
    from stackyard.engine._definition import PipelineDef, StepDef


def function_ref(func: Callable) -> dict[str, str]:
    """How a definition names a function: module, qualified name, file and source hash."""
    try:
        source = inspect.getsource(func)
        file = str(Path(inspect.getfile(func)).resolve())
    except (OSError, TypeError):
        source, file = repr(func.__code__.co_code), ""
    return {"Module": plain_name(func.__module__), "Name": func.__qualname__, "File": file,
            "CodeHash": hashlib.sha256(source.encode()).hexdigest()}


def same_code(step: StepDef, func: Callable) -> bool:
    """Whether a live function handed to a resume is still the code the step recorded."""
    ref = step.arguments.get("Function") if isinstance(step.arguments, dict) else None
    return isinstance(ref, dict) and function_ref(func)["CodeHash"] == ref.get("CodeHash")


_snapshots: dict[str, ModuleType] = {}   # sha256 of a code snapshot -> module run from it
_snapshots_lock = threading.Lock()


def _snapshot_module(uri: str, file: str, module_name: str) -> ModuleType:
    """Execute a stored snapshot of a ``@step`` function's file as a module, once per
    process; the bytes executed are the bytes whose sha256 the store recorded.

    Not ``_imports.load_module``: the module must keep the original ``__file__`` (paths
    relative to it resolve as they did), a name stable across processes for the pickles of
    its classes, and file names ``load_module`` refuses (``my.pipeline.py``)."""
    try:
        path = artifacts.verify(uri)
        data = path.read_bytes()
    except (IntegrityError, OSError) as e:
        raise StepFailed(f"the code snapshot of {file}: {e}", "IntegrityError") from e
    digest = path.parent.name                      # objects/<sha256>/<name>
    if hashlib.sha256(data).hexdigest() != digest:  # changed since verify() looked
        raise StepFailed(f"the code snapshot of {file} changed in the store; refusing to "
                         "run it", "IntegrityError")
    with _snapshots_lock:
        module = _snapshots.get(digest)
        if module is None:
            module = ModuleType(f"stackyard_snapshot_{digest[:16]}")
            module.__file__ = file
            module.__package__ = module_name.rpartition(".")[0]
            sys.modules[module.__name__] = module   # pickle and dataclasses look here
            if str(Path(file).parent) not in sys.path:  # its sibling modules, as at start
                sys.path.insert(0, str(Path(file).parent))
            try:
                exec(compile(data, str(path), "exec"), module.__dict__)  # noqa: S102
            except Exception as e:
                del sys.modules[module.__name__]
                raise StepFailed(f"the snapshot of {file} taken when the run started raised "
                                 f"while loading: {type(e).__name__}: {e}",
                                 "DefinitionError") from e
            _snapshots[digest] = module
    return module


def load_function(ref: dict[str, str], snapshot: str | None) -> Callable:
    """A ``@step`` function for a run in a new process (a resume): from the snapshot of its
    file taken when the run started. It must be the function the definition names (same
    source hash), else the step fails rather than run other code."""
    if snapshot is None:
        why = ("it was defined interactively (no file to snapshot); pass the function to "
               "resume_run(functions=...)" if not ref.get("File") else
               f"the run recorded no snapshot of {ref['File']}; start a new run")
        raise StepFailed(f"cannot load @step function {ref.get('Name')}: {why}",
                         "DefinitionError")
    obj: Any = _snapshot_module(snapshot, ref["File"], ref.get("Module", ""))
    try:
        for part in ref["Name"].split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise StepFailed(f"the snapshot of {ref['File']} taken when the run started has no "
                         f"function {ref['Name']}", "DefinitionError") from None
    func = getattr(obj, "__stackyard_function__", obj)
    if function_ref(func)["CodeHash"] != ref["CodeHash"]:
        raise StepFailed(
            f"@step function {ref['Name']} in {ref['File']} changed between defining the "
            "pipeline and starting the run, so the code recorded at start is not the code "
            "the run began with; start a new run", "DefinitionError")
    return func


def load_result(outputs: dict[str, Any]) -> Any:
    """A step's result: inline JSON, or a pickle unpickled only after its hash check."""
    if "ResultUri" in outputs:
        path = artifacts.verify(outputs["ResultUri"])
        return pickle.loads(path.read_bytes())
    return outputs.get("Result")


class FunctionStepType(StepType):
    name = "Function"
    # Its arguments may be any Python values (upstream results), not JSON.
    records_arguments = False

    def validate(self, step: StepDef, pdef: PipelineDef) -> None:
        f = step.arguments["Function"]
        if not isinstance(f, dict) or not f.get("Name") or not f.get("CodeHash"):
            raise DefinitionError(f"step {step.name!r}: Function must name the function "
                                  f"and its CodeHash; got {f!r}")
        if f.get("File") and not Path(f["File"]).is_file():
            raise DefinitionError(f"step {step.name!r}: function file {f['File']} is missing")

    def property_error(self, step: StepDef, tokens: Tokens) -> str | None:
        return None if tokens and tokens[0] == "Result" else super().property_error(
            step, tokens)

    def code_files(self, step: StepDef) -> list[str]:
        file = step.arguments["Function"].get("File")
        return [file] if file else []

    def cache_arguments(self, step: StepDef, resolved: Any,
                        outputs: Mapping[str, Any]) -> Any:
        """Upstream results as stored (inline JSON or a content-addressed URI), not the
        Python values they load as."""
        return {d: outputs.get(d) for d in sorted(step.deps)}

    def execute(self, a: Attempt, resolved: dict[str, Any]) -> dict[str, Any]:
        ref = a.step.arguments["Function"]
        func = a.functions.get(a.step.name) or load_function(
            ref, a.snapshots.get(ref.get("File", "")))
        try:
            with scoped_environ(resolved.get("Environment")):
                value = func(*resolved.get("Args", []), **resolved.get("Kwargs", {}))
        except Exception as e:
            tb = "".join(traceback.format_exception(e)[-6:])
            err = StepFailed(f"{type(e).__name__}: {e}\n{tb}", type(e).__name__)
            err.error_types = [c.__name__ for c in type(e).__mro__]  # type: ignore[attr-defined]
            raise err from e
        try:
            text = json.dumps(value)
            if json.loads(text) == value:
                return {"Result": value}
        except (TypeError, ValueError):
            pass
        # Not JSON: a pickle in the content-addressed store (see ``load_result``).
        return {"ResultUri": artifacts.put_bytes(pickle.dumps(value, protocol=5),
                                                 "result.pkl")}
