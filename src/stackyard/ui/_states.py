"""State machines: the list, and one machine's state graph with an execution's path coloured
(the newest, or the one named by ``?execution=NAME``) beside that execution's event history.

The graph is drawn from the definition the execution ran (a machine updated since keeps
its old executions' pictures right). Every state is a node, those inside ``Parallel``
branches and ``Map`` iterations too (ASL names are unique across a whole machine).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from stackyard._checks import check_name
from stackyard.store import open_store
from stackyard.ui import _svg
from stackyard.ui._web import Page, render

router = APIRouter(route_class=Page)
EXECUTIONS = 100    # executions listed on a machine's page, newest first


@router.get("/states")
def state_machines(request: Request) -> Any:
    from stackyard import states

    return render(request, "states.html", machines=states.list_state_machines())


@router.get("/states/{name}")
def state_machine(request: Request, name: str, execution: str | None = None) -> Any:
    from stackyard import states
    from stackyard.states._executor import execution_arn

    name = check_name(name, "state machine")
    machine = states.describe_state_machine(name)
    runs = states.list_executions(name, limit=EXECUTIONS)
    shown = None
    if execution is not None:
        shown = states.describe_execution(
            execution_arn(name, check_name(execution, "execution")))
    elif runs:
        shown = states.describe_execution(runs[0]["executionArn"])
    history = states.get_execution_history(shown["executionArn"]) if shown else []
    definition = machine["definition"]
    if shown is not None:
        row = open_store().get_execution(shown["executionArn"])
        definition = row["definition"] if row else definition
    graph = state_graph(json.loads(definition) if isinstance(definition, str) else definition)
    status = path_status(history, graph, shown["status"] if shown else "RUNNING")
    return render(request, "state_machine.html", machine=machine, runs=runs, shown=shown,
                  history=history, dag=_svg.dag(graph, status), failures=FAILURES)


def state_graph(definition: dict[str, Any]) -> _svg.Graph:
    """An ASL definition's states and transitions: ``Next``, ``Choices`` and ``Default``
    (labelled), ``Catch`` (a failure edge); a ``Parallel`` state leads into each branch
    (numbered), a ``Map`` into its iteration (``each``), and their last states lead on to
    its ``Next``."""
    g = _svg.Graph({})

    def add(states: dict[str, Any], after: str | None) -> None:
        g.nodes.update({n: s.get("Type", "?") for n, s in states.items()})
        for n, s in states.items():
            # labels short enough for the gap between columns: branches by number
            inner = [(str(i), b) for i, b in enumerate(s.get("Branches", []), 1)]
            if s.get("ItemProcessor") or s.get("Iterator"):
                inner.append(("each", s.get("ItemProcessor") or s["Iterator"]))
            for label, sub in inner:
                add(sub.get("States", {}), s.get("Next"))
                g.edges.append(_svg.Edge(n, sub["StartAt"], "branch", label))
            targets = [] if inner else [(s.get("Next"), "data", "")]
            targets += [(c.get("Next"), "branch", "choice") for c in s.get("Choices", [])]
            targets += [(s.get("Default"), "branch", "default")]
            targets += [(c.get("Next"), "failure", "catch") for c in s.get("Catch", [])]
            g.edges.extend(_svg.Edge(n, t, kind, label) for t, kind, label in targets
                           if t in states)
            if after is not None and (s.get("End") or s.get("Type") == "Succeed"):
                g.edges.append(_svg.Edge(n, after, "data"))

    add(definition.get("States", {}), None)
    return g


FAILURES = ("Failed", "TimedOut", "Aborted")
_FINAL = {"SUCCEEDED": "Succeeded", "FAILED": "Failed", "TIMED_OUT": "Failed"}


def path_status(history: list[dict[str, Any]], graph: _svg.Graph, execution: str
                ) -> dict[str, str]:
    """Each state the execution reached: ``Succeeded`` once it exited, ``Failed`` if it
    failed (a ``Fail`` state, or a task, ``Parallel`` or ``Map`` whose failure a ``Catch``
    took, with no retry succeeding after), ``Executing`` while in it; states still open
    when the execution ended take its end (``Failed``, or ``Stopped`` when aborted)."""
    status: dict[str, str] = {}
    open_states: list[str] = []          # entered and not exited, oldest first
    failed: set[str] = set()

    def owner(event: str) -> str | None:
        """The open state a task/Parallel/Map result event is about (the newest)."""
        kind = "Parallel" if event.startswith("Parallel") else "Map" if event.startswith(
            "MapState") else None if event.startswith("MapIteration") else "Task"
        return next((n for n in reversed(open_states)
                     if kind is None or graph.nodes.get(n) == kind), None)

    for e in history:
        kind = e["type"]
        if kind.endswith("StateEntered"):
            n = e["stateEnteredEventDetails"]["name"]
            open_states.append(n)
            failed.discard(n)
            status[n] = "Failed" if graph.nodes.get(n) == "Fail" else "Executing"
        elif kind.endswith("StateExited"):
            n = e["stateExitedEventDetails"]["name"]
            if n in open_states:
                open_states.remove(n)
            status[n] = "Failed" if n in failed else "Succeeded"
        elif not kind.startswith("Execution") and (n := owner(kind)) is not None:
            if kind.endswith(FAILURES):
                failed.add(n)
            elif kind.endswith("Succeeded"):
                failed.discard(n)
    end = _FINAL.get(execution, "Stopped" if execution == "ABORTED" else "Executing")
    for n in open_states:
        if status[n] == "Executing":
            status[n] = end
    return status
