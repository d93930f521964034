# The conformance suite as an image, for vendors who do not run Python:
#   docker build -t qoder-conformance .
#   docker run --rm --env-file qoder.env -v "$PWD/reports:/reports" qoder-conformance [pytest options]
# The entry point is `qoder-conformance run`: it tests QODER_BASE_URL (with no target configured, the embedded
# emulator) and writes every report to /reports. The exit status is the suite's (0: every MUST held).

# Stage 1: build the wheel from the sources (the schemas/ folder is mapped into it, see pyproject.toml).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY schemas ./schemas
COPY conformance ./conformance
COPY qoder_emulator ./qoder_emulator
RUN python -m pip wheel --no-cache-dir --no-deps -w /dist .

# Stage 2: only the installed package, run by an unprivileged user.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    QODER_REPORTS_DIR=/reports \
    HYPOTHESIS_STORAGE_DIRECTORY=/tmp/hypothesis
COPY --from=build /dist/ /tmp/dist/
RUN python -m pip install --no-cache-dir /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && useradd --create-home --uid 10001 conformance \
    && mkdir /reports \
    && chown conformance /reports
USER conformance
WORKDIR /home/conformance
VOLUME ["/reports"]
ENTRYPOINT ["qoder-conformance", "run"]
