"""Loading a pipeline file: the one way a ``NAME.py`` that defines ``pipeline`` is imported
(``stackyard run``, ``models on-approve``, schedules and event rules)."""

from __future__ import annotations

from pathlib import Path

from stackyard.errors import DefinitionError
from stackyard.workflow._pipeline import Pipeline


def load_pipeline(file: Path) -> Pipeline:
    """Import FILE and return its ``pipeline``, through the one importer of user code
    (``stackyard._imports``): in a namespace of its own, so its sibling modules
    (``import helpers``) import as beside a script, yet nothing lands on ``sys.path`` or
    under a plain name in ``sys.modules``, and a second load sees edited helpers."""
    from stackyard._imports import load_module  # importlib machinery: only to run a file

    if not file.is_file():
        raise DefinitionError(f"{file} does not exist")
    real = file.resolve()  # a link runs its target, beside the target's siblings
    if real.suffix != ".py" or "." in real.stem:
        raise DefinitionError(f"{file}: a pipeline file is a Python module, NAME.py with no "
                              "other '.' in its name; rename it")
    try:
        module = load_module(real.parent, real.name)
    except DefinitionError:
        raise
    except SystemExit as e:  # sys.exit(0) would otherwise end `stackyard run` with success
        raise DefinitionError(f"{file} exited (sys.exit({e.code!r})) before defining "
                              "`pipeline`; a pipeline file must define it, not exit") from None
    except Exception as e:
        raise DefinitionError(f"{file} raised while loading: {type(e).__name__}: {e}") from e
    pipeline = getattr(module, "pipeline", None)
    if not isinstance(pipeline, Pipeline):
        raise DefinitionError(f"{file} must define a variable `pipeline` (a stackyard Pipeline)")
    return pipeline
