"""The Pyroscope agent's push, decoded: a PushRequest of pprof profiles (github.com/google/pprof,
proto/profile.proto), read with the few protobuf wire rules it needs (protobuf_wire.py)."""

from runtime.backends import protobuf_wire as wire
from runtime.backends.http import inflate
from runtime.backends.profiles import CpuSample, Profile


def decode_push(body):
    """The CPU profiles of one push: PushRequest {series: [{labels, samples: [{raw_profile}]}]},
    each raw profile a pprof Profile (github.com/google/pprof, proto/profile.proto)."""
    profiles = []
    for series in wire.messages(body, 1):
        labels = dict(_pair(label) for label in wire.messages(series, 1))
        if labels.get("__name__") != "process_cpu":
            continue
        for raw_sample in wire.messages(series, 2):
            for profile in wire.messages(raw_sample, 1):
                profiles.append(_pprof_profile(profile, labels.get("service_name", "")))
    return profiles


def _pair(label):
    fields = wire.first_values(label)
    return fields.get(1, b"").decode(), fields.get(2, b"").decode()


def _pprof_profile(profile, service):
    if profile[:2] == b"\x1f\x8b":
        profile = inflate(profile)  # within the body limit: a push may carry a gzip bomb
    strings = [text.decode() for text in wire.messages(profile, 6)]
    functions = {}
    for function in wire.messages(profile, 5):
        fields = wire.first_values(function)
        functions[fields.get(1, 0)] = strings[fields.get(2, 0)]
    locations = {}
    for location in wire.messages(profile, 4):
        lines = [wire.first_values(line).get(1, 0) for line in wire.messages(location, 4)]
        # A location's lines go from the inlined function out; pprof's stacks, from the leaf out.
        locations[wire.first_values(location).get(1, 0)] = [functions.get(line, "?") for line in lines]
    header = wire.first_values(profile)
    start_ns = header.get(9, 0)
    end_ns = start_ns + header.get(10, 0)
    samples = []
    for sample in wire.messages(profile, 2):
        leaf_first = [name for location in wire.varints(sample, 1) for name in locations.get(location, ["?"])]
        values = wire.varints(sample, 2)
        labels = {}
        for label in wire.messages(sample, 3):
            fields = wire.first_values(label)
            labels[strings[fields.get(1, 0)]] = strings[fields.get(2, 0)]
        samples.append(CpuSample(service, labels, tuple(reversed(leaf_first)), values[0] if values else 0, end_ns))
    return Profile(service, start_ns, end_ns, samples)
