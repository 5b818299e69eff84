"""Hyperparameter tuning jobs and their trials."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, assignments, decode


class TuningMixin(Base):
    def create_tuning_job(self, name: str, config: dict, request: dict) -> bool:
        """Record a tuning job; False if one of that name already exists (resume it)."""
        with self.tx() as c:
            if c.execute("SELECT 1 FROM tuning_jobs WHERE name=?", (name,)).fetchone():
                return False
            c.execute(
                "INSERT INTO tuning_jobs(name, status, config, request, created_at) "
                "VALUES(?,?,?,?,?)",
                (name, "InProgress", json.dumps(config, sort_keys=True),
                 json.dumps(request, sort_keys=True), time.time()),
            )
            return True

    def get_tuning_job(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM tuning_jobs WHERE name=?", (name,))
        return None if r is None else decode(r, "config", "request")

    def list_tuning_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._q(
            "SELECT j.name, j.status, j.created_at, j.end_time, j.best_trial, "
            "(SELECT COUNT(*) FROM trials t WHERE t.tuning_job=j.name) AS trials, "
            "(SELECT objective FROM trials t WHERE t.tuning_job=j.name "
            " AND t.number=j.best_trial) AS best_objective "
            "FROM tuning_jobs j ORDER BY j.created_at DESC LIMIT ?",
            (limit,),
        )

    def set_tuning_job(self, name: str, **fields: Any) -> None:
        with self.tx() as c:
            c.execute(f"UPDATE tuning_jobs SET {assignments(fields)} WHERE name=?",
                      (*fields.values(), name))

    def add_trial(self, tuning_job: str, number: int, params: dict, job_name: str,
                  job_dir: str, hyperparameters: dict[str, Any]) -> None:
        """``params``: the sampler's values (what rebuilds the study); ``hyperparameters``:
        the tuned values the training job gets (what lineage and readers show)."""
        with self.tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO trials(tuning_job, number, status, params, job_name,"
                " job_dir, start_time, hyperparameters) VALUES(?,?,?,?,?,?,?,?)",
                (tuning_job, number, "InProgress", json.dumps(params, sort_keys=True), job_name,
                 job_dir, time.time(), json.dumps(hyperparameters, sort_keys=True)),
            )

    def set_trial(self, tuning_job: str, number: int, **fields: Any) -> None:
        if "metrics" in fields and not isinstance(fields["metrics"], str | None):
            fields["metrics"] = json.dumps(fields["metrics"], sort_keys=True)
        with self.tx() as c:
            c.execute(
                f"UPDATE trials SET {assignments(fields)} WHERE tuning_job=? AND number=?",
                (*fields.values(), tuning_job, number),
            )

    def get_trials(self, tuning_job: str) -> list[dict[str, Any]]:
        """Trials by number; ``hyperparameters`` is ``{}`` for trials recorded before the
        store kept them (migration 6)."""
        rows = self._q("SELECT * FROM trials WHERE tuning_job=? ORDER BY number", (tuning_job,))
        return [decode(decode(r, "params"), "metrics", "hyperparameters", empty={})
                for r in rows]
