"""One real Prefect server for the flow tests of a test process (entering Prefect's test
harness costs ~12 s here, so it is entered once)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
