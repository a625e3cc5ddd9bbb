"""Running the stack: the three services as gunicorn processes, a loopback HTTP server and an OTLP
receiver, shared by `make run` (python -m runtime), the benchmark and the tests."""
