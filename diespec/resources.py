"""The die service's HTTP resources."""

import logging

from opentelemetry import trace

from diespec.database import DatabaseBusy, DatabaseUnavailable, driver_error
from diespec.metrics import LIST_REQUESTS, SPECIFICATIONS_LOADED, SPECIFICATIONS_REQUESTED
from diespec.specs import InvalidStoredSpecification
from ops import VERSION, errors
from ops.falcon_app import ApiError, get_identifier_param
from ops.metrics import OTHER
from ops.services import DIE_SERVICE

logger = logging.getLogger(__name__)


def identifiers_or_error(store, fault=None):
    identifiers = _or_error(store.identifiers, fault)
    SPECIFICATIONS_LOADED.set(len(identifiers))
    return identifiers


def _or_error(query, *args):
    """What the store's `query` returns, or a 503: database_unavailable when the database could
    not answer (the message names the kind of failure), database_busy when the read's time went
    on waiting for a connection of the pool. The cause goes on the span."""
    try:
        return query(*args)
    except DatabaseUnavailable as error:
        # The query's own span says it when there was a query; when no connection could
        # be had there is none, and this event is where the trace says why.
        trace.get_current_span().record_exception(driver_error(error.__cause__ or error))
        raise ApiError(errors.DATABASE_UNAVAILABLE, failure=error.kind) from error
    except DatabaseBusy as error:
        trace.get_current_span().record_exception(error)
        logger.warning("No database connection free",
                       extra={"pool_size": error.pool_size, "waited_ms": round(error.waited_seconds * 1000)})
        raise ApiError(errors.DATABASE_BUSY) from error


class ServiceInfo:
    def __init__(self, store):
        self._store = store

    def on_get(self, req, resp):
        resp.media = {
            "service": DIE_SERVICE.name,
            "version": VERSION,
            "endpoints": [
                "/", "/dice", "/dice?identifier={identifier}", "/healthz", "/readyz", "/metrics", "/openapi.json"
            ],
            "loaded_specifications": len(identifiers_or_error(self._store)),
        }


class Dice:
    """GET /dice lists the identifiers; GET /dice?identifier=X gives one specification.
    Each is one query; a `fault.database` entry in the baggage is applied to it."""

    def __init__(self, store, database_faults):
        self._store = store
        self._database_faults = database_faults

    def on_get(self, req, resp):
        identifier = get_identifier_param(req, "identifier") if req.has_param("identifier") else None
        fault = self._database_faults.take()
        if identifier is not None:
            resp.media = self._specification(identifier, fault)
            return
        identifiers = identifiers_or_error(self._store, fault)
        logger.info("Die list requested", extra={"dice_count": len(identifiers)})
        LIST_REQUESTS.inc()
        resp.media = {"identifiers": identifiers}

    def _specification(self, identifier, fault):
        span = trace.get_current_span()
        span.set_attribute("die.identifier", identifier)
        try:
            specification = _or_error(self._store.get, identifier, fault)
        except InvalidStoredSpecification as problem:
            span.set_attribute("die.found", True)
            SPECIFICATIONS_REQUESTED.labels(identifier).inc()
            logger.error("Invalid die specification in the database",
                         extra={"identifier": identifier, "problem": str(problem)})
            raise ApiError(errors.INVALID_DIE_SPECIFICATION) from problem
        span.set_attribute("die.found", specification is not None)
        if specification is None:
            SPECIFICATIONS_REQUESTED.labels(OTHER).inc()
            logger.warning("Unknown die identifier requested", extra={"identifier": identifier})
            raise ApiError(errors.UNKNOWN_DIE)
        SPECIFICATIONS_REQUESTED.labels(identifier).inc()
        logger.info("Die specification requested", extra={"identifier": identifier})
        return specification.to_dict()
