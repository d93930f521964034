"""Self-tests of `qoder-conformance drift`: quotes looked for on pages served over a real loopback socket.

The pages are synthesized from the catalogue's own quotes in the docs' markdown form (table rows between pipes with
backticks around cells, sentences with inline code and links, wrapped across lines), so the test proves the
normalization reads a page the way the quotes were written, and that changing one sentence reports exactly the
requirement that rests on it. Hostile pages (endless, dripping, redirecting elsewhere, garbage) must end as
"unavailable" or "drift" within the deadline, never as a hang or a crash.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hostile.server import Drip, KitServer, Request, Stream, Whole

from conformance import catalogue, cli, drift

GENEROUS_S = 30  # "finishes, not hangs": far above the deadlines used, far below a hang

# --- pages synthesized from the catalogue -----------------------------------------------------------------------


def markdown_row(quote: str) -> str:
    """A quoted table row as the .md variant writes it: `| `400` | `invalid_request_error` | ... |`, with an inner
    pipe (`string|null`) escaped."""
    cells = [cell.replace("|", "\\|") for cell in quote.split(" | ")]
    cells = [f"`{cell}`" if index < 2 else cell for index, cell in enumerate(cells)]
    header = "| " + " | ".join(f"H{index}" for index in range(len(cells))) + " |"
    separator = "| " + " | ".join("---" for _ in cells) + " |"
    return "\n".join((header, separator, "| " + " | ".join(cells) + " |"))


def markdown_sentence(quote: str) -> str:
    """A quoted sentence with markup the reader does not see: inline code, bold, a link, a line break."""
    words = quote.split(" ")
    if len(words) >= 4:
        words[0] = f"`{words[0]}`"
        words[1] = f"**{words[1]}**"
        words[2] = f"[{words[2]}](https://docs.qoder.com/elsewhere)"
        middle = len(words) // 2
        if words[middle][:1].isalpha():
            words[middle] = "\n" + words[middle]
    return " ".join(words)


def markdown_page(quotes: list[str]) -> str:
    parts = ["# A work page", "> Some description.", ""]
    for quote in dict.fromkeys(quotes):
        parts += [markdown_row(quote) if " | " in quote else markdown_sentence(quote), ""]
    return "\n".join(parts)


def html_page(quotes: list[str]) -> str:
    body = []
    for quote in dict.fromkeys(quotes):
        if " | " in quote:
            cells = "".join(f"<td><code>{cell}</code></td>" for cell in quote.split(" | "))
            body.append(f"<table><tr><th>A</th></tr>\n<tr>{cells}</tr></table>")
        else:
            first, _, rest = quote.partition(" ")
            body.append(f"<p><code>{first}</code> {rest.replace('&', '&amp;').replace('<', '&lt;')}</p>")
    return (
        "<!DOCTYPE html><html><head><title>t</title><script>var x = '<p>not text</p>';</script></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )


def localized(server: KitServer, requirements: list[catalogue.Requirement]) -> list[catalogue.Requirement]:
    """The requirements with their pages moved to the loopback server (same paths)."""
    return [dataclasses.replace(r, page=server.origin + urlsplit(r.page).path) for r in requirements]


def serve(pages: dict[str, object]):
    """A handler serving `pages` by path (str: markdown; a Reply: as it is); anything else is 404."""

    def handler(request: Request):
        reply = pages.get(request.path)
        if reply is None:
            return Whole(404, b"not found", content_type="text/plain")
        if isinstance(reply, str):
            kind = "text/html" if reply.startswith("<!DOCTYPE") else "text/markdown; charset=utf-8"
            return Whole(200, reply.encode("utf-8"), content_type=kind)
        return reply

    return handler


def markdown_site(requirements: list[catalogue.Requirement], change: dict[str, str] | None = None) -> dict:
    """Each page's `.md` variant, holding the quotes of its requirements (`change`: ID -> the quote served)."""
    change = change or {}
    pages: dict[str, list[str]] = {}
    for requirement in requirements:
        pages.setdefault(urlsplit(requirement.page).path + ".md", []).append(
            change.get(requirement.id, requirement.quote)
        )
    return {path: markdown_page(quotes) for path, quotes in pages.items()}


ALL = list(catalogue.requirements().values())


# --- the check over the whole catalogue ------------------------------------------------------------------------


def test_no_drift_when_every_quote_is_on_its_page_in_markdown_form() -> None:
    with KitServer(serve(markdown_site(ALL))) as server:
        report = drift.run(localized(server, ALL), timeout=10)
        requested = {request.path for request in server.logged()}
    assert report.status == drift.NO_DRIFT, drift.lines(report)
    assert report.drifted == [] and report.unavailable == []
    pages = {urlsplit(r.page).path for r in ALL}
    assert requested == {path + ".md" for path in pages}, "only the .md variant is needed when it holds every quote"


def test_one_changed_sentence_reports_exactly_its_requirement() -> None:
    changed = {"STOP-BODY-FORCE": 'force=true now means {"force": true, "now": true}.'}
    with KitServer(serve(markdown_site(ALL, changed))) as server:
        report = drift.run(localized(server, ALL), timeout=10)
    assert report.status == drift.DRIFT_FOUND
    assert [requirement.id for _, requirement in report.drifted] == ["STOP-BODY-FORCE"]
    text = "\n".join(drift.lines(report))
    assert "drift: STOP-BODY-FORCE (MUST): its quote is no longer on http://127.0.0.1:" in text
    assert "conformance/catalogue/stop.toml" in text and "review STOP-BODY-FORCE" in text


def test_one_changed_table_row_reports_exactly_its_requirements() -> None:
    """A table cell changed: every requirement quoting that row is reported, no other."""
    row = catalogue.get("STOP-TR-QUEUED").quote
    sharing = [r.id for r in ALL if r.quote == row]
    changed = dict.fromkeys(sharing, "false | queued | stopping")
    with KitServer(serve(markdown_site(ALL, changed))) as server:
        report = drift.run(localized(server, ALL), timeout=10)
    assert sorted(requirement.id for _, requirement in report.drifted) == sorted(sharing)


def test_the_rendered_page_is_read_when_the_markdown_variant_is_missing() -> None:
    requirements = [catalogue.get("STOP-TR-QUEUED"), catalogue.get("STOP-BODY-OPTIONAL"), catalogue.get("CONV-JSON")]
    quotes: dict[str, list[str]] = {}
    for requirement in requirements:
        quotes.setdefault(urlsplit(requirement.page).path, []).append(requirement.quote)
    site = {path: html_page(page_quotes) for path, page_quotes in quotes.items()}
    with KitServer(serve(site)) as server:
        report = drift.run(localized(server, requirements), timeout=10)
        requested = [request.path for request in server.logged()]
    assert report.status == drift.NO_DRIFT, drift.lines(report)
    assert any(path.endswith(".md") for path in requested) and any(not path.endswith(".md") for path in requested)


def test_a_quote_missing_from_the_markdown_is_looked_for_on_the_rendered_page() -> None:
    requirement = catalogue.get("STOP-BODY-OPTIONAL")
    path = urlsplit(requirement.page).path
    site = {path + ".md": markdown_page(["something else entirely"]), path: html_page([requirement.quote])}
    with KitServer(serve(site)) as server:
        assert drift.run(localized(server, [requirement]), timeout=10).status == drift.NO_DRIFT
    site[path] = html_page(["still something else"])
    with KitServer(serve(site)) as server:
        report = drift.run(localized(server, [requirement]), timeout=10)
    assert report.status == drift.DRIFT_FOUND and len(report.pages[0].read) == 2


# --- pages that cannot be read ---------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_page_is_unavailable_not_drift() -> None:
    requirement = dataclasses.replace(
        catalogue.get("STOP-DRAIN"), page=f"http://127.0.0.1:{closed_port()}/cloud-agents/work/stop"
    )
    report = drift.run([requirement], timeout=5)
    assert report.status == drift.PAGE_UNAVAILABLE
    assert report.drifted == [] and [page.page for page in report.unavailable] == [requirement.page]
    assert len(report.unavailable[0].errors) == 2  # both variants tried
    text = "\n".join(drift.lines(report))
    assert "unavailable: " in text and "not checked: STOP-DRAIN" in text and "cannot say" in text


def test_drift_wins_over_an_unavailable_page() -> None:
    """Exit 1 is a definite answer: drift was found on the pages that could be read."""
    readable, unreadable = catalogue.get("STOP-BODY-FORCE"), catalogue.get("CONV-JSON")
    with KitServer(serve(markdown_site([readable], {readable.id: "another sentence here now"}))) as server:
        report = drift.run(localized(server, [readable]) + localized(server, [unreadable]), timeout=5)
    assert report.status == drift.DRIFT_FOUND and len(report.unavailable) == 1


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Stream(size=None, declare_length=False), id="endless"),
        pytest.param(Stream(size=64 * 1024 * 1024), id="64MiB"),
    ],
)
def test_a_huge_page_is_cut_off_at_the_size_cap(reply) -> None:
    requirement = catalogue.get("STOP-DRAIN")
    path = urlsplit(requirement.page).path
    with KitServer(serve({path + ".md": reply, path: reply})) as server:
        started = time.monotonic()
        report = drift.run(localized(server, [requirement]), timeout=GENEROUS_S)
        elapsed = time.monotonic() - started
    assert report.status == drift.PAGE_UNAVAILABLE
    assert all("larger than" in error for error in report.unavailable[0].errors), report.unavailable[0].errors
    assert elapsed < GENEROUS_S


def test_a_dripping_page_costs_the_deadline_and_no_more() -> None:
    requirement = catalogue.get("STOP-DRAIN")
    path = urlsplit(requirement.page).path
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/markdown\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
    with KitServer(serve({path + ".md": Drip(answer, interval_s=0.2, head_at_once=True)})) as server:
        started = time.monotonic()
        report = drift.run(localized(server, [requirement]), timeout=1.0)
        elapsed = time.monotonic() - started
    assert report.status == drift.PAGE_UNAVAILABLE
    assert "within the deadline" in report.unavailable[0].errors[0]
    assert elapsed < 10  # the deadline is 1 s for the page, both variants together


def test_a_redirect_to_another_host_is_not_followed() -> None:
    requirement = catalogue.get("STOP-DRAIN")
    path = urlsplit(requirement.page).path
    away = Whole(302, b"", content_type="text/plain", extra_headers={"Location": "http://example.invalid/x.md"})
    with KitServer(serve({path + ".md": away, path: away})) as server:
        report = drift.run(localized(server, [requirement]), timeout=5)
        requested = [request.path for request in server.logged()]
    assert report.status == drift.PAGE_UNAVAILABLE
    assert all("another host" in error for error in report.unavailable[0].errors)
    assert requested == [path + ".md", path]


def test_a_redirect_within_the_host_is_followed() -> None:
    requirement = catalogue.get("STOP-DRAIN")
    path = urlsplit(requirement.page).path
    moved = Whole(301, b"", content_type="text/plain", extra_headers={"Location": "/moved.md"})
    with KitServer(serve({path + ".md": moved, "/moved.md": markdown_page([requirement.quote])})) as server:
        assert drift.run(localized(server, [requirement]), timeout=5).status == drift.NO_DRIFT


def test_garbage_is_drift_not_a_crash() -> None:
    requirement = catalogue.get("STOP-DRAIN")
    path = urlsplit(requirement.page).path
    garbage = Whole(200, bytes(range(256)) * 64 + b"<html><table><tr><td>", content_type="text/html")
    with KitServer(serve({path + ".md": garbage, path: garbage})) as server:
        report = drift.run(localized(server, [requirement]), timeout=5)
    assert report.status == drift.DRIFT_FOUND


def test_only_http_urls_are_fetched() -> None:
    requirement = dataclasses.replace(catalogue.get("STOP-DRAIN"), page="file:///etc/passwd")
    report = drift.run([requirement], timeout=5)
    assert report.status == drift.PAGE_UNAVAILABLE
    assert all("not an http(s) URL" in error for error in report.unavailable[0].errors)


# --- normalization -------------------------------------------------------------------------------------------


def test_markdown_tables_become_rows_of_cells() -> None:
    page = (
        "| Field | Type | Description |\n| --- | --- | --- |\n"
        "| `stopped_at` | string\\|null | Time when the item reached `stopped`, or `null` while live |\n"
        "* **Field type mismatch** (such as a [number](https://x) where a string is expected)\n"
    )
    text = drift.page_text(page)
    assert "stopped_at | string|null | Time when the item reached stopped, or null while live" in text
    assert "Field type mismatch (such as a number where a string is expected)" in text
    assert "---" not in text


def test_the_kept_copy_of_the_stop_page_holds_every_quote_of_the_stop_page() -> None:
    """The real page text, not a synthesized one: the rendered copy kept in conformance/spec/, read as drift reads a
    page, holds the quote of every requirement that names the Stop page."""
    text = drift.page_text(catalogue.spec_text("stop-work-item.txt"))
    on_stop_page = [r for r in ALL if r.page == "https://docs.qoder.com/cloud-agents/api/environments/work/stop"]
    assert on_stop_page
    assert [r.id for r in on_stop_page if not drift.quote_is_on(r.quote, text)] == []


def test_html_tables_become_rows_of_cells_and_scripts_are_not_text() -> None:
    text = drift.page_text(html_page(["400 | invalid_request_error | Request body is not valid JSON"]))
    assert "400 | invalid_request_error | Request body is not valid JSON" in text
    assert "not text" not in text


# --- the command ------------------------------------------------------------------------------------------------


def saved_site(root: Path, requirements: list[catalogue.Requirement], change: dict[str, str] | None = None) -> None:
    for path, text in markdown_site(requirements, change).items():
        target = root / "docs.qoder.com" / path.lstrip("/")
        if urlsplit(requirements[0].page).hostname != "docs.qoder.com":  # pragma: no cover - catalogue changed
            raise AssertionError("the catalogue's pages moved host")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_command_offline_exit_statuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stop = [r for r in ALL if r.endpoint == "stop"]
    hosts = {urlsplit(r.page).hostname for r in stop}
    assert hosts == {"docs.qoder.com"}
    saved_site(tmp_path, stop)
    assert cli.main(["drift", "--pages-dir", str(tmp_path), "--endpoint", "stop"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("no drift")

    saved_site(tmp_path, stop, {"STOP-DRAIN": "The worker may drain the work whenever it likes to do so."})
    assert cli.main(["drift", "--pages-dir", str(tmp_path), "--endpoint", "stop", "--json"]) == 1
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["status"] == 1 and [entry["id"] for entry in outcome["drift"]] == ["STOP-DRAIN"]
    assert outcome["drift"][0]["endpoint"] == "stop"

    empty = tmp_path / "empty"  # no saved copy at all: nothing to read the pages from
    empty.mkdir()
    assert cli.main(["drift", "--pages-dir", str(empty), "--endpoint", "conventions"]) == 2
    assert "unavailable: https://docs.qoder.com/" in capsys.readouterr().out


def test_command_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["drift", "--pages-dir", str(tmp_path / "missing")]) == 2
    for timeout in ("0", "-1", "nan", "inf"):
        assert cli.main(["drift", "--pages-dir", str(tmp_path), "--timeout", timeout]) == 2, timeout
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["drift", "--endpoint", "nope"])
    assert exit_info.value.code == 2
    capsys.readouterr()


def test_saved_copies_never_leave_the_folder(tmp_path: Path) -> None:
    requirement = dataclasses.replace(catalogue.get("STOP-DRAIN"), page="https://docs.qoder.com/../../etc/passwd")
    report = drift.run([requirement], pages_dir=tmp_path)
    assert report.status == drift.PAGE_UNAVAILABLE
