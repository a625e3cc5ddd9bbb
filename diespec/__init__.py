"""The die service: serves die specifications from its database (SQLite or PostgreSQL), seeded
from a JSON file."""
