"""Free loopback ports, for processes the tests and the benchmark start."""

import socket


def free_ports(count):
    """`count` different loopback ports that were free a moment ago. Held open together
    while they are chosen: one after the other, the system may hand out the same port twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port():
    return free_ports(1)[0]
