"""make run's stand-ins for the backends, on loopback: an OTLP receiver (otlp.py), a Tempo
(tempo.py) and a Pyroscope (pyroscope.py), each a few of the real one's paths in the real one's
shapes (backend_apis/), all on one small HTTP server (http.py) that limits what it takes."""
