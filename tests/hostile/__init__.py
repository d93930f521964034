"""The hostile-target kit: a tampering proxy in front of a real emulator process, and a hostile provider-state hook.

Why a kit of its own: the suite is pointed at other people's servers and hooks, so every byte from the target or the
hook is hostile input. The self-tests that prove the suite safe (tests/test_hostile_*.py) do it by observation only:
they start the suite as a user does (a subprocess, configured through QODER_* variables), let the kit attack it, and
then look at what a user would see: the terminal, the files, the exit status, and the emulator's own items (read
directly from the emulator, behind the proxy's back).

- `server.KitServer`: a loopback HTTP/1.1 server whose answers are objects that write themselves to the socket
  (whole, dripped byte by byte, streamed without end, a hang, a reset), so the interesting misbehaviours are not
  smoothed over. It is the self-tests' only raw-socket server: `tests/misbehaving_servers.py` builds on it too.
- `target.HostileTarget`: an emulator process + a KitServer that forwards the work API to it (optionally tampering
  with the answers: `tamper.py`) and serves a hook at `/_kit/hook` (honest, or hostile: `hook.py`).
- `observe.py`: running the suite and the CLI, scanning for secrets in every encoding, snapshots of items.
"""
