"""Run a tuning job: Optuna proposes, the job runtime trains, the store remembers.

Our store is the single source of truth. On every (re)start the Optuna study is rebuilt
in memory from the recorded trials (and warm-start parents), so a tuning job killed with
``kill -9`` resumes without repeating finished trials, and trial jobs still running are
adopted rather than started twice. Optuna needs no storage of its own.

A stop (the ``stop`` event, which a pipeline run shares with its TuningStep, or Ctrl-C)
launches no new trial and ends every live one's process group; the job ends ``Stopped``.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import optuna
from filelock import FileLock, Timeout

from stackyard import _checks, _home, runtime
from stackyard.errors import NotFoundError, UsageError
from stackyard.runtime._metrics import compile_metrics, parse_line
from stackyard.store import open_store
from stackyard.tuning._ranges import distributions, grid, grid_size, to_hyperparameters
from stackyard.tuning._read import summary

optuna.logging.set_verbosity(optuna.logging.WARNING)
Progress = Callable[[dict[str, Any]], None]
TERMINAL = ("Completed", "Failed", "Stopped")


def tuning_dir(name: str) -> Path:
    return _home.home() / "tuning" / name


def _sampler(cfg: dict[str, Any]) -> optuna.samplers.BaseSampler:
    strategy = cfg["Strategy"]
    seed = cfg.get("RandomSeed")
    if strategy == "Random":
        return optuna.samplers.RandomSampler(seed=seed)
    if strategy == "Grid":  # grid points are enqueued by the loop; nothing left to sample
        return optuna.samplers.RandomSampler(seed=seed)
    # Bayesian (and Hyperband's proposals): TPE's default of 10 random start-up trials
    # would make a small budget pure random search, so start model-based search early,
    # model parameters jointly, and let parallel trials see each other (constant liar).
    budget = cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            n_startup_trials=max(2, min(5, budget // 4)), multivariate=True,
            constant_liar=True, seed=seed)


def _pruner(cfg: dict[str, Any]) -> optuna.pruners.BasePruner:
    if cfg["Strategy"] == "Hyperband":
        hb = (cfg.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
        return optuna.pruners.HyperbandPruner(min_resource=hb.get("MinResource", 1),
                                              max_resource=hb.get("MaxResource", "auto"),
                                              reduction_factor=3)
    if cfg.get("TrainingJobEarlyStoppingType", "Off") == "Auto":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


class TuningRun:
    def __init__(self, name: str, on_progress: Progress | None = None,
                 on_log: Callable[[str, str], None] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.store = open_store()
        job = self.store.get_tuning_job(name)
        if job is None:
            raise NotFoundError(f"no tuning job {name!r}; see `stackyard tuning list`")
        self.name = name
        self.job = job
        self.cfg = job["config"]["HyperParameterTuningJobConfig"]
        self.request = job["request"]
        self.objective = self.cfg["HyperParameterTuningJobObjective"]
        self.minimize = self.objective["Type"] == "Minimize"
        self.dists = distributions(self.cfg["ParameterRanges"])
        limits = self.cfg["ResourceLimits"]
        self.max_jobs = int(limits["MaxNumberOfTrainingJobs"])
        if self.cfg["Strategy"] == "Grid":
            self.max_jobs = min(self.max_jobs, grid_size(self.cfg["ParameterRanges"]))
        self.max_parallel = int(limits["MaxParallelTrainingJobs"])
        # max_runtime_in_seconds: counted from the job's creation, across resumes.
        runtime_limit = limits.get("MaxRuntimeInSeconds")
        self.deadline = None if runtime_limit is None else job["created_at"] + float(
            runtime_limit)
        self.expired = threading.Event()
        self._ended: set[int] = set()
        self.on_progress = on_progress or (lambda e: None)
        self.on_log = on_log
        self.stop = stop or threading.Event()
        self.metric_defs = self.request["AlgorithmSpecification"]["MetricDefinitions"]
        self.objective_rx = compile_metrics(
            [d for d in self.metric_defs if d["Name"] == self.objective["MetricName"]])

    # ---- the study, rebuilt from the store -----------------------------------------
    def _study(self) -> optuna.Study:
        # named after the job: Hyperband assigns a trial to its bracket by a hash of the
        # study's name and the trial's number, so an unnamed study (a random name) would put
        # the same trial in another bracket on every run and on every resume
        study = optuna.create_study(
            study_name=self.name, direction="minimize" if self.minimize else "maximize",
            sampler=_sampler(self.cfg), pruner=_pruner(self.cfg))
        warm = self.job["config"].get("WarmStartConfig") or {}
        for parent in warm.get("ParentHyperParameterTuningJobs", []):
            for t in self.store.get_trials(parent["HyperParameterTuningJobName"]):
                self._replay(study, t, from_parent=True)
        for t in self.store.get_trials(self.name):
            if t["status"] in TERMINAL:
                self._replay(study, t, from_parent=False)
        return study

    def _replay(self, study: optuna.Study, t: dict[str, Any], from_parent: bool) -> None:
        params = t["params"]
        if set(params) != set(self.dists) or any(
                not self.dists[k]._contains(self.dists[k].to_internal_repr(v))
                for k, v in params.items()):
            return  # a parent's trial outside this search space tells us nothing usable
        if from_parent and t["status"] != "Completed":
            return
        state = {"Completed": optuna.trial.TrialState.COMPLETE,
                 "Stopped": optuna.trial.TrialState.PRUNED}.get(t["status"],
                                                              optuna.trial.TrialState.FAIL)
        study.add_trial(optuna.trial.create_trial(
            state=state, params=params, distributions=self.dists,
            value=t["objective"] if state == optuna.trial.TrialState.COMPLETE else None))

    # ---- one trial -------------------------------------------------------------------
    def _trial(self, number: int, trial: optuna.Trial, adopt: dict[str, Any] | None
               ) -> tuple[str, float | None]:
        hps = {**self.request.get("HyperParameters", {}),
               **to_hyperparameters(trial.params)}
        req = {**self.request, "HyperParameters": hps}
        job_name = _checks.job_name(self.name, f"{number:03d}")
        job_dir = tuning_dir(self.name) / f"trial-{number:03d}"
        share = max(1, _home.cpu_count() // self.max_parallel)
        spec = runtime.training_spec(job_name, req, num_cpus=share)
        metric = self.objective["MetricName"]
        state = {"pid": None, "start": None, "step": 0, "pruned": None}

        def on_line(line: str) -> None:
            if self.on_log is not None:
                self.on_log(job_name, line)
            if state["pruned"] is not None:
                return  # what a stopped job prints until the signal lands depends on load
            for _, value in parse_line(line, self.objective_rx):
                trial.report(value, state["step"])
                state["step"] += 1
                if trial.should_prune():
                    state["pruned"] = (f"stopped early at report {state['step']}: {metric}="
                                       f"{value:g} was worse than the other trials' at that point")
                    runtime.stop(state["pid"], state["start"], job_dir)
                    return

        def started(pid: int, start: str | None) -> None:
            state["pid"], state["start"] = pid, start
            self.store.set_trial(self.name, number, pid=pid, pid_start=start)

        def not_stopped() -> None:  # a stop that came while the trial was being prepared
            if self.stop.is_set():
                raise _StoppedBeforeStart

        try:
            result = runtime.run(spec, job_dir, adopt=adopt is not None,
                                 recorded=((adopt or {}).get("pid"),
                                           (adopt or {}).get("pid_start")),
                                 on_started=started, before_start=not_stopped, on_log=on_line)
        except _StoppedBeforeStart:
            self.store.set_trial(self.name, number, status="Stopped", end_time=time.time(),
                                 failure_reason="the tuning job was stopped before this "
                                 "training job started")
            return "Stopped", None
        series = runtime.job_metrics(job_dir, self.metric_defs)
        final = {k: v[-1] for k, v in series.items() if v}
        if state["pruned"] is not None:
            self.store.set_trial(self.name, number, status="Stopped", end_time=time.time(),
                                 failure_reason=state["pruned"], metrics=final)
            return "Stopped", None
        if self.stop.is_set() or self.expired.is_set():
            why = ("the tuning job reached its max_runtime_in_seconds" if self.expired.is_set()
                   else "the tuning job was stopped")
            self.store.set_trial(self.name, number, status="Stopped", end_time=time.time(),
                                 failure_reason=why, metrics=final)
            return "Stopped", None
        if not result.ok:
            self.store.set_trial(self.name, number, status="Failed", end_time=time.time(),
                                 failure_reason=result.reason, metrics=final)
            return "Failed", None
        if metric not in final:
            regex = next(d["Regex"] for d in self.metric_defs if d["Name"] == metric)
            reason = (f"objective metric {metric!r} never appeared in the training log "
                      f"(regex {regex!r}); print it so the regex matches")
            self.store.set_trial(self.name, number, status="Failed", end_time=time.time(),
                                 failure_reason=reason, metrics=final)
            return "Failed", None
        props = runtime.training_outputs(job_dir, job_name, req, series)
        self.store.set_trial(self.name, number, status="Completed", end_time=time.time(),
                             objective=final[metric], metrics=final,
                             model_uri=props["ModelArtifacts"]["S3ModelArtifacts"])
        return "Completed", final[metric]

    # ---- the loop --------------------------------------------------------------------
    def _done_early(self) -> str | None:
        """A completion criterion met: the reason, else None."""
        crit = self.cfg.get("TuningJobCompletionCriteria") or {}
        done = [t for t in self.store.get_trials(self.name) if t["status"] == "Completed"]
        if not done:
            return None
        values = [t["objective"] for t in done]
        best = min(values) if self.minimize else max(values)
        target = crit.get("TargetObjectiveMetricValue")
        if target is not None and (best <= target if self.minimize else best >= target):
            return f"reached the target objective {target}"
        patience = (crit.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving")
        if patience:
            best_at = values.index(best)
            if len(values) - 1 - best_at >= int(patience):
                return f"no improvement in the last {patience} training jobs"
        return None

    def _expire(self) -> str | None:
        """Past the deadline: stop the live trials (no new one starts); the reason."""
        if self.deadline is None or time.time() < self.deadline:
            return None
        self.expired.set()
        for t in self.store.get_trials(self.name):  # each pass: a trial may start late
            if t["status"] == "InProgress" and t["number"] not in self._ended:
                self._ended.add(t["number"])
                runtime.stop(t["pid"], t["pid_start"], _trial_dir(t))
        return f"reached max_runtime_in_seconds ({self.deadline - self.job['created_at']:g} s)"

    def run(self) -> dict[str, Any]:
        if self.job["status"] in TERMINAL:
            return summary(self.name)
        d = tuning_dir(self.name)
        d.mkdir(parents=True, exist_ok=True)
        lock = FileLock(d / ".lock")
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise UsageError(f"tuning job {self.name} is being run by another process") from None
        try:
            return self._loop()
        finally:
            lock.release()

    def _loop(self) -> dict[str, Any]:
        study = self._study()
        rows = self.store.get_trials(self.name)
        self.next_number = len(rows) + 1
        self.launched = len(rows)
        pool = ThreadPoolExecutor(max_workers=self.max_parallel)
        running: dict[Future, tuple[int, optuna.Trial]] = {}
        for row in rows:  # adopt what a dead orchestrator left running
            if row["status"] == "InProgress":
                study.enqueue_trial(row["params"])
                trial = study.ask(self.dists)
                running[pool.submit(self._trial, row["number"], trial, row)] = (
                    row["number"], trial)
        if self.cfg["Strategy"] == "Grid":
            self._enqueue_grid(study, rows)
        early: str | None = self._done_early() or self._expire()
        try:
            while True:
                try:
                    early = self._pass(study, pool, running, early)
                except KeyboardInterrupt:   # Ctrl-C: stop, then collect the live trials
                    self.stop.set()
                    continue
                if not running and (early is not None or self.stop.is_set()
                                    or self.launched >= self.max_jobs):
                    break
        finally:
            pool.shutdown(wait=True)
        return self._finish(early)

    def _pass(self, study: optuna.Study, pool: ThreadPoolExecutor,
              running: dict[Future, tuple[int, optuna.Trial]], early: str | None) -> str | None:
        """Launch what the budget allows, then collect the trials that ended."""
        early = early or self._expire()
        if self.stop.is_set():
            # keep signalling while stopping: a trial may have started since the last pass
            stop_trials(self.name, mark=False)
        while (early is None and not self.stop.is_set() and self.launched < self.max_jobs
               and len(running) < self.max_parallel):
            trial = study.ask(self.dists)
            number = self.next_number
            self.next_number += 1
            self.launched += 1
            job_dir = tuning_dir(self.name) / f"trial-{number:03d}"
            self.store.add_trial(self.name, number, trial.params,
                                 _checks.job_name(self.name, f"{number:03d}"), str(job_dir),
                                 hyperparameters=to_hyperparameters(trial.params))
            running[pool.submit(self._trial, number, trial, None)] = (number, trial)
            self._progress(self.launched)
        if not running:
            return early
        done, _ = wait(running, timeout=0.25, return_when=FIRST_COMPLETED)
        for fut in done:
            number, trial = running.pop(fut)
            try:
                status, value = fut.result()
            except Exception as e:  # noqa: BLE001 - one broken trial, not the job
                self.store.set_trial(self.name, number, status="Failed",
                                     end_time=time.time(),
                                     failure_reason=f"internal error: {e!r}")
                status, value = "Failed", None
            if status == "Completed":
                study.tell(trial, value)
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED
                           if status == "Stopped" else optuna.trial.TrialState.FAIL)
            early = early or self._done_early()
            self._progress(self.launched)
        return early

    def _enqueue_grid(self, study: optuna.Study, rows: list[dict[str, Any]]) -> None:
        """Every grid point not tried yet, in a seeded random order (Optuna's GridSampler
        stops the study from inside ``tell``, which an ask-and-tell loop cannot host)."""
        import itertools
        import random

        space = grid(self.cfg["ParameterRanges"])
        names = sorted(space)
        tried = {tuple(str(r["params"][n]) for n in names) for r in rows}
        points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(
            *(space[n] for n in names))]
        random.Random(self.cfg.get("RandomSeed")).shuffle(points)
        for p in points:
            if tuple(str(p[n]) for n in names) not in tried:
                study.enqueue_trial(p)

    def _progress(self, launched: int) -> None:
        trials = self.store.get_trials(self.name)
        counts = Counter(t["status"] for t in trials)
        done = [t["objective"] for t in trials if t["status"] == "Completed"]
        best = (min(done) if self.minimize else max(done)) if done else None
        self.on_progress({"name": self.name, "total": self.max_jobs, "launched": launched,
                          "finished": sum(counts[s] for s in TERMINAL), "best": best,
                          "counts": dict(counts)})

    def _finish(self, early: str | None) -> dict[str, Any]:
        trials = self.store.get_trials(self.name)
        done = [t for t in trials if t["status"] == "Completed"]
        if self.stop.is_set():
            status, reason = "Stopped", "stopped by request"
        elif done:
            status, reason = "Completed", early
        elif self.expired.is_set():
            status, reason = "Failed", f"{early}, before any training job completed"
        else:
            reasons = Counter((t["failure_reason"] or "unknown").splitlines()[0]
                              for t in trials)
            status = "Failed"
            reason = f"all {len(trials)} training jobs failed: " + "; ".join(
                f"{n}× {r}" for r, n in reasons.most_common())
        best = None
        if done:
            best = (min if self.minimize else max)(done, key=lambda t: t["objective"])["number"]
        self.store.set_tuning_job(self.name, status=status, end_time=time.time(),
                                  failure_reason=reason if status != "Completed" else early,
                                  best_trial=best)
        return summary(self.name)


def _trial_dir(t: dict[str, Any]) -> Path | None:
    """A trial's job folder (where a job on Ray, which has no local pid, is named)."""
    return Path(t["job_dir"]) if t.get("job_dir") else None


class _StoppedBeforeStart(Exception):
    """A trial cancelled by a stop before its job was launched."""


def stop_trials(name: str, mark: bool = True) -> None:
    """End the process group of every live trial of a tuning job (their launchers kill the
    group: SIGTERM, then SIGKILL). With ``mark``, for a job whose orchestrator is gone,
    also record the trials and the job as Stopped."""
    store = open_store()
    for t in store.get_trials(name):
        if t["status"] == "InProgress":
            runtime.stop(t["pid"], t["pid_start"], _trial_dir(t))
            if mark:
                store.set_trial(name, t["number"], status="Stopped", end_time=time.time(),
                                failure_reason="the tuning job was stopped")
    job = store.get_tuning_job(name)
    if mark and job is not None and job["status"] not in TERMINAL:
        store.set_tuning_job(name, status="Stopped", end_time=time.time(),
                             failure_reason="stopped by request")

