"""The HTTP client session each service process shares across its threads."""

from http.client import RemoteDisconnected
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

# Takes no cookie from any answer: the session serves every user of the process, and a
# cookie one user's call brought back would go out with everybody's next calls.
NO_COOKIES = DefaultCookiePolicy(allowed_domains=[])


class RetryOnClosedKeepAlive(Retry):
    """One more try for a GET whose connection the server closed before any answer came.

    A kept-alive connection is closed by the server when it has been idle for a while
    (gunicorn: 2 s); a call that picks it up at that very moment fails before an answer
    arrives, with the service up. A GET is safe to send again, and urllib3 sends it on a
    fresh connection (it drops the closed one). Everything else fails at once, as requests'
    own default would: a refused connection, a timeout, an answer broken off half-way.
    """

    DEFAULT = Retry(0, read=False)  # requests' own, for every other failure

    def __init__(self, total=1, **kwargs):
        kwargs.update(connect=0, status=0, other=0, redirect=False)
        super().__init__(total=total, **kwargs)

    def increment(self, method=None, url=None, *args, error=None, **kwargs):
        if method == "GET" and self.total and _closed_before_answering(error):
            return super().increment(method, url, *args, error=error, **kwargs)
        return self.DEFAULT.increment(method, url, *args, error=error, **kwargs)


def _closed_before_answering(error):
    cause = error.args[1] if isinstance(error, ProtocolError) and len(error.args) > 1 else None
    return isinstance(cause, (RemoteDisconnected, ConnectionResetError, BrokenPipeError))


def create_session(pool_size=10):
    """`pool_size` keep-alive connections per host: a service passes its gunicorn thread
    count, so that every thread waiting on a call keeps its connection instead of
    opening a new one and throwing it away."""
    session = requests.Session()
    # Calls go service to service, never through a proxy: this also spares each request
    # a look at the proxy variables and ~/.netrc (measured by `python -m bench`).
    session.trust_env = False
    session.cookies.set_policy(NO_COOKIES)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=RetryOnClosedKeepAlive())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
