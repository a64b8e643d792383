"""flows/sweep/patience.py: the sweep's poll is tried again while a server refuses connections, within its
patience, each wait logged; an error no server caused, and an outage past the patience, end the sweep."""

from __future__ import annotations

import logging
import socket

import pytest

from flows.sweep.patience import patiently

log = logging.getLogger("test-patience")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def refused_then(result, refusals: int):
    """A poll that connects to a port nothing listens on for its first `refusals` calls, then returns `result`."""
    port, calls = closed_port(), []

    def poll():
        calls.append(1)
        if len(calls) <= refusals:
            socket.create_connection(("127.0.0.1", port), timeout=5)
        return result
    return poll, calls


def test_a_refused_connection_is_waited_for_and_logged(caplog):
    poll, calls = refused_then("done", refusals=1)
    with caplog.at_level(logging.WARNING, logger="test-patience"):
        assert patiently(poll, log) == "done"
    assert len(calls) == 2
    assert "a server did not answer (ConnectionRefusedError" in caplog.text and "giving up in" in caplog.text


def test_an_outage_past_the_patience_ends_the_sweep():
    poll, calls = refused_then("done", refusals=100)
    with pytest.raises(ConnectionRefusedError):
        patiently(poll, log, patience=0)
    assert len(calls) == 1


def test_an_error_no_server_caused_is_not_retried():
    calls = []

    def poll():
        calls.append(1)
        raise KeyError("a bug")
    with pytest.raises(KeyError):
        patiently(poll, log)
    assert len(calls) == 1
