"""Managed endpoints: the store is their control plane (config, deployment plan, progress).

Each step of an update (plan accepted, fleet loaded, traffic shifted, bake, alarm, the end)
is an ``endpoint.update`` event, written in the same transaction as the deployment status
it changes, so the step list and the status never disagree.
"""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, assignments, decode
from stackyard.store._events import insert_event, matching_events

UPDATE_STEP = "endpoint.update"
ENDED = ("Completed", "RolledBack", "Failed")


class EndpointsMixin(Base):
    def create_endpoint(self, name: str, config: dict) -> bool:
        now = time.time()
        with self.tx() as c:
            if c.execute("SELECT 1 FROM endpoints WHERE name=?", (name,)).fetchone():
                return False
            c.execute("INSERT INTO endpoints(name, config, status, created_at, updated_at) "
                      "VALUES(?,?,?,?,?)", (name, json.dumps(config), "Creating", now, now))
            return True

    def get_endpoint(self, name: str) -> dict[str, Any] | None:
        r = self._one("SELECT * FROM endpoints WHERE name=?", (name,))
        return None if r is None else decode(decode(r, "config"), "deployment")

    def list_endpoints(self) -> list[dict[str, Any]]:
        return [decode(decode(r, "config"), "deployment")
                for r in self._q("SELECT * FROM endpoints ORDER BY name")]

    def set_endpoint(self, name: str, **fields: Any) -> None:
        for key in ("config", "deployment"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key])
        fields["updated_at"] = time.time()
        with self.tx() as c:
            c.execute(f"UPDATE endpoints SET {assignments(fields)} WHERE name=?",
                      (*fields.values(), name))

    def start_deployment(self, name: str, deployment: dict, plan: dict | None = None) -> int:
        """Bump the endpoint's generation with a new deployment plan and record its first
        step, ``planned`` (with ``plan``, what the step list shows of it); returns it."""
        with self.tx() as c:
            gen = c.execute("SELECT generation FROM endpoints WHERE name=?",
                            (name,)).fetchone()[0] + 1
            c.execute("UPDATE endpoints SET generation=?, deployment=?, status='Updating', "
                      "updated_at=? WHERE name=?",
                      (gen, json.dumps({**deployment, "generation": gen}), time.time(), name))
            insert_event(c, UPDATE_STEP, {**(plan or {}), "endpoint": name,
                                          "generation": gen, "step": "planned"})
            return int(gen)

    def deployment_step(self, name: str, generation: int, step: str, detail: dict[str, Any],
                        status: str | None = None, config: dict | None = None) -> bool:
        """Record ``step`` of update ``generation`` (its ``detail`` in the event) unless it
        was replaced or has ended, or this step (at this ``detail["share"]``) is recorded
        already: every worker of a server carries out the same plan, and the first to reach
        a step records it. With ``status`` the deployment moves to it in the same
        transaction (keeping ``share`` and ``reason`` of ``detail``); an ending status puts
        the endpoint back InService, and a ``config`` becomes the endpoint's. Returns whether
        anything was written."""
        with self.tx() as c:
            row = c.execute("SELECT deployment, created_at FROM endpoints WHERE name=?",
                            (name,)).fetchone()
            dep = json.loads(row["deployment"]) if row and row["deployment"] else {}
            if dep.get("generation") != generation or dep.get("status") in ENDED:
                return False
            if matching_events(c, UPDATE_STEP, row["created_at"], endpoint=name,
                               generation=generation, step=step, share=detail.get("share")):
                return False
            if status is not None:
                dep = {**dep, "status": status,
                       **{k: detail[k] for k in ("share", "reason") if k in detail}}
                fields: dict[str, Any] = {"deployment": json.dumps(dep),
                                          "updated_at": time.time()}
                if status in ENDED:
                    fields["status"] = "InService"
                if config is not None:
                    fields["config"] = json.dumps(config)
                c.execute(f"UPDATE endpoints SET {assignments(fields)} WHERE name=?",
                          (*fields.values(), name))
            insert_event(c, UPDATE_STEP, {**detail, "endpoint": name,
                                          "generation": generation, "step": step})
            return True

    def deployment_steps(self, name: str, generation: int) -> list[dict[str, Any]]:
        """The recorded steps of update ``generation`` of endpoint ``name`` (of this
        endpoint, not an earlier one of the same name), oldest first."""
        row = self._one("SELECT created_at FROM endpoints WHERE name=?", (name,))
        if row is None:
            return []
        with self._lock:
            return matching_events(self._conn, UPDATE_STEP, row["created_at"], endpoint=name,
                                   generation=generation)

    def delete_endpoint(self, name: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM endpoints WHERE name=?", (name,))
