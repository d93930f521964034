"""`qoder-conformance drift`: is every requirement's quote still on its doc page?

The offline guard (tests/test_catalogue.py) only proves that quote and hash agree and that Stop quotes are in the
copy of the Stop page kept under conformance/spec/. Pages change on their own schedule, so this command reads the
pages themselves (live, or saved copies with --pages-dir), reduces each to the text a reader sees and lists every
requirement whose quote is no longer there: each one is a requirement to review against the current page.

Pages are hostile input like any answer of a target: only the catalogue's own http(s) URLs are fetched, a redirect
is followed only within the same host, every page has a total deadline and a size cap, and whatever a page holds
(garbage, endless bodies, broken HTML) ends as "drift" or "unavailable", never as a crash.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from conformance import catalogue
from conformance.evidence import printable

DEFAULT_TIMEOUT = 20.0  # seconds per page, all its variants together
MAX_PAGE_BYTES = 2 * 1024 * 1024  # a docs page is ~10-50 KB; anything far larger is not a docs page
MAX_REDIRECTS = 3
USER_AGENT = "qoder-conformance-drift"

NO_DRIFT, DRIFT_FOUND, PAGE_UNAVAILABLE = 0, 1, 2


class PageUnavailable(Exception):
    """A page (or one variant of it) could not be read: no answer, an error status, too large, too slow."""


# --- reducing a page to the text a reader sees -----------------------------------------------------------------

_TABLE_SEPARATOR = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_LINE_PREFIX = re.compile(r"^\s*(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+\.\s+)+")
_ESCAPED_PIPE = "\x00"


def _unmark(text: str) -> str:
    """Markdown markup a reader does not see: links keep their text, backticks and bold/italic markers go."""
    text = _LINK.sub(r"\1", text)
    text = text.replace("`", "").replace("**", "").replace("__", "")
    return text.replace("\\|", "|")


def markdown_text(markdown: str) -> str:
    """A markdown page as rendered text: table lines become their cells joined by " | " (the form quotes use for
    table rows), separator lines go, heading/quote/list prefixes and inline markup are removed."""
    lines: list[str] = []
    for raw_line in markdown.splitlines():
        line = raw_line.strip()
        if line.startswith("|"):
            if _TABLE_SEPARATOR.match(line):
                continue
            cells = line.replace("\\|", _ESCAPED_PIPE).strip("|").split("|")
            line = " | ".join(_unmark(cell.replace(_ESCAPED_PIPE, "|")).strip() for cell in cells)
        else:
            line = _unmark(_LINE_PREFIX.sub("", line))
        lines.append(line)
    return "\n".join(lines)


class _HTMLText(HTMLParser):
    """Visible text of an HTML page, a table row as its cells joined by " | ", blocks on their own lines."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "pre", "table", "thead", "tbody", "section", "article", "header"}
        | {"footer", "nav", "h1", "h2", "h3", "h4", "h5", "h6"}
    )
    HIDDEN = frozenset({"script", "style", "template", "noscript", "svg", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.hidden = 0
        self.cells: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "body":  # whatever the head left open, the body is what a reader sees
            self.hidden = 0
        elif tag == "tr":
            self._break()
            self.cells = []
        elif tag in ("td", "th") and self.cells is not None:
            self._end_cell()
            self.cell = []
        elif tag in self.BLOCKS and self.cell is None:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in ("td", "th"):
            self._end_cell()
        elif tag == "tr":
            self._end_row()
        elif tag in self.BLOCKS and self.cell is None:
            self._break()

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        (self.cell if self.cell is not None else self.current).append(data)

    def _end_cell(self) -> None:
        if self.cell is not None and self.cells is not None:
            self.cells.append(catalogue.normalize("".join(self.cell)))
        self.cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self.cells:
            self.lines.append(" | ".join(self.cells))
        self.cells = None

    def _break(self) -> None:
        if self.current:
            self.lines.append("".join(self.current))
            self.current = []

    def text(self) -> str:
        self._end_row()
        self._break()
        return "\n".join(self.lines)


def html_text(html: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # a page is hostile input: broken markup reduces to what was read so far
        pass
    return parser.text()


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith(("<!doctype html", "<html")) or "<body" in head or "<head" in head


def page_text(content: str, *, html: bool | None = None) -> str:
    """The page as a reader sees it, white space collapsed (catalogue.normalize): the text quotes are looked for in."""
    is_html = looks_like_html(content) if html is None else html
    return catalogue.normalize(html_text(content) if is_html else markdown_text(content))


def quote_is_on(quote: str, text: str) -> bool:
    return catalogue.normalize(quote) in text


# --- reading pages ------------------------------------------------------------------------------------------------


def variants(page: str) -> list[str]:
    """Where a page's text is read from, best first: the markdown variant keeps tables, then the rendered page."""
    return [page] if page.endswith(".md") else [f"{page}.md", page]


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageUnavailable(f"not an http(s) URL: {printable(url, one_line=True)}")


def fetch(url: str, *, deadline: float, max_bytes: int = MAX_PAGE_BYTES) -> tuple[str, bool]:
    """GET one URL within `deadline` (a time.monotonic() value): (text, is_html). Redirects only within the host.

    The transfer runs in a worker thread the caller stops waiting for at the deadline, so a server that drips a
    byte at a time, or never ends its body, costs the deadline and no more."""
    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            outcome["page"] = _fetch(url, deadline=deadline, max_bytes=max_bytes)
        except PageUnavailable as error:
            outcome["error"] = error
        except Exception as error:  # whatever the network or the server does, the page is unavailable
            outcome["error"] = PageUnavailable(f"{type(error).__name__}: {printable(str(error), one_line=True)}")

    thread = threading.Thread(target=worker, name=f"drift-fetch {url}", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()))
    if thread.is_alive() or not outcome:
        raise PageUnavailable("no complete answer within the deadline")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["page"]  # type: ignore[return-value]


def _fetch(url: str, *, deadline: float, max_bytes: int) -> tuple[str, bool]:
    import httpx

    check_url(url)
    host = urlsplit(url).hostname
    with httpx.Client(follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client:
        for _ in range(MAX_REDIRECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PageUnavailable("no complete answer within the deadline")
            with client.stream("GET", url, timeout=httpx.Timeout(remaining)) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    check_url(target)
                    if urlsplit(target).hostname != host:
                        raise PageUnavailable(
                            f"redirected to another host ({printable(target, one_line=True)[:200]}): not followed"
                        )
                    url = target
                    continue
                if response.status_code != 200:
                    raise PageUnavailable(f"HTTP {response.status_code}")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise PageUnavailable(f"larger than {max_bytes} bytes: not read further")
                    if time.monotonic() > deadline:
                        raise PageUnavailable("no complete answer within the deadline")
                media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
                return text, (media_type == "text/html" or looks_like_html(text))
        raise PageUnavailable(f"more than {MAX_REDIRECTS} redirects")


def saved_copy(pages_dir: Path, url: str) -> tuple[str, bool]:
    """A saved copy of a page variant: `<DIR>/<host>/<path>` (the URL's host and path, e.g.
    `DIR/docs.qoder.com/cloud-agents/api/environments/work/stop.md`); for the rendered page, that path or the same
    with `.html` appended."""
    parts = urlsplit(url)
    segments = [segment for segment in parts.path.split("/") if segment]
    if not parts.hostname or any(segment in (".", "..") for segment in segments):
        raise PageUnavailable(f"no saved copy for {printable(url, one_line=True)}")
    base = pages_dir.joinpath(parts.hostname, *segments)
    for path in (base, base.with_name(base.name + ".html")):
        if path.is_file():
            with path.open("rb") as handle:
                content = handle.read(MAX_PAGE_BYTES + 1)
            if len(content) > MAX_PAGE_BYTES:
                raise PageUnavailable(f"{path}: larger than {MAX_PAGE_BYTES} bytes")
            text = content.decode("utf-8", errors="replace")
            return text, path.suffix == ".html" or looks_like_html(text)
    raise PageUnavailable(f"no saved copy at {base}")


# --- the check ------------------------------------------------------------------------------------------------


@dataclass
class PageCheck:
    """One page of the catalogue: the requirements quoting it, what was read, and what was not found."""

    page: str
    requirements: list[catalogue.Requirement]
    read: list[str] = field(default_factory=list)  # the variants read, in order
    errors: list[str] = field(default_factory=list)  # one line per variant that could not be read
    missing: list[catalogue.Requirement] = field(default_factory=list)

    @property
    def unavailable(self) -> bool:
        return not self.read


@dataclass
class Report:
    pages: list[PageCheck]

    @property
    def drifted(self) -> list[tuple[PageCheck, catalogue.Requirement]]:
        return [(page, requirement) for page in self.pages if page.read for requirement in page.missing]

    @property
    def unavailable(self) -> list[PageCheck]:
        return [page for page in self.pages if page.unavailable]

    @property
    def status(self) -> int:
        """1 when drift was found (a definite answer, even if some page could not be read), else 2 when a page
        could not be read (cannot say), else 0."""
        if self.drifted:
            return DRIFT_FOUND
        return PAGE_UNAVAILABLE if self.unavailable else NO_DRIFT


Reader = Callable[[str, float], "tuple[str, bool]"]


def selected(endpoints: Iterable[str] = ()) -> list[catalogue.Requirement]:
    wanted = set(endpoints)
    return [r for r in catalogue.requirements().values() if not wanted or r.endpoint in wanted]


def by_page(requirements: Iterable[catalogue.Requirement]) -> dict[str, list[catalogue.Requirement]]:
    pages: dict[str, list[catalogue.Requirement]] = {}
    for requirement in requirements:
        pages.setdefault(requirement.page, []).append(requirement)
    return pages


def check_page(page: str, requirements: list[catalogue.Requirement], read: Reader, timeout: float) -> PageCheck:
    """Looks for each quote in the page's variants, reading the next variant only for quotes not yet found: a
    quote is on its page when the markdown or the rendered form holds it."""
    result = PageCheck(page, list(requirements))
    deadline = time.monotonic() + timeout
    missing = list(requirements)
    for url in variants(page):
        try:
            content, is_html = read(url, deadline)
        except PageUnavailable as error:
            result.errors.append(f"{url}: {error}")
            continue
        result.read.append(url)
        text = page_text(content, html=is_html)
        missing = [requirement for requirement in missing if not quote_is_on(requirement.quote, text)]
        if not missing:
            break
    result.missing = missing if result.read else []
    return result


def run(
    requirements: Iterable[catalogue.Requirement],
    *,
    pages_dir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Report:
    if pages_dir is not None:

        def read(url: str, deadline: float) -> tuple[str, bool]:
            return saved_copy(pages_dir, url)

    else:

        def read(url: str, deadline: float) -> tuple[str, bool]:
            return fetch(url, deadline=deadline)

    return Report([check_page(page, group, read, timeout) for page, group in by_page(requirements).items()])


def action(requirement: catalogue.Requirement) -> str:
    where = catalogue.file_of(requirement.id).relative_to(catalogue.PACKAGE_DIR.parent)
    return (
        f"review {requirement.id} against the current page; if it still holds, set its quote to the page's words"
        f" and sha256 to catalogue.quote_digest(quote) in {where}; if the page no longer says it, change its level"
        f" or summary"
    )


def lines(report: Report) -> list[str]:
    """The human listing: one line per drifted requirement and per unavailable page, then a conclusion."""
    out: list[str] = []
    for page, requirement in report.drifted:
        out.append(f"drift: {requirement.id} ({requirement.level}): its quote is no longer on {page.page}")
        out.append(f"  quote: {printable(requirement.quote, one_line=True)}")
        out.append(f"  what to do: {action(requirement)}")
    for page in report.unavailable:
        ids = ", ".join(requirement.id for requirement in page.requirements)
        out.append(f"unavailable: {page.page}: {'; '.join(page.errors)}")
        out.append(f"  not checked: {ids}")
    checked = sum(len(page.requirements) for page in report.pages if page.read)
    total = sum(len(page.requirements) for page in report.pages)
    conclusion = {
        NO_DRIFT: "no drift",
        DRIFT_FOUND: f"drift: {len(report.drifted)} requirement(s) to review",
        PAGE_UNAVAILABLE: "cannot say: some pages could not be read",
    }[report.status]
    out.append(f"{conclusion} ({checked} of {total} quotes checked on {len(report.pages)} page(s))")
    return out


def as_json(report: Report) -> dict[str, object]:
    return {
        "status": report.status,
        "drift": [
            {
                "id": requirement.id,
                "level": requirement.level,
                "endpoint": requirement.endpoint,
                "page": page.page,
                "quote": requirement.quote,
                "action": action(requirement),
            }
            for page, requirement in report.drifted
        ],
        "pages": [
            {
                "page": page.page,
                "read": page.read,
                "errors": page.errors,
                "requirements": [requirement.id for requirement in page.requirements],
                "missing": [requirement.id for requirement in page.missing],
            }
            for page in report.pages
        ],
    }
