# The operator image the Helm chart runs: `python -m ccloud_operator run` as a non-root user.
#
#   docker build -t ccloud-operator:0.1.0 .
#
# Not built in this repository's CI: the development machine has no container engine and no registry
# serves the base image. tests/e2e/test_image.py follows its steps instead (the build stage's COPY and
# RUN lines in a fresh virtual environment, then the runtime stage's ENV, USER and ENTRYPOINT) and
# starts the operator as user 65532. The chart's values (image.repository, image.tag) name the result.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Only the operator's distribution (operator/pyproject.toml): the emulator, the test harness and the
# development tools stay out of the image; constraints.txt pins every version it installs.
COPY constraints.txt ./
COPY operator/ operator/
# A virtualenv copied whole into the runtime stage: no compiler, no pip cache, no sources, and no
# pip or setuptools either (the build stage's pip installs into it from outside).
RUN python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install --no-compile -c constraints.txt ./operator \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM python:3.11-slim
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# Numeric, so the kubelet can verify runAsNonRoot without an /etc/passwd entry.
USER 65532:65532
# /healthz and /readyz (CCLOUD_LIVENESS_PORT), which the chart probes; /metrics (CCLOUD_METRICS_PORT).
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "ccloud_operator"]
CMD ["run"]
