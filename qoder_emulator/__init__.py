"""Qoder work API emulator: a local server of the self-hosted work endpoints (see docs/emulator.md)."""

from qoder_emulator.launch import RunningEmulator, launch

__all__ = ["RunningEmulator", "launch"]
