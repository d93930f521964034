"""Exceptions that mean "the harness or the provisioning broke", never "the server is non-conforming".

The plugin reports any HarnessError as an *error* (not a FAIL), whichever phase of a case raised it.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base: the case could not be carried out, so no conformance verdict is possible."""


class ConfigurationError(HarnessError):
    """The configuration is missing or malformed; raised before any test runs."""


class ProvisioningError(HarnessError):
    """Setting up an item in the wanted state failed (hook, lifecycle calls or the embedded emulator)."""


class TargetUnreachable(HarnessError):
    """The target refused the connection, reset it, or did not answer within the configured timeout."""


class RateLimited(HarnessError):
    """The target (or a gateway) answered 429/503 to the request under test, which is never retried."""


class UnexpectedResponse(HarnessError):
    """A response the harness needs (a read-back, a setup step) could not be used, e.g. an HTML 502 page."""


class DeadlineExceeded(TargetUnreachable):
    """A request took longer than its total deadline (connect + send + the whole response), e.g. a dripping body."""


class ResponseTooLarge(UnexpectedResponse):
    """A response body exceeded QODER_MAX_RESPONSE_BYTES: it was not read further, let alone judged."""


class ResponseTooDeep(UnexpectedResponse):
    """A JSON body nested deeper than any Work item or error envelope: decoding it could exhaust the stack."""
