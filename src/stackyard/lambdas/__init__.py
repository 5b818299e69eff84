"""LAMBDA: a pipeline's ``LambdaStep`` runs a local Python function, ``handler(event,
context)`` from a script, in a job subprocess of its own (see ``_step``); functions
registered by name (``_registry``) are what Step Functions tasks call."""

from stackyard.lambdas._registry import (
    delete_function,
    get_function,
    list_functions,
    register_function,
)

__all__ = ["delete_function", "get_function", "list_functions", "register_function"]
