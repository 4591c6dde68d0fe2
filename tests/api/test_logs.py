"""Logs are JSON lines and never carry a traceback's local variables."""

from __future__ import annotations

import json
import subprocess
import sys


def test_an_exception_is_logged_as_json_without_locals() -> None:
    program = """
import structlog
from api.logs import configure_logging
configure_logging("info")
log = structlog.get_logger("t")
def fail():
    password = "hunter2-secret"
    raise RuntimeError("boom")
try:
    fail()
except RuntimeError:
    log.exception("it failed", request_id="r1")
import logging
logging.getLogger("other").warning("stdlib too")
"""
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    assert [entry["event"] for entry in lines] == ["it failed", "stdlib too"]
    assert lines[0]["level"] == "error"
    assert lines[0]["request_id"] == "r1"
    assert "exception" in lines[0]
    assert "hunter2-secret" not in out.stderr
    assert lines[1]["logger"] == "other"


def test_an_unknown_level_is_refused() -> None:
    import pytest

    from api.logs import configure_logging

    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("loud")
