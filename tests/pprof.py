"""Pushes as the Pyroscope agent sends them, for the tests of make run's Pyroscope
(runtime/backends/pprof.py): a PushRequest whose one series carries one pprof profile, the
protobuf written field by field as runtime/backends/protobuf_wire.py reads it."""

import gzip

PERIOD_NS = 20_000_000  # the services' sampling step (ops/profiling.py)


def push(service, samples, start_ns, end_ns):
    """The body of one push: `samples` [(stack outermost first, count, {label: value})] of
    `service`, in a profile of the window [start_ns, end_ns)."""
    strings = {"": 0}  # text -> its index in the string table

    def string(text):
        return strings.setdefault(text, len(strings))

    functions, encoded_samples = {}, []  # name -> its id (and its location's)
    for stack, count, labels in samples:
        # pprof's stacks go from the leaf out
        locations = [functions.setdefault(name, len(functions) + 1) for name in reversed(stack)]
        encoded_samples.append(
            _bytes(1, b"".join(_varint(location) for location in locations)) + _bytes(2, _varint(count * PERIOD_NS))
            + b"".join(_bytes(3, _number(1, string(key)) + _number(2, string(value))) for key, value in labels.items()))
    profile = (
        b"".join(_bytes(2, sample) for sample in encoded_samples)
        + b"".join(_bytes(4, _number(1, number) + _bytes(4, _number(1, number)))
                   for number in range(1, len(functions) + 1))
        + b"".join(_bytes(5, _number(1, number) + _number(2, string(name)))
                   for number, name in enumerate(functions, start=1))
        + b"".join(_bytes(6, text.encode()) for text in strings)
        + _number(9, start_ns) + _number(10, end_ns - start_ns) + _number(12, PERIOD_NS)
    )
    labels = [("__name__", "process_cpu"), ("service_name", service)]
    series = b"".join(_bytes(1, _bytes(1, name.encode()) + _bytes(2, value.encode())) for name, value in labels)
    return _bytes(1, series + _bytes(2, _bytes(1, gzip.compress(profile))))


def _varint(number):
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _number(field, number):
    return _varint(field << 3) + _varint(number)


def _bytes(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data
