"""report.html in a real browser (headless Chromium): it renders, its verdict filters hide the right rows, and its
layout holds at 1280x800 (the first viewport shows the verdict and the failed requirements; nothing scrolls sideways,
not even with every folded block opened).

The filters are driven through the URL fragment (`report.html#filter=failed`), which the page honours on load, and
the DOM is read back after scripts ran. Layout is measured by a probe script appended to a copy of the page: it
writes what it measured into attributes of <body>, which --dump-dom then shows. Skips with the reason when Chromium
is not installed.
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
    completed = _chromium(page, profile, fragment)
    parser = _Rows()
    parser.feed(completed.stdout)
    return parser


def _chromium(page: Path, profile: Path, fragment: str = "") -> subprocess.CompletedProcess[str]:
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
        f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
        "--dump-dom",
    ]
    completed = subprocess.run(
        [*command, page.as_uri() + fragment], capture_output=True, text=True, timeout=90, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed


VIEWPORT = (1280, 800)
# Measures the page as first shown, then again with every <details> opened; the results go into body attributes.
PROBE = """
(function () {
  var body = document.body, width = window.innerWidth;
  function top(selector) { var el = document.querySelector(selector); return el ? el.getBoundingClientRect() : null; }
  function wide() {
    var found = [];
    document.querySelectorAll("body *").forEach(function (el) {
      if (el.getBoundingClientRect().right > width + 1) { found.push(el.tagName + "." + el.className); }
    });
    return found.slice(0, 5).join(",");
  }
  var result = top("#result"), first = top(".attention > li");
  body.setAttribute("data-probe-width", String(width));
  body.setAttribute("data-probe-height", String(window.innerHeight));
  body.setAttribute("data-probe-scroll-width", String(document.documentElement.scrollWidth));
  body.setAttribute("data-probe-result-bottom", result ? String(result.bottom) : "none");
  body.setAttribute("data-probe-attention-bottom", first ? String(first.bottom) : "none");
  body.setAttribute("data-probe-wide", wide());
  document.querySelectorAll("details").forEach(function (el) { el.open = true; });
  body.setAttribute("data-probe-open-scroll-width", String(document.documentElement.scrollWidth));
  body.setAttribute("data-probe-open-wide", wide());
})();
"""


def _measure(report: Path, folder: Path) -> dict[str, str]:
    """The probe's measurements of `report` at 1280x800 (a copy of the page with the probe appended)."""
    probed = folder / "probed.html"
    probed.write_text(report.read_text(encoding="utf-8").replace("</body>", f"<script>{PROBE}</script></body>"))
    dom = _Rows()
    dom.feed(_chromium(probed, folder / "profile").stdout)
    return {
        name[len("data-probe-") :]: value or "" for name, value in dom.body.items() if name.startswith("data-probe")
    }


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reports")
    write_all(sample_run(), folder, {})
    return folder / "report.html"


def test_renders_with_everything_visible(report: Path, tmp_path: Path) -> None:
    dom = _dump(report, tmp_path)
    text = " ".join(dom.text)
    assert "Qoder work API: conformance report" in text
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


def _assert_fits(measured: dict[str, str]) -> None:
    width = float(measured["width"])
    assert width == VIEWPORT[0] or width > VIEWPORT[0] - 40, measured  # a scrollbar may take a few pixels
    assert float(measured["scroll-width"]) <= width, f"the page scrolls sideways: {measured}"
    assert float(measured["open-scroll-width"]) <= width, f"an opened block scrolls sideways: {measured}"
    assert measured["wide"] == "" and measured["open-wide"] == "", measured


def test_first_viewport_holds_the_verdict_and_the_failed_requirements(report: Path, tmp_path: Path) -> None:
    measured = _measure(report, tmp_path)
    height = float(measured["height"])
    assert float(measured["result-bottom"]) <= height / 4, measured  # the verdict is at the top
    assert measured["attention-bottom"] != "none"
    assert float(measured["attention-bottom"]) <= height, f"the first failed requirement is below the fold: {measured}"
    _assert_fits(measured)


def test_a_passing_report_fits_too(tmp_path: Path) -> None:
    write_all(sample_run(failing=False), tmp_path, {})
    measured = _measure(tmp_path / "report.html", tmp_path)
    assert measured["attention-bottom"] == "none"  # nothing failed: the list is a one-line "None"
    _assert_fits(measured)


def test_long_unbroken_lines_wrap_instead_of_scrolling(tmp_path: Path) -> None:
    """A target may answer one 20,000-character line (a token-like blob, a minified page): it wraps, cut short."""
    run = sample_run()
    blob = "x" * 20_000
    run.cases[0].exchanges[1]["response_body"] = blob
    run.cases[0].exchanges[1]["url"] += "/" + "y" * 600
    run.cases[0].mismatches[0]["observed"] = repr("z" * 3_000)
    write_all(run, tmp_path, {})
    page = (tmp_path / "report.html").read_text()
    assert blob not in page and "characters more, see junit.xml" in page
    _assert_fits(_measure(tmp_path / "report.html", tmp_path))


@pytest.mark.slow
def test_a_real_failing_run_is_readable_and_within_budget(tmp_path: Path) -> None:
    """The whole suite against the emulator with one fault: the report's first screen and its size."""
    from fault_table_tool import fault_table

    reports = tmp_path / "reports"
    run = fault_table.run_suite("stop-drops-metadata", "fault", ["--fault", "stop-drops-metadata"], reports)
    assert run.exit_status == 1, run.explain()
    page = reports / "report.html"
    assert page.stat().st_size < 2_000_000
    measured = _measure(page, tmp_path)
    assert float(measured["attention-bottom"]) <= float(measured["height"]), measured
    _assert_fits(measured)
