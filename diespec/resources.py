"""The die service's HTTP resources."""

import logging

from opentelemetry import trace

from diespec.metrics import LIST_REQUESTS, SPECIFICATIONS_REQUESTED
from ops import VERSION, errors
from ops.falcon_app import ApiError, get_identifier_param
from ops.metrics import OTHER
from ops.services import DIE_SERVICE

logger = logging.getLogger(__name__)


class ServiceInfo:
    def __init__(self, specifications):
        self._specifications = specifications

    def on_get(self, req, resp):
        resp.media = {
            "service": DIE_SERVICE.name,
            "version": VERSION,
            "endpoints": [
                "/", "/dice", "/dice?identifier={identifier}", "/healthz", "/readyz", "/metrics", "/openapi.json"
            ],
            "loaded_specifications": len(self._specifications),
        }


class Dice:
    """GET /dice lists the identifiers; GET /dice?identifier=X gives one specification."""

    def __init__(self, specifications):
        self._specifications = specifications

    def on_get(self, req, resp):
        if req.has_param("identifier"):
            resp.media = self._specification(get_identifier_param(req, "identifier"))
        else:
            logger.info("Die list requested", extra={"dice_count": len(self._specifications)})
            LIST_REQUESTS.inc()
            resp.media = {"identifiers": list(self._specifications)}

    def _specification(self, identifier):
        specification = self._specifications.get(identifier)
        span = trace.get_current_span()
        span.set_attribute("die.identifier", identifier)
        span.set_attribute("die.found", specification is not None)
        if specification is None:
            SPECIFICATIONS_REQUESTED.labels(OTHER).inc()
            logger.warning("Unknown die identifier requested", extra={"identifier": identifier})
            raise ApiError(errors.UNKNOWN_DIE)
        SPECIFICATIONS_REQUESTED.labels(identifier).inc()
        logger.info("Die specification requested", extra={"identifier": identifier})
        return specification.to_dict()
