"""Loaded by Python at start-up when this folder is on PYTHONPATH: every attempt to open a
network connection or resolve a host name fails. Used where no network namespace can be made."""

import socket


def _blocked(*args, **kwargs):
    raise OSError(101, "network access blocked by the Provena test harness")


socket.socket.connect = _blocked  # type: ignore[method-assign]
socket.socket.connect_ex = _blocked  # type: ignore[method-assign]
socket.create_connection = _blocked  # type: ignore[assignment]
socket.getaddrinfo = _blocked  # type: ignore[assignment]
