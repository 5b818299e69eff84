"""Parallel member training without oversubscribing the machine.

Backend choice: joblib's **threading** backend. The expensive part of every supported
member (XGBoost, LightGBM and CatBoost's C++ cores, numpy/BLAS and scikit-learn's Cython
tree builders) releases the GIL, so threads run truly in parallel. Threads also share the
training data that was loaded once instead of pickling it (or memory-mapping it) into
``loky`` worker processes, and they need no importable, picklable estimator classes.

Oversubscription: ``n_workers`` threads each running a GBDT that defaults to "all
cores" would start ``n_workers * cpu_count`` OS threads. So every member is cloned and
its own thread parameter capped to ``cpu_count // n_workers``; BLAS pools are capped
with threadpoolctl for the whole parallel section (their limits are process-wide) and
OpenMP inside each worker thread (its limit is per-thread).

The same cloning step also stops CatBoost from writing its training logs
(``catboost_info/``) into the current directory, unless the user asked for them: the
ensemble fits every CatBoost member several times, often at once, and they would all
write to the same folder of whatever directory the script happens to run in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from joblib import Parallel, delayed
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from ._spec import member_kind

T = TypeVar("T")

# Parameter names that mean "threads" per library; for these None/<=0 means "all cores".
_NATIVE_KEYS = {
    "xgboost": ("n_jobs", "nthread"),
    "lightgbm": ("n_jobs", "num_threads", "nthread", "nthreads", "num_thread"),
    "catboost": ("thread_count",),
}
# The key that is always set, even when the user never mentioned it.
_PRIMARY_KEY = {"xgboost": "n_jobs", "lightgbm": "n_jobs", "catboost": "thread_count"}


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware, never more than ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def plan(n_jobs: int | None, n_tasks: int) -> tuple[int, int | None]:
    """``(workers, threads_per_member)``; threads is None when running sequentially.

    ``workers * threads <= cpu_count()`` always holds: workers are clamped to the CPU
    count because more threads than cores only adds contention.
    """
    cpus = cpu_count()
    if n_jobs is None or n_jobs == 1 or n_tasks <= 1:
        return 1, None
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid; use None, a positive int or -1")
    wanted = n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)
    workers = max(1, min(wanted, cpus, n_tasks))
    if workers == 1:
        return 1, None
    return workers, max(1, cpus // workers)


def _capped(value: Any, threads: int, none_means_all: bool) -> Any:
    if value is None:
        return threads if none_means_all else None
    if isinstance(value, int) and value > 0:
        return min(value, threads)
    return threads  # -1 / -2 / 0: "all cores" style values


def fit_clone(estimator: Any, threads: int | None) -> Any:
    """A clone of ``estimator`` to fit inside the ensemble.

    Its own thread parameters use at most ``threads`` (None: left alone). Nested
    estimators (a Pipeline's steps, a meta-estimator's base) are adjusted too, through
    their ``step__param`` names. For XGBoost/LightGBM/CatBoost an unset thread count
    means "all cores" and is always set; scikit-learn's ``n_jobs=None`` already means one
    thread and is left alone. CatBoost gets ``allow_writing_files=False`` unless
    ``allow_writing_files`` or ``train_dir`` was set.
    """
    est = clone(estimator)
    params = est.get_params(deep=True)
    owners = {"": est} | {path: value for path, value in params.items()
                          if hasattr(value, "get_params") and not isinstance(value, type)}
    updates: dict[str, Any] = {}
    for path, owner in owners.items():
        prefix = f"{path}__" if path else ""
        kind = member_kind(owner)
        own = owner.get_params(deep=False)
        if kind == "catboost" and own.get("allow_writing_files") is None \
                and own.get("train_dir") is None:
            updates[prefix + "allow_writing_files"] = False
        if threads is None:
            continue
        if kind in _PRIMARY_KEY:
            keys = {_PRIMARY_KEY[kind]} | {k for k in _NATIVE_KEYS[kind] if own.get(k) is not None}
            updates.update({prefix + k: _capped(own.get(k), threads, True) for k in keys})
        elif "n_jobs" in own:
            updates[prefix + "n_jobs"] = _capped(own["n_jobs"], threads, False)
    est.set_params(**{k: v for k, v in updates.items() if params.get(k, object()) != v})
    return est


def _limited(fn: Callable[[], T], threads: int) -> T:
    with threadpool_limits(limits=threads, user_api="openmp"):
        return fn()


def run(tasks: Sequence[Callable[[], T]], workers: int, threads: int | None) -> list[T]:
    """Run zero-argument callables, in order of results, on ``workers`` threads."""
    if workers <= 1 or threads is None:
        return [task() for task in tasks]
    with threadpool_limits(limits=threads, user_api="blas"):
        return Parallel(n_jobs=workers, backend="threading")(
            delayed(_limited)(task, threads) for task in tasks
        )
