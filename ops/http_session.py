"""The HTTP client session each service process shares across its threads."""

import requests
from requests.adapters import HTTPAdapter

# As many pooled keep-alive connections as gunicorn threads, so none is thrown away.
POOL_SIZE = 32


def create_session():
    session = requests.Session()
    # Calls go service to service, never through a proxy: this also spares each request
    # a look at the proxy variables and ~/.netrc (measured by `python -m bench`).
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
