"""LAMBDA: a pipeline's ``LambdaStep`` runs a local Python function, ``handler(event,
context)`` from a script, in a job subprocess of its own (see ``_step``)."""
