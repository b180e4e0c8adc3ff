"""motia_django.steps.logger: ``FlowLogger``'s records (message, attributes, levels, ``warn``, ``exception``)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from motia_django.steps.logger import FlowLogger, flow_log


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def target():
    """A logger of its own with a handler keeping the records, at DEBUG."""
    logger = logging.getLogger("tests.flow_logger")
    handler = Records()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, handler.records
    logger.removeHandler(handler)


def test_message_with_step_and_data(target):
    logger, records = target
    FlowLogger("t1", "CreateChat", ["chat"], logger=logger).info("created", {"id": "m1", "text": "héllo"})
    (record,) = records
    assert record.getMessage() == '[CreateChat] created {"id": "m1", "text": "héllo"}'
    assert record.levelno == logging.INFO and record.name == "tests.flow_logger"


def test_message_without_step_or_data(target):
    logger, records = target
    flow = FlowLogger("t1", logger=logger)
    flow.info("plain")
    flow.info(42)
    flow.info("100% done %s")  # never %-formatted
    assert [r.getMessage() for r in records] == ["plain", "42", "100% done %s"]


def test_data_that_json_cannot_hold(target):
    logger, records = target
    flow = FlowLogger("t1", "S", logger=logger)
    flow.info("when", {"at": dt.date(2026, 1, 2)})  # default=str
    flow.info("tuple keys", {(1, 2): "x"})  # not JSON: repr
    assert records[0].getMessage() == '[S] when {"at": "2026-01-02"}'
    assert records[1].getMessage() == "[S] tuple keys {(1, 2): 'x'}"


def test_records_carry_trace_step_flows_and_data(target):
    logger, records = target
    flows = ["chat", "ops"]
    FlowLogger("trace-9", "Step", flows, logger=logger).info("m", {"k": 1})
    flows.append("later")  # the logger keeps its own list
    (record,) = records
    assert (record.trace_id, record.step, record.flows, record.data) == ("trace-9", "Step", ["chat", "ops"], {"k": 1})
    FlowLogger("trace-0", logger=logger).debug("m")
    assert (records[1].step, records[1].flows, records[1].data) == ("", [], None)


def test_levels_and_the_warn_alias(target):
    logger, records = target
    flow = FlowLogger("t", logger=logger)
    flow.debug("d")
    flow.info("i")
    flow.warning("w")
    flow.warn("w2")
    flow.error("e")
    assert [r.levelno for r in records] == [logging.DEBUG, logging.INFO, logging.WARNING, logging.WARNING,
                                            logging.ERROR]
    assert FlowLogger.warn is FlowLogger.warning


def test_levels_below_the_loggers_are_not_even_formatted(target):
    logger, records = target
    logger.setLevel(logging.WARNING)

    class Explodes:
        def __str__(self) -> str:
            raise AssertionError("formatted although filtered")

    flow = FlowLogger("t", "S", logger=logger)
    flow.debug(Explodes(), {"x": 1})
    flow.info(Explodes())
    flow.warning("kept")
    assert [r.getMessage() for r in records] == ["[S] kept"]


def test_exception_records_the_traceback_at_error(target):
    logger, records = target
    flow = FlowLogger("t", "S", logger=logger)
    try:
        raise ValueError("bad input")
    except ValueError:
        flow.exception("failed", {"n": 1})
    (record,) = records
    assert record.levelno == logging.ERROR and record.getMessage() == '[S] failed {"n": 1}'
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    flow.error("no traceback")
    assert records[1].exc_info is None


def test_the_default_logger_is_motia_django_flow():
    handler = Records()
    flow_log.addHandler(handler)
    try:
        FlowLogger("t", "S").info("to the flow logger")
    finally:
        flow_log.removeHandler(handler)
    assert flow_log.name == "motia_django.flow"
    assert [r.getMessage() for r in handler.records] == ["[S] to the flow logger"]
