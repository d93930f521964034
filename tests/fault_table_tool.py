"""tools/fault_table.py for the self-tests: tools/ is not a package on sys.path (under xdist workers neither), so
the module is loaded from its file, once, under its own name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_tool():
    spec = importlib.util.spec_from_file_location("fault_table", ROOT / "tools" / "fault_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fault_table", module)
    spec.loader.exec_module(module)
    return module


fault_table = _load_tool()
