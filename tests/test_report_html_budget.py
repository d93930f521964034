"""report.html stays small and says things once, whatever the target sent (no browser needed).

Budget: under 1 MB for a passing run, under 2 MB for a failing one. The runs here are heavier than any real one
(hundreds of cases, dozens of exchanges each, 50 KB bodies, hundreds of mismatch lines), so the caps, not the
luck of a small run, keep the page within budget.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from conformance.reporting import html, write_all
from conformance.reporting.cases import vet
from conformance.reporting.sample import sample_run
from conformance.results import FAIL, PASS, CaseRecord

HOSTILE = "&lt;script&gt;document.title"


def heavy_run(*, failing: bool):
    """The sample run plus 300 heavy cases: 40 exchanges with 50 KB bodies each, 400 mismatch lines when failing."""
    run = sample_run(failing=failing)
    template = run.cases[-1]
    exchange = dict(template.exchanges[1])
    exchange["response_body"] = '{"blob": "' + "b" * 50_000 + '"}'
    exchange["request_body"] = "r" * 50_000
    for number in range(300):
        case = CaseRecord(
            f"conformance/test_heavy.py::test_heavy[{number}]",
            list(template.requirements),
            FAIL if failing else PASS,
            exchanges=[copy.deepcopy(exchange) for _ in range(40)],
        )
        if failing:
            case.message = "\n".join(["[X MUST] long failure text " + "m" * 300] * 400)
            case.mismatches = [
                {
                    "requirement": template.requirements[0],
                    "level": "MUST",
                    "what": f"field {index}",
                    "expected": "'a'",
                    "observed": "'" + "o" * 500 + "'",
                }
                for index in range(400)
            ]
        run.cases.append(case)
    if failing:
        run.exit_status = 1
    run.cleanup["discarded"] = [f"work_{number:032x}" for number in range(5_000)]
    return run


def page_of(run) -> str:
    """report.html of `run`, rendered directly (the other reports of such a run are not what is measured here)."""
    return html.render(vet(run))


def test_a_heavy_failing_run_stays_under_2_mb() -> None:
    size = len(page_of(heavy_run(failing=True)).encode("utf-8"))
    assert size < 2_000_000, size


def test_a_heavy_passing_run_stays_under_1_mb() -> None:
    size = len(page_of(heavy_run(failing=False)).encode("utf-8"))
    assert size < 1_000_000, size


def test_cut_evidence_says_how_much_is_left_out_and_where() -> None:
    page = page_of(heavy_run(failing=True))
    assert "(46012 characters more, see junit.xml)" in page  # a cut body: 50,012 characters, 4,000 shown
    assert "evidence budget is spent" in page
    assert "more mismatch lines (see junit.xml)" in page
    assert "b" * 50_000 not in page


def test_each_case_evidence_appears_once_and_folded(tmp_path: Path) -> None:
    write_all(sample_run(), tmp_path, {})
    page = (tmp_path / "report.html").read_text()
    assert page.count(HOSTILE) == 1  # the hostile answer of the one failed case: shown once, escaped
    cases = re.findall(r'<details class="case filterable"[^>]*>', page)
    assert cases and not any(" open" in tag for tag in cases)  # every case starts folded
    assert page.count("[STOP-TR-FORCE MUST] state: expected &#x27;stopped&#x27;, observed &#x27;stopping&#x27;") <= 3


def test_first_things_first(tmp_path: Path) -> None:
    """Verdict, counts and the failed requirements come before cleanup and preflight, which are counts and folds."""
    run = sample_run()
    run.cleanup["discarded"] = [f"work_{number:032x}" for number in range(180)]
    write_all(run, tmp_path, {})
    page = (tmp_path / "report.html").read_text()
    order = [page.index(marker) for marker in ('id="result"', 'id="counts"', 'id="attention"', 'id="run"')]
    assert order == sorted(order)
    assert "Cleanup: already_stopped 3, discarded 180, failed 0, stopped 1" in page
    first_id = page.index("work_00000000000000000000000000000000")
    assert first_id > page.index('<details class="fold" id="cleanup">')  # the IDs are folded away
    assert page.index('id="attention-STOP-TR-FORCE"') < page.index('id="attention-STOP-OPEN-NO-CONTENT-TYPE"')


def test_the_judges_cause_and_consequence_are_shown_root_causes_first() -> None:
    """Verdict records that carry `cause` and `consequence_of` (the one judge's fields) are rendered as such."""
    vetted = vet(sample_run())
    by_id = {verdict.id: verdict for verdict in vetted.verdicts}
    consequence = by_id["STOP-TR-FORCE"]
    consequence.cause = "[STOP-TR-FORCE MUST] state: the judge's own one-line cause"  # type: ignore[attr-defined]
    consequence.consequence_of = "STOP-ERR-INVALID-JSON"  # type: ignore[attr-defined]
    page = html.render(vetted)
    assert "the judge&#x27;s own one-line cause" in page
    assert 'probably a consequence of <a href="#req-STOP-ERR-INVALID-JSON">STOP-ERR-INVALID-JSON</a>' in page
    assert page.index('id="attention-STOP-ERR-INVALID-JSON"') < page.index('id="attention-STOP-TR-FORCE"')
