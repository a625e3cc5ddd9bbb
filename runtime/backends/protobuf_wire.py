"""Just enough of protobuf's wire format to read the profiles the Pyroscope agent pushes (its
PushRequest and pprof's Profile), whose .proto files no package here ships: fields by number,
nested messages as bytes, varints packed or not."""

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5


def fields(data):
    """(field number, value) of each field of one message, in order: an int for a varint,
    bytes otherwise."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == VARINT:
            value, position = _varint(data, position)
        elif wire_type == LENGTH_DELIMITED:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            value, position = data[position:position + size], position + size
        else:
            raise ValueError(f"wire type {wire_type} cannot be read")
        yield number, value


def messages(data, number):
    """Every value of the repeated field `number` (messages, strings or bytes)."""
    return [value for field, value in fields(data) if field == number]


def first_values(data):
    """{field number: its first value}: for messages whose fields are not repeated."""
    found = {}
    for number, value in fields(data):
        found.setdefault(number, value)
    return found


def varints(data, number):
    """The repeated integer field `number`, packed (one bytes value) or one field each."""
    numbers = []
    for value in messages(data, number):
        if isinstance(value, int):
            numbers.append(value)
        else:
            position = 0
            while position < len(value):
                item, position = _varint(value, position)
                numbers.append(item)
    return numbers


def _varint(data, position):
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, position
