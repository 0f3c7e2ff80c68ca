import os
import socket

import pytest
from hypothesis import settings

# CI runs the fuzz tests on a fixed example sequence so a run is reproducible and
# a new random find cannot turn an unrelated submission red; developers' runs
# keep exploring (and their finds become regression tests).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture
def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
