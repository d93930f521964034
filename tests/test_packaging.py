"""The installed product: what the wheel carries, how an installed run is started, and where the plugin stays inert.

The wheel is built from a copy of the sources (never in the checkout: a stale build/ folder there could hide a
missing file), without build isolation, so no download is needed: the test extras install setuptools.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import conformance
from conformance import catalogue, run, schemas
from conformance.config import VARIABLES, is_loopback_origin, load_settings
from conformance.plugin import FLAG_VARIABLES, MARKERS, rate_limit_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(conformance.__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "conformance", "qoder_emulator", "schemas")
pytest_plugins = ["pytester"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    out = tmp_path_factory.mktemp("dist")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    completed = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode("utf-8")


def test_wheel_carries_schemas_spec_catalogue_and_license(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for schema in schemas.SCHEMA_NAMES:
        packaged = f"conformance/schema_files/{schema}.schema.json"
        assert packaged in names
        assert wheel.read(packaged) == (ROOT / "schemas" / f"{schema}.schema.json").read_bytes()
    for spec in sorted(catalogue.SPEC_DIR.iterdir()):
        assert f"conformance/spec/{spec.name}" in names
    assert "conformance/catalogue/stop.toml" in names
    assert "Apache License" in dist_info(wheel, "licenses/LICENSE")
    assert "License-Expression: Apache-2.0" in dist_info(wheel, "METADATA")


def test_wheel_version_is_the_package_version(wheel: zipfile.ZipFile) -> None:
    assert f"\nVersion: {conformance.__version__}\n" in dist_info(wheel, "METADATA")
    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]


def test_wheel_registers_the_pytest_plugin_and_the_commands(wheel: zipfile.ZipFile) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(wheel, "entry_points.txt"))
    # The same name the root conftest.py and `-p conformance.plugin` use: one plugin, never registered twice.
    assert dict(entry_points["pytest11"]) == {"conformance.plugin": "conformance.plugin"}
    assert entry_points["console_scripts"]["qoder-conformance"] == "conformance.cli:main"
    assert entry_points["console_scripts"]["qoder-emulator"] == "qoder_emulator.cli:main"


def test_wheel_has_every_module_of_the_checkout(wheel: zipfile.ZipFile) -> None:
    """pyproject.toml lists the packages by name (the schema mapping needs it): a new subpackage must be added."""
    names = set(wheel.namelist())
    for package in ("conformance", "qoder_emulator"):
        for module in sorted((ROOT / package).rglob("*.py")):
            relative = module.relative_to(ROOT).as_posix()
            assert relative in names, f"{relative} is not in the wheel: add its package to pyproject.toml"


def test_installed_run_uses_the_repositorys_pytest_settings() -> None:
    """`qoder-conformance run` passes what pyproject.toml's ini section sets for `pytest` at the repository root."""
    ini = PYPROJECT["tool"]["pytest"]["ini_options"]
    disabled = [word.removeprefix("no:") for word in ini["addopts"].split() if word.startswith("no:")]
    assert tuple(disabled) == run.DISABLED_PLUGINS
    for name, value in run.INI_VALUES.items():
        expected = ini[name]
        shown = " ".join(expected) if isinstance(expected, list) else str(expected).lower()
        assert value == shown, name
    arguments = run.pytest_arguments(["-m", "must"])
    assert arguments[:2] == ["--pyargs", "conformance"] and arguments[-2:] == ["-m", "must"]


def test_markers_are_registered_by_the_plugin(pytester: pytest.Pytester) -> None:
    """No ini file (as in an installed copy's working directory): --strict-markers still knows every marker."""
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.req("STOP-TR-QUEUED")
        @pytest.mark.sdk
        @pytest.mark.slow
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest("-p", "conformance.plugin", "--strict-markers", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    names = {line.split(":")[0].split("(")[0] for line in MARKERS}
    endpoints = set(catalogue.ENDPOINTS.values())  # one marker per endpoint, from the catalogue's own list
    assert names == {"req", "must", "should", "unspecified", "sdk", "slow"} | endpoints


def test_plugin_is_inert_for_an_unrelated_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = pytester.runpytest("-p", "conformance.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "qoder:" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_pyargs_conformance_is_suite_mode(pytester: pytest.Pytester) -> None:
    """From a directory that is not the checkout, `--pyargs conformance` selects the suite (collected only)."""
    result = pytester.runpytest("-p", "conformance.plugin", "--pyargs", "conformance", "--collect-only")
    assert result.ret == 0
    output = result.stdout.str()
    assert "qoder: target embedded emulator" in output and "qoder: rate limits off (embedded emulator)" in output
    assert "<Module test_stop_errors.py>" in output and " tests collected" in output


def test_every_option_says_what_it_means_and_its_default() -> None:
    for variable in VARIABLES:
        assert variable.meaning, variable.name
        assert variable.default_text()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conformance.plugin", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    text = " ".join(completed.stdout.split())
    for variable in VARIABLES:
        value = "" if variable.name in FLAG_VARIABLES else "=VALUE"  # a switch takes no value
        assert f"{variable.flag}{value} {variable.meaning} (also {variable.name}" in text, variable.flag
    assert text.count("; default: ") >= len(VARIABLES)


@pytest.mark.parametrize(
    ("base_url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.9.9.9", True),
        ("http://[::1]:8080", True),
        ("http://localhost:8080", True),
        ("https://LOCALHOST", True),
        ("https://api.qoder.com", False),
        ("http://10.0.0.1:8080", False),
        ("http://0.0.0.0:8080", False),
        ("http://127.0.0.1.example.com", False),
    ],
)
def test_loopback_origins(base_url: str, loopback: bool) -> None:
    assert is_loopback_origin(base_url) is loopback


TARGET = {
    "QODER_PAT": "pt-x",
    "QODER_ENVIRONMENT_ID": "env_1",
    "QODER_HOOK_URL": "http://127.0.0.1:1/hook",
}


def test_rate_limits_default_off_on_loopback_and_on_for_remote_targets() -> None:
    local = load_settings(environ={**TARGET, "QODER_BASE_URL": "http://127.0.0.1:8080"})
    assert (local.write_rate, local.read_rate) == (0, 0)
    assert rate_limit_line(local).startswith("qoder: rate limits off (loopback target); to turn them on, set ")
    remote = load_settings(environ={**TARGET, "QODER_BASE_URL": "https://api.qoder.com"})
    assert (remote.write_rate, remote.read_rate) == (20, 50)
    line = rate_limit_line(remote)
    assert line.startswith("qoder: rate limits writes 20/s, reads 50/s (remote target); to change them, set ")
    assert "QODER_WRITE_RATE" in line and "--qoder-read-rate" in line
    chosen = load_settings(environ={**TARGET, "QODER_BASE_URL": "http://localhost:1", "QODER_WRITE_RATE": "5"})
    assert (chosen.write_rate, chosen.read_rate) == (5, 0)
    assert "writes 5/s, reads unlimited (loopback target)" in rate_limit_line(chosen)
    assert rate_limit_line(load_settings(environ={})) == "qoder: rate limits off (embedded emulator)"


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_readme_pipeline_recipes_are_valid_and_complete() -> None:
    """The recipes parse as YAML and do what the README promises: secrets from the CI's store, JUnit, summary.md,
    reports as artifacts, the installed command."""
    import yaml

    github, gitlab = (yaml.safe_load(block) for block in readme_blocks("yaml"))
    steps = github["jobs"]["conformance"]["steps"]
    run_lines = " ".join(str(step.get("run", "")) for step in steps)
    assert "pip install qoder-work-conformance" in run_lines and "qoder-conformance run" in run_lines
    assert 'reports/summary.md >> "$GITHUB_STEP_SUMMARY"' in run_lines
    environment = next(step["env"] for step in steps if "env" in step)
    for token in ("QODER_PAT", "QODER_FORBIDDEN_PAT", "QODER_EXPIRED_PAT"):
        assert environment[token] == "${{ secrets." + token + " }}"
    uses = {step.get("uses", "").split("@")[0]: step.get("with", {}) for step in steps}
    assert uses["actions/upload-artifact"]["path"] == "reports/"
    assert uses["mikepenz/action-junit-report"]["report_paths"] == "reports/junit.xml"
    assert all(step.get("if") == "always()" for step in steps if "reports" in str(step.get("with", step.get("run"))))
    job = gitlab["qoder-conformance"]
    assert any("qoder-conformance run" in line for line in job["script"])
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["paths"] == ["reports/"]
    assert job["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    assert not any("QODER_PAT=" in line for line in job["script"])


def test_dockerfile_runs_the_installed_suite() -> None:
    """Read, not built (a base image cannot be pulled everywhere): the image installs the wheel and runs the suite."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert instructions[-1] == ["ENTRYPOINT", '["qoder-conformance", "run"]']
    assert ["USER", "conformance"] in instructions
    copied = {words[1].split()[0] for words in instructions if words[0] == "COPY" and "--from" not in words[1]}
    assert copied == {"pyproject.toml", "schemas", "conformance", "qoder_emulator"}
    for source in ("pyproject.toml", "README.md", "LICENSE", "schemas", "conformance", "qoder_emulator"):
        assert (ROOT / source).exists() and f"!{source}" in (ROOT / ".dockerignore").read_text(encoding="utf-8")


def test_another_projects_req_marker_is_left_alone(pytester: pytest.Pytester) -> None:
    """The entry point loads the plugin into every run of the environment; a project with its own `req` marker
    (not naming the plugin) keeps it: no "unknown requirement ID" error, no level markers added."""
    pytester.makeini("[pytest]\nmarkers =\n    req: the project's own traceability marker\n")
    pytester.makepyfile(
        test_own="import pytest\n\n@pytest.mark.req('REQ-1')\ndef test_x():\n    pass\n\n"
        "@pytest.mark.req('STOP-TR-QUEUED')\ndef test_y():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert "qoder-work-conformance-" in result.stdout.str()  # loaded through the entry point ("plugins: ...")...
    result.assert_outcomes(passed=2)  # ...and inert
    assert pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "must").ret == 5  # no level marker added


def test_run_command_collects_the_bundled_cases_from_any_directory(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--collect-only", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "test_stop_transitions.py::test_graceful_drain_protocol" in completed.stdout
    assert " tests collected" in completed.stdout and "warning" not in completed.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "conformance", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert "run the conformance suite" in listed.stdout


def test_suite_fixtures_are_not_offered_to_another_project(pytester: pytest.Pytester) -> None:
    """`settings`, `check`, `api` and `provision` exist only in the plugin's own runs: elsewhere a fixture of the
    same name from another plugin (pytest-django's `settings`) stays the one a test gets."""
    pytester.makepyfile(
        other_settings_plugin="import pytest\n\n@pytest.fixture\ndef settings():\n    return 'the project'\n",
        test_other="def test_x(settings):\n    assert settings == 'the project'\n\ndef test_y(provision):\n    pass\n",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "other_settings_plugin")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'provision' not found*"])
