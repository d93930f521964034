"""`python -m conformance`: the same as the `qoder-conformance` console script."""

import sys

from conformance.cli import main

sys.exit(main())
