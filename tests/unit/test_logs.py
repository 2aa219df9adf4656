"""Log lines name the object they are about, in the plain format and in JSON, as `ccloud-operator run`
configures logging."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import kopf
import pytest

from ccloud_operator.__main__ import _configure_logging
from ccloud_operator.logs import about


@pytest.fixture
def configured() -> Iterator[Callable[[str], io.StringIO]]:
    """Configure logging as the operator does, with the root handler writing into a buffer."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level

    def configure(log_format: str) -> io.StringIO:
        _configure_logging(kopf, log_format, "INFO")
        out = io.StringIO()
        for handler in root.handlers:
            if handler not in before and isinstance(handler, logging.StreamHandler):
                handler.setStream(out)
        return out

    httpx_level = logging.getLogger("httpx").level
    yield configure
    root.handlers[:] = before
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(httpx_level)


def test_plain_lines_carry_time_level_logger_and_object(configured: Callable[[str], io.StringIO]) -> None:
    out = configured("plain")
    logger = logging.getLogger("ccloud_operator.confluent")
    with about("ApiKey team-a/orders-kafka"):
        logger.info("GET /iam/v2/api-keys/ABC 200")
    logger.warning("nothing in particular")
    first, second = out.getvalue().splitlines()[-2:]
    date, clock, level, name, *rest = first.split()
    assert date.count("-") == 2 and clock.count(":") == 2
    assert (level, name) == ("INFO", "ccloud_operator.confluent:")
    assert " ".join(rest) == "[ApiKey team-a/orders-kafka] GET /iam/v2/api-keys/ABC 200"
    assert second.split()[2] == "WARNING" and second.endswith("ccloud_operator.confluent: nothing in particular")


def test_json_lines_carry_the_object_as_a_field(configured: Callable[[str], io.StringIO]) -> None:
    out = configured("json")
    with about("ServiceAccount team-a/orders"):
        logging.getLogger("ccloud_operator.reconcile").info("Ready")
    record = json.loads(out.getvalue().splitlines()[-1])
    assert record["object"] == "ServiceAccount team-a/orders"
    assert record["message"] == "Ready"
    assert "timestamp" in record and record["severity"] == "info"


def test_kopf_saying_a_watch_handler_returned_is_left_out_below_debug(configured: Callable[[str], io.StringIO]) -> None:
    out = configured("plain")
    kopf_objects = logging.getLogger("kopf.objects")
    kopf_objects.info("Handler 'secrets' succeeded.")
    kopf_objects.info("Handler 'watch' failed temporarily: something worth knowing")
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/iam/v2/service-accounts 200 OK")
    lines = out.getvalue().splitlines()
    assert not any("succeeded" in line for line in lines)
    assert any("something worth knowing" in line for line in lines)
    assert not any("HTTP Request" in line for line in lines)  # the client logs its own line, at DEBUG
