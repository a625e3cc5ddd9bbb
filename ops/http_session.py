"""The HTTP client session each service process shares across its threads."""

from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter

# Takes no cookie from any answer: the session serves every user of the process, and a
# cookie one user's call brought back would go out with everybody's next calls.
NO_COOKIES = DefaultCookiePolicy(allowed_domains=[])


def create_session(pool_size=10):
    """`pool_size` keep-alive connections per host: a service passes its gunicorn thread
    count, so that every thread waiting on a call keeps its connection instead of
    opening a new one and throwing it away."""
    session = requests.Session()
    # Calls go service to service, never through a proxy: this also spares each request
    # a look at the proxy variables and ~/.netrc (measured by `python -m bench`).
    session.trust_env = False
    session.cookies.set_policy(NO_COOKIES)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
