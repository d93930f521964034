"""Repro scripts: one bash file per failed or warned case that replays its HTTP exchanges with curl.

The point is a report a server team can act on without installing the suite: the script provisions fresh items
the way the case did, captures their new IDs from the setup responses, and sends the failing request(s) with the
exact bytes and headers of the run. Secrets stay `${NAME}` references (evidence is redacted at capture time), so
the file holds no token and runs once the variables are exported.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from typing import Any

from conformance.paths import segment
from conformance.reporting.cases import mismatch_line
from conformance.results import CaseRecord, RunRecord

SECRET_REFERENCE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
TRUNCATED_BODY = re.compile(r"\.\.\. \[\d+ more characters cut\]$")
# Headers curl computes itself (sending the recorded value could contradict the bytes actually sent), and
# Accept-Encoding, which would make curl print compressed bytes.
COMPUTED_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "accept-encoding"}
# Headers curl adds on its own; removed when the run did not send them, so the request is the same.
CURL_DEFAULTS = ("user-agent", "accept")
MINIMUM_ID_LENGTH = 6


def _comment(text: str) -> list[str]:
    lines = str(text).replace("\r", "").splitlines() or [""]
    return ["# " + "".join(ch if ch.isprintable() else "?" for ch in line) for line in lines]


def _double_quoted(text: str, variables: set[str]) -> str:
    """`text` inside double quotes, inert except for `${NAME}` references to the given variables."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
    for name in variables:
        escaped = escaped.replace("\\${" + name + "}", "${" + name + "}")
    return '"' + escaped + '"'


class _Script:
    """Accumulates the script body while tracking which variables it uses and which IDs it captured."""

    def __init__(self, case: CaseRecord, run: RunRecord, secret_names: set[str]) -> None:
        self.case, self.run = case, run
        self.target = (run.target or "").rstrip("/")
        self.secret_names = secret_names
        self.used_secrets: set[str] = set()
        self.captured: dict[str, str] = {}  # old value -> shell variable
        self.lines: list[str] = []

    def text(self, value: str, *, url: bool = False) -> str:
        """A double-quoted shell word: secret references, the target and captured IDs stay variables."""
        references = {name for name in SECRET_REFERENCE.findall(value) if name in self.secret_names}
        self.used_secrets |= references
        prefix = ""
        if url and self.target and value.startswith(self.target):
            prefix, value = "${TARGET}", value[len(self.target) :]
        word = _double_quoted(value, references)[1:-1]
        if url:
            for old, variable in sorted(self.captured.items(), key=lambda pair: -len(pair[0])):
                word = word.replace(old, "${" + variable + "}")
        return f'"{prefix}{word}"'

    def exchange(self, number: int, exchange: dict[str, Any], later: list[dict[str, Any]], inputs: str) -> None:
        method = str(exchange.get("method", "GET"))
        url = str(exchange.get("url", ""))
        role = str(exchange.get("role", "?"))
        self.lines += ["", *_comment(f"{number}. {role}: {method} {url}")]
        if exchange.get("status") is not None or exchange.get("error"):
            self.lines += _comment(f"   the run got: {exchange.get('error') or exchange.get('status')}")
        arguments = ["-sS", "--globoff", "--path-as-is", "--max-time", "30", "-X", shlex.quote(method)]
        headers = {str(k).lower(): (str(k), str(v)) for k, v in (exchange.get("request_headers") or {}).items()}
        for lower, (name, value) in headers.items():
            if lower in COMPUTED_HEADERS:
                continue
            header = f"{name};" if value == "" else f"{name}: {value}"
            arguments += ["-H", self.text(header)]
        for default in CURL_DEFAULTS:
            if default not in headers:
                arguments += ["-H", f'"{default.title()}:"']
        feed = self._body(exchange, headers, arguments)
        arguments.append(self.text(url, url=True))
        captures = self._captures(exchange, later, inputs)
        curl = "curl " + " ".join(arguments)
        if captures:
            variable = f"RESPONSE_{number}"
            self.lines.append(f"{variable}=$({feed}{curl} -D /dev/stderr)")
            self.lines.append(f"printf '%s\\n' \"${variable}\"")
            for key, shell_variable in captures:
                # The replay's answer is hostile input too: the captured ID enters the URL as one encoded segment.
                program = (
                    "import json,sys,urllib.parse; "
                    f'print(urllib.parse.quote(str(json.load(sys.stdin)[{json.dumps(key)}]), safe=""))'
                )
                extract = f"python3 -c {shlex.quote(program)}"
                self.lines.append(f"{shell_variable}=$(printf '%s' \"${variable}\" | {extract})")
                self.lines.append(f'echo "{shell_variable}=${{{shell_variable}}}"')
        else:
            self.lines.append(f'{feed}{curl} -i || echo "(curl exit status $?)"')
            self.lines.append("echo")

    def _body(self, exchange: dict[str, Any], headers: dict[str, tuple[str, str]], arguments: list[str]) -> str:
        """The command that feeds the body to curl's stdin ("" when the run sent no body: no -d at all)."""
        encoded, body = exchange.get("request_body_base64"), exchange.get("request_body")
        if body is None and not encoded:
            length = headers.get("content-length")
            if length:
                arguments += ["-H", f'"Content-Length: {length[1]}"']
            return ""
        arguments += ["--data-binary", "@-"]
        if "content-type" not in headers:
            arguments += ["-H", '"Content-Type:"']  # curl would add application/x-www-form-urlencoded
        arguments += ["-H", '"Expect:"']
        if encoded:
            return f"printf '%s' {shlex.quote(str(encoded))} | base64 -d | "
        text = str(body)
        if TRUNCATED_BODY.search(text):
            self.lines += _comment("   WARNING: the evidence kept only the start of this body; the request is cut.")
        if "\0" in text:  # a shell string cannot hold NUL: send the bytes through base64 instead
            return f"printf '%s' {shlex.quote(base64.b64encode(text.encode()).decode())} | base64 -d | "
        return f"printf '%s' {self.text(text)} | "

    def _captures(self, exchange: dict[str, Any], later: list[dict[str, Any]], inputs: str) -> list[tuple[str, str]]:
        """Values this response issued (not sent by the script before) that later URLs use: they change per run."""
        try:
            answer = json.loads(exchange.get("response_body") or "")
        except (TypeError, ValueError):
            return []
        if not isinstance(answer, dict):
            return []
        later_urls = " ".join(str(item.get("url", "")) for item in later)
        captures = []
        for key, value in answer.items():
            if (
                isinstance(value, str)
                and len(value) >= MINIMUM_ID_LENGTH
                and segment(value) == value  # only a value that is the same raw and as a URL segment
                and value not in inputs
                and value in later_urls
                and value not in self.captured
            ):
                stem = re.sub(r"[^A-Z0-9]+", "_", str(key).upper()).strip("_") or "VALUE"
                variable = f"NEW_{stem}_{len(self.captured) + 1}"
                self.captured[value] = variable
                captures.append((key, variable))
        return captures


def render(case: CaseRecord, run: RunRecord, secret_names: set[str] | frozenset[str] = frozenset()) -> str:
    """The script for `case`; `secret_names` are the variables whose `${NAME}` references must stay expandable."""
    names = set(secret_names) or {"QODER_PAT", "QODER_FORBIDDEN_PAT", "QODER_EXPIRED_PAT"}
    script = _Script(case, run, names)
    exchanges = [item for item in case.exchanges if isinstance(item, dict)]
    inputs = ""
    for number, exchange in enumerate(exchanges, start=1):
        inputs += f" {exchange.get('url', '')} {exchange.get('request_body') or ''}"
        script.exchange(number, exchange, exchanges[number:], inputs)
    requirement_ids = " ".join(case.requirements)
    header = [
        "#!/usr/bin/env bash",
        "# Reproduces one conformance case against the same target with fresh items, printing every response.",
        *_comment(f"case:         {case.nodeid}"),
        *_comment(f"requirements: {requirement_ids}"),
        *_comment(f"verdict:      {case.verdict}"),
        *_comment(f'rerun it:     pytest "{case.nodeid}"'),
        *_comment("every case of a requirement: " + "  ".join(f"pytest -k {rid}" for rid in case.requirements)),
        "# expected vs observed in the run:",
    ]
    header += [line for mismatch in case.mismatches for line in _comment("  " + mismatch_line(mismatch))]
    if case.message and case.message.strip() not in {mismatch_line(m) for m in case.mismatches}:
        header += ["# message:", *[line for line in _comment("  " + case.message)]]
    header += [
        "# Secrets are read from the environment and never written here; export them before running.",
        "# TARGET defaults to the run's target; set QODER_REPRO_TARGET to send the requests elsewhere.",
        "set -euo pipefail",
        *[f': "${{{name}:?export {name} first}}"' for name in sorted(script.used_secrets)],
        f'TARGET="${{QODER_REPRO_TARGET:-{_double_quoted(script.target, set())[1:-1]}}}"',
    ]
    if not exchanges:
        script.lines += ["", "echo 'the run recorded no HTTP exchange for this case: nothing to replay' >&2", "exit 1"]
    return "\n".join(header + script.lines) + "\n"
