"""report.html: one standalone page a person reads to learn what the run found and why.

No network asset (inline CSS and JS, system fonts), so the file works when opened from a CI artifact or offline.
Everything is visible without JavaScript; scripts only add the verdict filters (also selectable through the URL
fragment, e.g. `report.html#filter=failed`, which is how the browser self-test drives them). Every value from a
run is escaped: response bodies are whatever the target sent, HTML included.
"""

from __future__ import annotations

import html
import json
from typing import Any

from conformance import catalogue, results
from conformance.reporting.cases import (
    NEEDS_REPRO,
    VERDICT_LABELS,
    Vetted,
    mismatch_line,
    requirement_story,
    result_word,
)
from conformance.results import CaseRecord, RequirementVerdict

FILTERS = (("all", "all"), ("failed", "failed"), ("warn", "warn"), ("not-verified", "not verified"), ("error", "error"))

CSS = """
:root { --fail:#b3261e; --warn:#8a5a00; --pass:#1e6b32; --muted:#5f6368; --line:#dadce0; --bg:#f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 1.5rem; color: #202124; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1.25rem 0 .5rem; }
code, pre { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg); border: 1px solid var(--line); padding: .5rem; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; margin: .25rem 0; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
.counts td, .counts th { text-align: right; } .counts th:first-child { text-align: left; }
.banner { padding: .75rem 1rem; border-radius: 6px; font-weight: 600; font-size: 1.1rem; margin: .75rem 0; }
.banner.PASS { background: #e6f4ea; color: var(--pass); } .banner.FAIL { background: #fce8e6; color: var(--fail); }
.alert { border: 2px solid var(--fail); background: #fce8e6; padding: .75rem 1rem; border-radius: 6px; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; word-break: break-all; }
.v { display: inline-block; min-width: 6.5em; text-align: center; border-radius: 4px; padding: 0 .4em;
     font-size: 12px; font-weight: 600; }
.v-pass { background: #e6f4ea; color: var(--pass); } .v-fail { background: var(--fail); color: #fff; }
.v-warn { background: #fef7e0; color: var(--warn); } .v-error { background: #3c4043; color: #fff; }
.v-not_verified { background: #e8eaed; color: #3c4043; } .v-recorded { background: #e8f0fe; color: #174ea6; }
.why { margin: .25rem 0 0; padding-left: 1.2rem; } .why li { font-family: ui-monospace, Menlo, Consolas, monospace;
     font-size: 12.5px; }
blockquote { margin: .25rem 0; padding: .1rem .75rem; border-left: 3px solid var(--line); color: #3c4043; }
details.case { border: 1px solid var(--line); border-radius: 6px; margin: .4rem 0; padding: .25rem .6rem; }
details.case > summary { cursor: pointer; padding: .2rem 0; }
.exchange { border-top: 1px dashed var(--line); margin-top: .5rem; padding-top: .4rem; }
.role { color: var(--muted); text-transform: uppercase; font-size: 11px; letter-spacing: .05em; }
.under_test .role { color: var(--fail); font-weight: 700; }
#filters { margin: .5rem 0; position: sticky; top: 0; background: #fff; padding: .4rem 0; z-index: 1; }
#filters button { font: inherit; border: 1px solid var(--line); background: #fff; border-radius: 16px;
                  padding: .2rem .8rem; margin-right: .3rem; cursor: pointer; }
#filters button[aria-pressed="true"] { background: #202124; color: #fff; border-color: #202124; }
[hidden] { display: none !important; }
.muted { color: var(--muted); }
.requirement td:nth-child(2) code { white-space: nowrap; }
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


def render(vetted: Vetted) -> str:
    run = vetted.run
    word = result_word(run)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Qoder Stop conformance: {word}</title><style>{CSS}</style></head>",
        '<body data-active-filter="all">',
        "<h1>Qoder Stop work item: conformance report</h1>",
        f'<div class="banner {word}" id="result">{word}: exit status {e(run.exit_status)}'
        f"{' (strict)' if run.strict else ''}</div>",
        _cleanup_alert(run.cleanup),
        _record_problems(vetted.problems, vetted.notes),
        _meta(vetted),
        _counts(vetted),
        '<div id="filters" hidden role="toolbar" aria-label="Filter by verdict">Show: '
        + "".join(f'<button type="button" data-filter="{key}">{label}</button>' for key, label in FILTERS)
        + "</div>",
        "<h2>Requirements</h2>",
    ]
    for level in catalogue.LEVELS:
        parts.append(_requirements_table(vetted, level))
    parts.append("<h2>Cases</h2>")
    parts.append(
        '<p class="muted">Each case shows its verdict, why, and every HTTP exchange it made (secrets appear '
        "as <code>${NAME}</code> references).</p>"
    )
    parts.extend(_case(case) for case in vetted.cases)
    parts += [_configuration(run), f"<script>{SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(part for part in parts if part)


def _cleanup_alert(cleanup: dict[str, Any]) -> str:
    failed = cleanup.get("failed") if isinstance(cleanup, dict) else None
    if not failed:
        return ""
    items = "".join(f"<li><code>{e(json.dumps(item, default=str))}</code></li>" for item in failed)
    return (
        f'<div class="alert" id="cleanup-alert"><strong>Cleanup: {len(failed)} item(s) the suite created could not '
        f"be stopped and may still be live on the target.</strong> Stop them with "
        f"<code>qoder-conformance cleanup --ledger ledger.jsonl</code>.<ul>{items}</ul></div>"
    )


def _record_problems(problems: list[str], notes: list[str]) -> str:
    if not problems and not notes:
        return ""
    items = "".join(f"<li>{e(problem)}</li>" for problem in [*problems, *notes])
    return f'<div class="alert" id="record-problems"><strong>Reporting problems</strong><ul>{items}</ul></div>'


def _meta(vetted: Vetted) -> str:
    run = vetted.run
    rows = [
        ("target", run.target),
        ("provisioner", run.provisioner),
        ("suite version", run.suite_version),
        ("spec digest", run.spec_digest),
        ("started", run.started_at),
        ("finished", run.finished_at),
        ("strict", "yes" if run.strict else "no"),
        ("cleanup", json.dumps(run.cleanup, default=str, sort_keys=True)),
    ]
    if run.preflight:
        rows.append(("preflight", json.dumps(run.preflight, default=str, sort_keys=True)))
    body = "".join(f"<dt>{e(name)}</dt><dd><code>{e(value)}</code></dd>" for name, value in rows)
    return f'<dl class="meta" id="meta">{body}</dl>'


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


def _requirements_table(vetted: Vetted, level: str) -> str:
    chosen = [v for v in vetted.verdicts if v.level == level]
    heading = f'<h3 id="level-{level.lower()}">{e(level)} ({len(chosen)})</h3>'
    if not chosen:
        return heading + '<p class="muted">none</p>'
    rows = "".join(_requirement_row(vetted, verdict) for verdict in chosen)
    return (
        f'{heading}<table class="requirements"><tr><th>verdict</th><th>requirement</th><th>what the suite checks'
        f"</th><th>cases</th></tr>{rows}</table>"
    )


def _requirement_row(vetted: Vetted, verdict: RequirementVerdict) -> str:
    requirement = catalogue.get(verdict.id)
    detail = ""
    if verdict.verdict not in (results.PASS, results.RECORDED):
        why = "".join(f"<li>{e(line)}</li>" for line in requirement_story(vetted, verdict))
        detail = (
            f'<blockquote cite="{e(requirement.page)}">“{e(requirement.quote)}” '
            f'<a href="{e(requirement.page)}">{e(requirement.page)}</a></blockquote><ul class="why">{why}</ul>'
        )
    cases = "<br>".join(
        f'<a href="#{e(case_anchor(nodeid))}"><code>{e(nodeid.rsplit("::", 1)[-1])}</code></a>'
        for nodeid in verdict.cases
    )
    return (
        f'<tr class="requirement filterable" id="req-{e(verdict.id)}" data-verdict="{e(verdict.verdict)}">'
        f"<td>{badge(verdict.verdict)}</td><td><code>{e(verdict.id)}</code></td>"
        f"<td>{e(verdict.summary)}{detail}</td><td>{cases or '<span class=muted>none</span>'}</td></tr>"
    )


def _case(case: CaseRecord) -> str:
    opened = " open" if case.verdict in (*NEEDS_REPRO, results.ERROR) else ""
    head = (
        f'<details class="case filterable" id="{e(case_anchor(case.nodeid))}" data-verdict="{e(case.verdict)}"'
        f"{opened}><summary>{badge(case.verdict)} <code>{e(case.nodeid)}</code> "
        f'<span class="muted">{e(" ".join(case.requirements))} · {case.duration_s:.2f} s</span></summary>'
    )
    try:
        body = _case_body(case)
    except Exception as error:  # one malformed record must not cost the whole report
        body = f'<p class="alert">This case\'s evidence could not be rendered: {e(repr(error))}</p>'
    return head + body + "</details>"


def _case_body(case: CaseRecord) -> str:
    parts = []
    lines = {mismatch_line(m) for m in case.mismatches}
    if case.message and not set(case.message.strip().splitlines()) <= lines:
        parts.append(f"<pre class=message>{e(case.message)}</pre>")
    if case.mismatches:
        parts.append('<ul class="why">' + "".join(f"<li>{e(mismatch_line(m))}</li>" for m in case.mismatches))
        parts.append("</ul>")
    for requirement_id in dict.fromkeys(str(m.get("requirement")) for m in case.mismatches):
        if requirement_id in catalogue.requirements():
            requirement = catalogue.get(requirement_id)
            parts.append(
                f"<blockquote><code>{e(requirement_id)}</code> {e(requirement.level)}: “{e(requirement.quote)}” "
                f'<a href="{e(requirement.page)}">{e(requirement.page)}</a></blockquote>'
            )
    if case.observations:
        rows = "".join(
            f"<tr><td><code>{e(o.get('requirement'))}</code></td><td>{e(o.get('what'))}</td>"
            f"<td><code>{e(o.get('value'))}</code></td></tr>"
            for o in case.observations
        )
        head = "<tr><th>recorded for</th><th>what</th><th>value</th></tr>"
        parts.append(f"<table class=observations>{head}{rows}</table>")
    if case.repro:
        parts.append(f'<p>Repro script: <a href="{e(case.repro)}"><code>{e(case.repro)}</code></a></p>')
    parts.extend(_exchange(exchange) for exchange in case.exchanges)
    if not case.exchanges:
        parts.append('<p class="muted">No HTTP exchange was recorded.</p>')
    return "".join(parts)


def _headers(headers: Any) -> str:
    if not isinstance(headers, dict):
        return e(headers)
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def _exchange(exchange: dict[str, Any]) -> str:
    role = str(exchange.get("role", "?"))
    outcome = exchange.get("error") or exchange.get("status")
    duration = exchange.get("duration_ms") or 0
    request = f"{exchange.get('method')} {exchange.get('url')}\n{_headers(exchange.get('request_headers', {}))}"
    body = exchange.get("request_body")
    if exchange.get("request_body_base64"):
        request += f"\n\n[bytes, base64] {exchange['request_body_base64']}"
    elif body is not None:
        request += f"\n\n{body}"
    else:
        request += "\n\n[no body]"
    response = f"{outcome}\n{_headers(exchange.get('response_headers', {}))}"
    if exchange.get("response_body") is not None:
        response += f"\n\n{exchange['response_body']}"
    return (
        f'<div class="exchange {e(role)}"><span class="role">{e(role)}</span> '
        f"<code>{e(exchange.get('method'))} {e(exchange.get('url'))} → {e(outcome)}</code> "
        f'<span class="muted">{float(duration):.0f} ms</span>'
        f"<pre>{e(request)}</pre><pre>{e(response)}</pre></div>"
    )


def _configuration(run: Any) -> str:
    rows = "".join(
        f"<tr><td><code>{e(key)}</code></td><td><code>{e(value)}</code></td></tr>"
        for key, value in sorted(run.config.items())
    )
    return (
        '<h2 id="configuration">Configuration (redacted)</h2>'
        f"<table class=config><tr><th>setting</th><th>value</th></tr>{rows}</table>"
    )
