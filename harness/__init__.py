"""What the tests and the benchmark start processes with: the three services as real gunicorns
on free loopback ports, started as make run starts them (stack.py), a throw-away PostgreSQL
(postgres.py), free ports (ports.py). Nothing the sandbox ships imports it."""
