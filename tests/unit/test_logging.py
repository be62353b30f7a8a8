"""Production logs are one JSON object per line on stderr, whatever the values logged."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import orjson
import pytest
import structlog

from conduit.core.logging import configure_logging


def _lines(monkeypatch: pytest.MonkeyPatch, stderr: io.TextIOBase) -> list[dict[str, object]]:
    monkeypatch.setattr(sys, "stderr", stderr)
    configure_logging(level="INFO", json=True)
    log = structlog.get_logger("conduit.test")
    log.info("request", path="/api/tags", status=200, where=Path("/srv/media"))
    log.debug("not shown")
    log.warning("db_unavailable", error=ValueError("gone"))
    log.info("odd_values", by_id={1: "a"}, huge=2**70)  # orjson alone refuses both
    stderr.flush()
    text = (
        stderr.buffer.getvalue().decode()  # type: ignore[attr-defined]
        if hasattr(stderr, "buffer")
        else stderr.getvalue()  # type: ignore[attr-defined]
    )
    return [orjson.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("binary", [True, False], ids=["bytes-stderr", "text-only-stderr"])
def test_json_logs_are_one_object_per_line_with_every_field(
    monkeypatch: pytest.MonkeyPatch, binary: bool
) -> None:
    stderr: io.TextIOBase = io.TextIOWrapper(io.BytesIO()) if binary else io.StringIO()
    request, failure, odd = _lines(monkeypatch, stderr)
    assert {key: request[key] for key in ("event", "level", "path", "status")} == {
        "event": "request",
        "level": "info",
        "path": "/api/tags",
        "status": 200,
    }
    assert "/srv/media" in str(request["where"])  # not JSON by nature: its repr
    assert str(request["timestamp"]).endswith("Z")
    assert failure["event"] == "db_unavailable"
    assert failure["level"] == "warning"
    assert "gone" in str(failure["error"])
    assert (odd["by_id"], odd["huge"]) == ({"1": "a"}, 2**70)


def test_a_library_warning_goes_to_the_current_stderr_after_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command run by a test runner logs to the runner's stream, closed after the run;
    the standard library's records written later reach the stderr of that moment."""
    first = io.TextIOWrapper(io.BytesIO())  # as CliRunner's: flushing it once closed raises
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(level="INFO", json=True)
    logging.getLogger("a.library").warning("first")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("a.library").warning("second %s", "record")
    line = orjson.loads(second.getvalue().splitlines()[-1])
    assert (line["event"], line["level"]) == ("second record", "warning")
