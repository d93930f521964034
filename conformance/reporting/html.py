"""report.html: one standalone page a person reads to learn what the run found and why.

The first screen answers "did it pass, and if not, what broke": the verdict, the counts, then the failed and warned
requirements, each with its first cause and the doc sentence it rests on. Everything else is below or folded:
cleanup and preflight are counts with their details in `<details>`, each case's evidence appears once, folded, and
long lines wrap instead of scrolling sideways (the page fits a 1280 px window).

Size is bounded whatever the target sends: each body is cut at BODY_CHARS, each line at LINE_CHARS, each case's
evidence (mismatch lines after the first, observations, exchanges) at CASE_EVIDENCE_CHARS and all cases' evidence
at PAGE_EVIDENCE_CHARS, spent on the cases that did not pass first; what does not fit is named (an exchange as one
line, or counted), and junit.xml holds the full text of every failure. A passing run stays under 1 MB and a failing
one under 2 MB.

No network asset (inline CSS and JS, system fonts), so the file works when opened from a CI artifact or offline.
Everything is visible without JavaScript; scripts only add the verdict filters (also selectable through the URL
fragment, e.g. `report.html#filter=failed`, which is how the browser self-test drives them). Every value from a
run is escaped: response bodies are whatever the target sent, HTML included.
"""

from __future__ import annotations

import html
import json
from typing import Any

from conformance import catalogue, judge, results
from conformance.reporting.cases import (
    VERDICT_LABELS,
    Vetted,
    mismatch_line,
    requirement_story,
    result_word,
)
from conformance.results import CaseRecord, RequirementVerdict

FILTERS = (("all", "all"), ("failed", "failed"), ("warn", "warn"), ("not-verified", "not verified"), ("error", "error"))
# Requirements the first screen is about, worst first (results.SEVERITY order).
ATTENTION = (results.ERROR, results.FAIL, results.WARN)

BODY_CHARS = 4_000  # one request or response body
CASE_EVIDENCE_CHARS = {True: 30_000, False: 8_000}  # one case's evidence: not passing / passing
PAGE_EVIDENCE_CHARS = {True: 1_100_000, False: 600_000}  # all cases' evidence: a failing run / a passing run
MISMATCH_LINES = 25  # per case, and per requirement in the attention list
MESSAGE_CHARS = 4_000  # a skip, error or failure text shown when there is no mismatch line
CASE_LINKS = 3  # cases linked from a requirement row that did not pass
LINE_CHARS = 400  # one cause or story line

CSS = """
:root { --fail:#b3261e; --warn:#8a5a00; --pass:#1e6b32; --muted:#5f6368; --line:#dadce0; --bg:#f8f9fa; }
* { box-sizing: border-box; }
html { overflow-x: hidden; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1rem 1.5rem; color: #202124; overflow-wrap: anywhere; }
h1 { font-size: 1.25rem; margin: 0 0 .4rem; } h2 { font-size: 1.15rem; margin: 1.5rem 0 .4rem; }
h3 { font-size: 1rem; margin: 1rem 0 .4rem; } h4 { font-size: .95rem; margin: .6rem 0 .3rem; }
section.endpoint { border-top: 2px solid var(--line); margin-top: 1rem; }
.endpoint-counts { color: var(--muted); margin: 0 0 .3rem; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg); border: 1px solid var(--line); padding: .4rem .5rem; margin: .25rem 0;
      white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal; max-width: 100%; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0; table-layout: fixed; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: var(--bg); font-weight: 600; }
.counts { width: auto; table-layout: auto; } .counts td, .counts th { text-align: right; min-width: 5.5em; }
.counts th:first-child { text-align: left; }
.banner { padding: .55rem 1rem; border-radius: 6px; font-weight: 600; font-size: 1.1rem; margin: .4rem 0; }
.banner.PASS { background: #e6f4ea; color: var(--pass); } .banner.FAIL { background: #fce8e6; color: var(--fail); }
.banner .why-word { font-weight: 400; font-size: .95rem; }
.alert { border: 2px solid var(--fail); background: #fce8e6; padding: .5rem 1rem; border-radius: 6px; margin: .4rem 0; }
.meta { color: var(--muted); margin: .2rem 0 .4rem; }
.v { display: inline-block; min-width: 6.5em; text-align: center; border-radius: 4px; padding: 0 .4em;
     font-size: 12px; font-weight: 600; }
.v-pass { background: #e6f4ea; color: var(--pass); } .v-fail { background: var(--fail); color: #fff; }
.v-warn { background: #fef7e0; color: var(--warn); } .v-error { background: #3c4043; color: #fff; }
.v-not_verified { background: #e8eaed; color: #3c4043; } .v-recorded { background: #e8f0fe; color: #174ea6; }
.why { margin: .25rem 0 0; padding-left: 1.2rem; } .why li { font-family: ui-monospace, Menlo, Consolas, monospace;
     font-size: 12.5px; }
blockquote { margin: .2rem 0; padding: .1rem .75rem; border-left: 3px solid var(--line); color: #3c4043; }
.attention { list-style: none; padding: 0; margin: .25rem 0; }
.attention > li { border: 1px solid var(--line); border-left: 4px solid var(--fail); border-radius: 6px;
                  padding: .35rem .7rem; margin: .35rem 0; }
.attention > li[data-verdict="warn"] { border-left-color: #f9ab00; }
.attention > li[data-verdict="error"] { border-left-color: #3c4043; }
.attention .head { font-weight: 600; } .attention .cause { font-family: ui-monospace, Menlo, Consolas, monospace;
                   font-size: 12.5px; margin: .15rem 0; }
.consequence { color: var(--muted); font-style: italic; }
details > summary { cursor: pointer; }
details.case { border: 1px solid var(--line); border-radius: 6px; margin: .3rem 0; padding: .2rem .6rem; }
details.case > summary { padding: .15rem 0; }
details.fold { margin: .3rem 0; } details.fold > summary { color: var(--muted); }
.exchange { border-top: 1px dashed var(--line); margin-top: .35rem; padding-top: .3rem; }
.role { color: var(--muted); text-transform: uppercase; font-size: 11px; letter-spacing: .05em; }
.under_test .role { color: var(--fail); font-weight: 700; }
.cut { color: var(--muted); font-style: italic; }
#filters { margin: .4rem 0; position: sticky; top: 0; background: #fff; padding: .35rem 0; z-index: 1; }
#filters button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 16px;
                  padding: .15rem .8rem; margin: 0 .3rem .2rem 0; cursor: pointer; }
#filters button[aria-pressed="true"] { background: #202124; color: #fff; border-color: #202124; }
[hidden] { display: none !important; }
.muted { color: var(--muted); }
table.requirements col.verdict { width: 8em; } table.requirements col.id { width: 17em; }
table.requirements col.cases { width: 14em; }
table.kv col.key { width: 16em; }
"""

SCRIPT = """
(function () {
  var wanted = {all: null, failed: ["fail"], warn: ["warn"], "not-verified": ["not_verified"], error: ["error"]};
  function current() {
    var match = /(?:^|[#&?])filter=([a-z-]+)/.exec(location.hash + "&" + location.search);
    return match && Object.prototype.hasOwnProperty.call(wanted, match[1]) ? match[1] : "all";
  }
  function apply(name) {
    var verdicts = wanted[name];
    document.querySelectorAll(".filterable").forEach(function (el) {
      var show = !verdicts || verdicts.indexOf(el.getAttribute("data-verdict")) >= 0;
      if (show) { el.removeAttribute("hidden"); } else { el.setAttribute("hidden", ""); }
    });
    document.querySelectorAll("#filters button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-filter") === name));
    });
    document.body.setAttribute("data-active-filter", name);
  }
  var bar = document.getElementById("filters");
  bar.removeAttribute("hidden");
  bar.addEventListener("click", function (event) {
    var name = event.target.getAttribute && event.target.getAttribute("data-filter");
    if (name) { location.hash = "filter=" + name; }
  });
  window.addEventListener("hashchange", function () { apply(current()); });
  apply(current());
})();
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def badge(verdict: str) -> str:
    return f'<span class="v v-{e(verdict)}">{e(VERDICT_LABELS.get(verdict, verdict))}</span>'


def case_anchor(nodeid: str) -> str:
    return "case-" + "".join(c if c.isalnum() else "-" for c in nodeid)


def cut(text: str, limit: int, where: str = "see junit.xml") -> str:
    """`text` up to `limit` characters, then how much was left out and where the rest is."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} characters more, {where})"


def one_line(text: str) -> str:
    """judge.one_line, at most LINE_CHARS long: a story line may be a whole failure text."""
    line = judge.one_line(text)
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " …"


def story_lines(vetted: Vetted, verdict: RequirementVerdict) -> list[str]:
    return list(dict.fromkeys(one_line(line) for line in requirement_story(vetted, verdict)))


def stories(vetted: Vetted) -> dict[str, list[str]]:
    """The story lines of every requirement that did not pass, built once per page (a story reads every case)."""
    return {
        verdict.id: story_lines(vetted, verdict)
        for verdict in vetted.verdicts
        if verdict.verdict not in (results.PASS, results.RECORDED)
    }


def cause_of(verdict: RequirementVerdict, told: dict[str, list[str]]) -> str:
    """One line: the judge's own cause when the record carries one, else the first line of the requirement's story."""
    cause = getattr(verdict, "cause", "") or ""
    if cause:
        return one_line(cause)
    story = told.get(verdict.id) or []
    return story[0] if story else ""


def consequence_note(verdict: RequirementVerdict) -> str:
    origin = getattr(verdict, "consequence_of", None)
    if not origin:
        return ""
    return f' <span class="consequence">probably a consequence of <a href="#req-{e(origin)}">{e(origin)}</a></span>'


def render(vetted: Vetted) -> str:
    run = vetted.run
    word = result_word(run)
    told = stories(vetted)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Qoder work API conformance: {word}</title><style>{CSS}</style></head>",
        '<body data-active-filter="all">',
        "<h1>Qoder work API: conformance report</h1>",
        f'<div class="banner {word}" id="result">{word}: exit status {e(run.exit_status)}'
        f"{' (strict)' if run.strict else ''}{_banner_reason(vetted)}</div>",
        _meta_line(vetted),
        _record_problems(vetted.problems, vetted.notes),
        _cleanup_alert(run.cleanup),
        _counts(vetted),
        '<div id="filters" hidden role="toolbar" aria-label="Filter by verdict">Show: '
        + "".join(f'<button type="button" data-filter="{key}">{label}</button>' for key, label in FILTERS)
        + "</div>",
        _attention(vetted, told),
        _run_details(run),
        "<h2>Requirements</h2>",
    ]
    groups = results.by_endpoint(vetted.verdicts)
    parts.append(
        '<p id="endpoints">By endpoint: '
        + " · ".join(f'<a href="#endpoint-{e(name)}">{e(name)}</a> ({len(group)})' for name, group in groups.items())
        + "</p>"
    )
    for endpoint, verdicts in groups.items():
        parts.append(_endpoint_section(vetted, endpoint, verdicts, told))
    parts.append(f'<h2 id="cases">Cases ({len(vetted.cases)})</h2>')
    parts.append(
        '<p class="muted">Each case, folded: its verdict, why, and its HTTP exchanges (secrets appear as '
        "<code>${NAME}</code> references; long bodies are cut, junit.xml has every failure in full).</p>"
    )
    parts.extend(_cases(vetted.cases))
    parts += [f"<script>{SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(part for part in parts if part)


def _banner_reason(vetted: Vetted) -> str:
    tally = results.counts(vetted.verdicts)
    said = [
        f"{tally[verdict]} {word}"
        for verdict, word in ((results.FAIL, "failed"), (results.ERROR, "errored"), (results.WARN, "warned"))
        if tally[verdict]
    ]
    if not said:
        return f' <span class="why-word">— every one of {len(vetted.verdicts)} requirements held or was recorded</span>'
    return f' <span class="why-word">— requirements: {e(", ".join(said))}</span>'


def _meta_line(vetted: Vetted) -> str:
    run = vetted.run
    return (
        f'<p class="meta" id="meta">target <code>{e(run.target)}</code> · provisioner {e(run.provisioner)} · '
        f"suite {e(run.suite_version)} · spec <code>{e(str(run.spec_digest)[:12])}</code> · "
        f"{e(run.started_at)} – {e(run.finished_at)} · strict: {'yes' if run.strict else 'no'}</p>"
    )


def _cleanup_alert(cleanup: dict[str, Any]) -> str:
    failed = cleanup.get("failed") if isinstance(cleanup, dict) else None
    if not failed:
        return ""
    items = "".join(f"<li><code>{e(json.dumps(item, default=str))}</code></li>" for item in failed)
    return (
        f'<div class="alert" id="cleanup-alert"><strong>Cleanup: {len(failed)} item(s) the suite created could not '
        f"be stopped and may still be live on the target.</strong> Stop them with "
        f"<code>qoder-conformance cleanup --ledger ledger.jsonl</code>."
        f'<details class="fold"><summary>which items</summary><ul>{items}</ul></details></div>'
    )


def _record_problems(problems: list[str], notes: list[str]) -> str:
    if not problems and not notes:
        return ""
    items = "".join(f"<li>{e(problem)}</li>" for problem in [*problems, *notes])
    return f'<div class="alert" id="record-problems"><strong>Reporting problems</strong><ul>{items}</ul></div>'


def _counts(vetted: Vetted) -> str:
    head = "".join(f"<th>{badge(v)}</th>" for v in results.SEVERITY)
    rows = ""
    for label, tally in (
        ("requirements", results.counts(vetted.verdicts)),
        ("cases", results.counts(vetted.cases)),
    ):
        cells = "".join(f'<td data-count="{label}-{v}">{tally[v]}</td>' for v in results.SEVERITY)
        rows += f"<tr><th>{label}</th>{cells}</tr>"
    return f'<table class="counts" id="counts"><tr><th></th>{head}</tr>{rows}</table>'


def _attention(vetted: Vetted, told: dict[str, list[str]]) -> str:
    """The failed, errored and warned requirements: root causes before their probable consequences."""
    order = {verdict: index for index, verdict in enumerate(ATTENTION)}
    chosen = sorted(
        (v for v in vetted.verdicts if v.verdict in order),
        key=lambda v: (order[v.verdict], bool(getattr(v, "consequence_of", None))),
    )
    if not chosen:
        return (
            '<h2 id="attention">Failed and warned requirements</h2>'
            '<p class="muted">None: no requirement failed, warned or errored.</p>'
        )
    items = "".join(_attention_item(vetted, verdict, told) for verdict in chosen)
    return f'<h2 id="attention">Failed and warned requirements ({len(chosen)})</h2><ul class="attention">{items}</ul>'


def _attention_item(vetted: Vetted, verdict: RequirementVerdict, told: dict[str, list[str]]) -> str:
    requirement = catalogue.get(verdict.id)
    story = told.get(verdict.id) or []
    not_passing = [case for case in vetted.cases_of(verdict.id) if case.verdict == verdict.verdict]
    more = ""
    if len(story) > 1:
        shown = "".join(f"<li>{e(line)}</li>" for line in story[:MISMATCH_LINES])
        rest = len(story) - MISMATCH_LINES
        tail = f'<li class="cut">… and {rest} more (see the cases below, or junit.xml)</li>' if rest > 0 else ""
        more = (
            f'<details class="fold"><summary>all {len(story)} lines</summary><ul class="why">{shown}{tail}</ul>'
            "</details>"
        )
    return (
        f'<li class="filterable" data-verdict="{e(verdict.verdict)}" id="attention-{e(verdict.id)}">'
        f'<div class="head">{badge(verdict.verdict)} <a href="#req-{e(verdict.id)}"><code>{e(verdict.id)}</code></a> '
        f"{e(verdict.level)} · {len(not_passing)} of {len(verdict.cases)} case(s) {e(VERDICT_LABELS[verdict.verdict])}"
        f"{consequence_note(verdict)}</div>"
        f'<div class="cause">{e(cause_of(verdict, told))}</div>'
        f'<blockquote cite="{e(requirement.page)}">“{e(requirement.quote)}” '
        f'<a href="{e(requirement.page)}">{e(requirement.page)}</a></blockquote>{more}</li>'
    )


def _tally(value: Any) -> str:
    if isinstance(value, (list, tuple, dict)):
        return str(len(value))
    return e(value)


def _run_details(run: Any) -> str:
    """Cleanup and preflight as counts; their records, and the configuration, folded away."""
    cleanup = run.cleanup if isinstance(run.cleanup, dict) else {}
    counts = ", ".join(f"{e(key)} {_tally(value)}" for key, value in sorted(cleanup.items())) or "nothing recorded"
    preflight = run.preflight if isinstance(run.preflight, dict) else {}
    checks = preflight.get("checks") if isinstance(preflight.get("checks"), list) else []
    passed = sum(1 for check in checks if isinstance(check, dict) and check.get("ok"))
    if preflight:
        state = "ok" if preflight.get("ok", True) else "FAILED"
        preflight_line = f"{state}, {passed} of {len(checks)} checks passed"
    else:
        preflight_line = "not recorded"
    config_rows = "".join(
        f"<tr><td><code>{e(key)}</code></td><td><code>{e(value)}</code></td></tr>"
        for key, value in sorted(run.config.items())
    )
    return (
        '<h2 id="run">Run</h2>'
        f'<p id="run-counts">Cleanup: {counts} · preflight: {e(preflight_line)}</p>'
        '<details class="fold" id="cleanup"><summary>cleanup record</summary>'
        f"<pre>{e(cut(json.dumps(cleanup, default=str, indent=1), 20_000, 'see summary.json'))}</pre></details>"
        '<details class="fold" id="preflight"><summary>preflight record</summary>'
        f"<pre>{e(cut(json.dumps(preflight, default=str, indent=1), 20_000, 'see summary.json'))}</pre></details>"
        '<details class="fold" id="configuration"><summary>configuration (redacted)</summary>'
        '<table class="kv config"><colgroup><col class="key"><col></colgroup>'
        f"<tr><th>setting</th><th>value</th></tr>{config_rows}</table></details>"
    )


def _endpoint_section(
    vetted: Vetted, endpoint: str, verdicts: list[RequirementVerdict], told: dict[str, list[str]]
) -> str:
    """One endpoint's requirements (catalogue/<endpoint>.toml) with its counts, a table per level it has."""
    tally = results.counts(verdicts)
    counts = " · ".join(
        f'<span data-count="{e(endpoint)}-{v}">{tally[v]}</span> {e(VERDICT_LABELS[v])}'
        for v in results.SEVERITY
        if tally[v]
    )
    tables = "".join(
        _requirements_table(vetted, endpoint, level, [v for v in verdicts if v.level == level], told)
        for level in catalogue.LEVELS
        if any(v.level == level for v in verdicts)
    )
    return (
        f'<section class="endpoint" id="endpoint-{e(endpoint)}"><h3>{e(endpoint)} ({len(verdicts)})</h3>'
        f'<p class="endpoint-counts">{counts}</p>{tables}</section>'
    )


def _requirements_table(
    vetted: Vetted, endpoint: str, level: str, chosen: list[RequirementVerdict], told: dict[str, list[str]]
) -> str:
    heading = f'<h4 id="level-{e(endpoint)}-{level.lower()}">{e(level)} ({len(chosen)})</h4>'
    rows = "".join(_requirement_row(vetted, verdict, told) for verdict in chosen)
    return (
        f'{heading}<table class="requirements"><colgroup><col class="verdict"><col class="id"><col>'
        '<col class="cases"></colgroup><tr><th>verdict</th><th>requirement</th><th>what the suite checks</th>'
        f"<th>cases</th></tr>{rows}</table>"
    )


def _requirement_row(vetted: Vetted, verdict: RequirementVerdict, told: dict[str, list[str]]) -> str:
    detail = ""
    if verdict.verdict not in (results.PASS, results.RECORDED):
        detail = f'<div class="cause">{e(cause_of(verdict, told))}</div>{consequence_note(verdict)}'
    not_passing = [
        case.nodeid
        for case in vetted.cases_of(verdict.id)
        if case.verdict == verdict.verdict and verdict.verdict != results.PASS
    ]
    links = "<br>".join(
        f'<a href="#{e(case_anchor(nodeid))}"><code>{e(nodeid.rsplit("::", 1)[-1])}</code></a>'
        for nodeid in not_passing[:CASE_LINKS]
    )
    if len(not_passing) > CASE_LINKS:
        links += f'<br><span class="muted">and {len(not_passing) - CASE_LINKS} more</span>'
    count = f"{len(verdict.cases)} case(s)" if verdict.cases else '<span class="muted">none</span>'
    return (
        f'<tr class="requirement filterable" id="req-{e(verdict.id)}" data-verdict="{e(verdict.verdict)}">'
        f"<td>{badge(verdict.verdict)}</td><td><code>{e(verdict.id)}</code></td>"
        f"<td>{e(verdict.summary)}{detail}</td><td>{count}{'<br>' + links if links else ''}</td></tr>"
    )


class Allowance:
    """Characters a part of the page may still spend on evidence; what does not fit is named, not shown."""

    def __init__(self, chars: int) -> None:
        self.left = max(0, chars)

    def take(self, text: str) -> bool:
        if len(text) > self.left:
            return False
        self.left -= len(text)
        return True


def _cases(cases: list[CaseRecord]) -> list[str]:
    """Every case, in run order; the page's evidence budget goes to the cases that did not pass first."""
    failing = any(case.verdict != results.PASS for case in cases)
    page = Allowance(PAGE_EVIDENCE_CHARS[failing])
    rendered: dict[int, str] = {}
    for index in sorted(range(len(cases)), key=lambda i: cases[i].verdict == results.PASS):
        case = cases[index]
        own = Allowance(min(CASE_EVIDENCE_CHARS[case.verdict != results.PASS], page.left))
        granted = own.left
        rendered[index] = _case(case, own)
        page.left -= granted - own.left
    return [rendered[index] for index in range(len(cases))]


def _case(case: CaseRecord, allowance: Allowance) -> str:
    module, _, name = case.nodeid.rpartition("::")
    head = (
        f'<details class="case filterable" id="{e(case_anchor(case.nodeid))}" data-verdict="{e(case.verdict)}">'
        f"<summary>{badge(case.verdict)} <code>{e(name or case.nodeid)}</code> "
        f'<span class="muted">{e(module)} · {e(" ".join(case.requirements))} · {case.duration_s:.2f} s</span>'
        "</summary>"
    )
    try:
        body = _case_body(case, allowance)
    except Exception as error:  # one malformed record must not cost the whole report
        body = f'<p class="alert">This case\'s evidence could not be rendered: {e(repr(error))}</p>'
    return head + body + "</details>"


def _case_body(case: CaseRecord, allowance: Allowance) -> str:
    parts = []
    if case.mismatches:
        lines = [f"<li>{e(one_line(mismatch_line(m)))}</li>" for m in case.mismatches[:MISMATCH_LINES]]
        shown = [lines[0]]  # the first mismatch always shows, whatever the budget
        shown += [line for line in lines[1:] if allowance.take(line)]
        if len(case.mismatches) > len(shown):
            rest = len(case.mismatches) - len(shown)
            shown.append(f'<li class="cut">… and {rest} more mismatch lines (see junit.xml)</li>')
        parts.append(f'<ul class="why">{"".join(shown)}</ul>')
        for requirement_id in dict.fromkeys(str(m.get("requirement")) for m in case.mismatches):
            if requirement_id in catalogue.requirements():
                requirement = catalogue.get(requirement_id)
                parts.append(
                    f"<blockquote><code>{e(requirement_id)}</code> {e(requirement.level)}: “{e(requirement.quote)}” "
                    f'<a href="{e(requirement.page)}">{e(requirement.page)}</a></blockquote>'
                )
    elif case.message:
        # No mismatch line: the message is the whole story (a skip reason, a harness error, a crash).
        message = cut(case.message, max(LINE_CHARS, min(MESSAGE_CHARS, allowance.left)))
        allowance.take(message)
        parts.append(f'<pre class="message">{e(message)}</pre>')
    if case.observations:
        rows = [
            f"<tr><td><code>{e(o.get('requirement'))}</code></td><td>{e(o.get('what'))}</td>"
            f"<td><code>{e(cut(str(o.get('value')), LINE_CHARS))}</code></td></tr>"
            for o in case.observations
        ]
        shown = [row for row in rows[:MISMATCH_LINES] if allowance.take(row)]
        if shown:
            head = "<tr><th>recorded for</th><th>what</th><th>value</th></tr>"
            parts.append(f"<table class=observations>{head}{''.join(shown)}</table>")
        if len(rows) > len(shown):
            parts.append(f'<p class="cut">… and {len(rows) - len(shown)} more observations</p>')
    if case.repro:
        parts.append(f'<p>Repro script: <a href="{e(case.repro)}"><code>{e(case.repro)}</code></a></p>')
    parts.append(_exchanges(case, allowance))
    return "".join(parts)


def _exchanges(case: CaseRecord, allowance: Allowance) -> str:
    """The case's exchanges within its allowance: the request under test first in line for space, then the rest in
    order; an exchange that does not fit in full gets one line, and when even that does not fit it is counted."""
    if not case.exchanges:
        return '<p class="muted">No HTTP exchange was recorded.</p>'
    rendered = [""] * len(case.exchanges)
    order = sorted(range(len(case.exchanges)), key=lambda i: case.exchanges[i].get("role") != "under_test")
    shortened = dropped = 0
    for index in order:
        exchange = case.exchanges[index]
        full = _exchange(exchange) if not shortened and not dropped else ""
        if full and allowance.take(full):
            rendered[index] = full
            continue
        line = _exchange_line(exchange)
        if allowance.take(line):
            rendered[index], shortened = line, shortened + 1
        else:
            dropped += 1
    notes = []
    if shortened:
        notes.append(f"{shortened} exchange(s) shown as one line only")
    if dropped:
        notes.append(f"{dropped} exchange(s) left out")
    note = (
        f'<p class="cut">{"; ".join(notes)}: the report\'s evidence budget is spent (junit.xml has every failure in '
        "full).</p>"
        if notes
        else ""
    )
    return (
        f'<details class="fold evidence"><summary>{len(case.exchanges)} HTTP exchange(s)</summary>'
        f"{''.join(rendered)}{note}</details>"
    )


def _headers(headers: Any) -> str:
    if not isinstance(headers, dict):
        return str(headers)
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def _outcome(exchange: dict[str, Any]) -> str:
    return str(exchange.get("error") or exchange.get("status"))


def _exchange_line(exchange: dict[str, Any]) -> str:
    role = str(exchange.get("role", "?"))
    return (
        f'<p class="exchange-line {e(role)}"><span class="role">{e(role)}</span> '
        f"<code>{e(exchange.get('method'))} {e(exchange.get('url'))} → {e(_outcome(exchange))}</code></p>"
    )


def _exchange(exchange: dict[str, Any]) -> str:
    role = str(exchange.get("role", "?"))
    duration = exchange.get("duration_ms") or 0
    request = f"{exchange.get('method')} {exchange.get('url')}\n{_headers(exchange.get('request_headers', {}))}"
    body = exchange.get("request_body")
    if exchange.get("request_body_base64"):
        request += f"\n\n[bytes, base64] {cut(str(exchange['request_body_base64']), BODY_CHARS)}"
    elif body is not None:
        request += f"\n\n{cut(str(body), BODY_CHARS)}"
    else:
        request += "\n\n[no body]"
    response = f"{_outcome(exchange)}\n{_headers(exchange.get('response_headers', {}))}"
    if exchange.get("response_body") is not None:
        response += f"\n\n{cut(str(exchange['response_body']), BODY_CHARS)}"
    return (
        f'<div class="exchange {e(role)}"><span class="role">{e(role)}</span> '
        f"<code>{e(exchange.get('method'))} {e(exchange.get('url'))} → {e(_outcome(exchange))}</code> "
        f'<span class="muted">{float(duration):.0f} ms</span>'
        f"<pre>{e(request)}</pre><pre>{e(response)}</pre></div>"
    )
