"""The telemetry backends' public APIs as data, for both sides of them: OTLP's spans (spans.py),
Tempo's trace JSON (tempo.py) and Pyroscope's CPU queries (pyroscope.py). make run's stand-ins
(runtime/backends/) answer in these shapes; the labs, the stack check and the tests read them,
under compose from the real Tempo and Pyroscope alike. Nothing here serves or starts anything."""
