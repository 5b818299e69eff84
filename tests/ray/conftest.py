"""A real Ray cluster and a real S3-compatible server (moto) on loopback, one per module.

The cluster has a head that runs nothing (``num_cpus=0``, as on a real cluster) and worker
nodes of one CPU each; the artifact store is a bucket on a ``moto_server`` subprocess. Both
are slow to start, so a module shares them; every test still gets its own
``STACKYARD_HOME`` and its own store prefix.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="the ray backend's tests need Ray (pip install "
                          "'stackyard[ray]')")
pytest.importorskip("s3fs", reason="the shared artifact store's tests need s3fs")
from ray.cluster_utils import Cluster  # noqa: E402

from waiting import free_port  # noqa: E402

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
          "AWS_DEFAULT_REGION": "us-east-1"}


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Infra:
    """The module's cluster and S3 server, and what a test needs to point stackyard at
    them."""

    def __init__(self, cluster: Cluster, endpoint: str, bucket: str) -> None:
        self.cluster = cluster
        self.endpoint = endpoint
        self.bucket = bucket

    free_port = staticmethod(free_port)

    @property
    def address(self) -> str:
        return self.cluster.address

    def store_uri(self) -> str:
        return f"s3://{self.bucket}/t-{secrets.token_hex(4)}"

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """The environment of a ``stackyard`` subprocess using this cluster and store."""
        return {**os.environ, **S3_ENV, "AWS_ENDPOINT_URL": self.endpoint,
                "STACKYARD_HOME": str(home), "STACKYARD_ARTIFACTS": self.store_uri(), **extra}


@pytest.fixture(scope="module")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H",
                               "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    home = tmp_path_factory.mktemp("ray-node-home")
    # the nodes' processes (also those a test adds) inherit this environment: the store's
    # endpoint and keys, and a STACKYARD_HOME of their own (never the repository's)
    mp = pytest.MonkeyPatch()
    for k, v in {**S3_ENV, "AWS_ENDPOINT_URL": endpoint, "STACKYARD_HOME": str(home),
                 "RAY_USAGE_STATS_ENABLED": "0"}.items():
        mp.setenv(k, v)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1)
    cluster.add_node(num_cpus=1)
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        bucket = "stackyard-tests"

        def up() -> bool:
            try:
                s3.create_bucket(Bucket=bucket)
                return True
            except Exception:  # noqa: BLE001 - not listening yet
                return False

        wait_for(up, 30, "the moto S3 server")
        yield Infra(cluster, endpoint, bucket)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        server.terminate()
        server.wait(timeout=30)
        mp.undo()


@pytest.fixture
def ray_env(infra: Infra, stackyard_home: Path, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[Infra]:
    """This process pointed at the module's cluster and store (for in-process APIs); the
    process's backend is local again afterwards."""
    from stackyard.runtime import use_backend

    for k, v in {**S3_ENV, "AWS_ENDPOINT_URL": infra.endpoint,
                 "STACKYARD_ARTIFACTS": infra.store_uri()}.items():
        monkeypatch.setenv(k, v)
    yield infra
    use_backend("local")
