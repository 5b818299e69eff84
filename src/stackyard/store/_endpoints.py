"""Managed endpoints: the store is their control plane (config, deployment plan, progress)."""

from __future__ import annotations

import json
import time
from typing import Any

from stackyard.store._base import Base, assignments, decode


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

    def start_deployment(self, name: str, deployment: dict) -> int:
        """Bump the endpoint's generation with a new deployment plan; returns it."""
        with self.tx() as c:
            gen = c.execute("SELECT generation FROM endpoints WHERE name=?",
                            (name,)).fetchone()[0] + 1
            c.execute("UPDATE endpoints SET generation=?, deployment=?, status='Updating', "
                      "updated_at=? WHERE name=?",
                      (gen, json.dumps({**deployment, "generation": gen}), time.time(), name))
            return int(gen)

    def delete_endpoint(self, name: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM endpoints WHERE name=?", (name,))
