"""`python -m qoder_emulator`: the same as the `qoder-emulator` console script."""

from qoder_emulator.cli import main

raise SystemExit(main())
