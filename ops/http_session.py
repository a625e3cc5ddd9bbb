"""The HTTP client session each service process shares across its threads."""

import requests
from requests.adapters import HTTPAdapter


def create_session(pool_size=10):
    """`pool_size` keep-alive connections per host: a service passes its gunicorn thread
    count, so that every thread waiting on a call keeps its connection instead of
    opening a new one and throwing it away."""
    session = requests.Session()
    # Calls go service to service, never through a proxy: this also spares each request
    # a look at the proxy variables and ~/.netrc (measured by `python -m bench`).
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
