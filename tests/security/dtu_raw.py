"""Raw TCP connections to a DTU listener, as a peer that may never register: open one (with a
first payload), and tell whether the gateway closed it without sending it a byte."""

import socket

import harness as h


def closed(sock):
    """True once the gateway closed it (end of file); data from the gateway fails the test."""
    try:
        data = sock.recv(64, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    if data:
        raise h.TestFailure("the gateway sent %r to a connection that never registered" % data)
    return True


def connect(port, payload=b""):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(None)  # blocking, so that MSG_DONTWAIT alone decides whether recv waits
    if payload:
        s.sendall(payload)
    return s
