"""report.html in a real browser (headless Chromium): it renders, and its verdict filters hide the right rows.

The filters are driven through the URL fragment (`report.html#filter=failed`), which the page honours on load, and
the DOM is read back after scripts ran. Skips with the reason when Chromium is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance.reporting import write_all
from conformance.reporting.sample import sample_run

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="headless Chromium is not installed (Debian: apt-get install chromium)"
)


class _Rows(HTMLParser):
    """Collects every filterable element (requirement rows, case blocks) with its verdict and hidden state."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str, bool]] = []  # (kind, verdict, hidden)
        self.body: dict[str, str | None] = {}
        self.filter_bar_hidden: bool | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "filterable" in classes:
            kind = "requirement" if "requirement" in classes else "case"
            self.rows.append((kind, attributes.get("data-verdict") or "", "hidden" in attributes))
        if tag == "body":
            self.body = attributes
        if attributes.get("id") == "filters":
            self.filter_bar_hidden = "hidden" in attributes

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _dump(page: Path, profile: Path, fragment: str = "") -> _Rows:
    command = [
        str(BROWSER),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
    ]
    completed = subprocess.run(
        [*command, page.as_uri() + fragment], capture_output=True, text=True, timeout=90, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    parser = _Rows()
    parser.feed(completed.stdout)
    return parser


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    write_all(sample_run(), folder, {})
    return folder / "report.html"


def test_renders_with_everything_visible(report: Path, tmp_path: Path) -> None:
    dom = _dump(report, tmp_path)
    text = " ".join(dom.text)
    assert "Qoder Stop work item: conformance report" in text
    assert "FAIL: exit status 1" in text
    assert "[STOP-TR-FORCE MUST] state: expected 'stopped', observed 'stopping'" in text
    assert "<script>document.title='pwned'</script>" in text  # shown as text, never run
    assert dom.body.get("data-active-filter") == "all"  # the page's script ran
    assert dom.filter_bar_hidden is False
    verdicts = {(kind, verdict) for kind, verdict, _ in dom.rows}
    assert {("requirement", v) for v in ("fail", "warn", "not_verified", "pass", "recorded")} <= verdicts
    assert not any(hidden for _, _, hidden in dom.rows)


@pytest.mark.parametrize(
    ("fragment", "shown"),
    [("#filter=failed", "fail"), ("#filter=warn", "warn"), ("#filter=not-verified", "not_verified")],
)
def test_filters_hide_every_other_verdict(report: Path, tmp_path: Path, fragment: str, shown: str) -> None:
    dom = _dump(report, tmp_path, fragment)
    assert dom.body.get("data-active-filter") == fragment.split("=", 1)[1]
    visible = [(kind, verdict) for kind, verdict, hidden in dom.rows if not hidden]
    hidden = [(kind, verdict) for kind, verdict, is_hidden in dom.rows if is_hidden]
    assert visible and all(verdict == shown for _, verdict in visible)
    assert ("requirement", shown) in visible
    assert hidden and all(verdict != shown for _, verdict in hidden)
    assert len(visible) + len(hidden) == len(dom.rows)


def test_error_filter_with_no_error_shows_nothing(report: Path, tmp_path: Path) -> None:
    dom = _dump(report, tmp_path, "#filter=error")
    assert dom.rows and all(hidden for _, _, hidden in dom.rows)


def test_without_javascript_everything_stays_visible(report: Path) -> None:
    """Read as served, before any script: what a browser with JavaScript off shows (--dump-dom needs scripts)."""
    static = _Rows()
    static.feed(report.read_text())
    assert static.body.get("data-active-filter") == "all"
    assert static.filter_bar_hidden is True  # buttons that cannot work are not offered
    assert static.rows and not any(hidden for _, _, hidden in static.rows)
