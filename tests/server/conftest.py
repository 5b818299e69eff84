"""Fixtures for the server tests (helpers live in ``server_helpers``)."""

from __future__ import annotations

import pytest
from server_helpers import LiveAPI


@pytest.fixture
def api(stackyard_home):
    server = LiveAPI()
    yield server
    server.stop()


@pytest.fixture
def open_api(stackyard_home):
    """No token: loopback callers only."""
    server = LiveAPI(token=None)
    yield server
    server.stop()
