"""Conformance suite for the Qoder Cloud Agents self-hosted work API (Stop work item)."""

__version__ = "0.1.0"
