"""The access failures the emulator raises (unknown token, foreign environment, missing item, ...).

A module of its own, with no imports, so that the rule tables (rules.py), the store and the fault list can all
name them without importing one another.
"""

from __future__ import annotations


class AccessError(Exception):
    """A request that names something the caller may not use or that does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(AccessError):
    pass


class Forbidden(AccessError):
    pass


class EnvironmentNotFound(AccessError):
    pass


class WorkItemNotFound(AccessError):
    pass


class AgentNotFound(AccessError):
    pass


class NotSelfHosted(AccessError):
    pass
