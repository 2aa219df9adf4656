# The Confluent Cloud emulator as an image, for tools/kind/e2e.sh only (the operator's image is the
# repository's Dockerfile). It also serves examples/archives/ on port 8000, as an artifact store would.
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY emulator/ emulator/
COPY testenv/ testenv/
COPY examples/archives/ /srv/archives/
RUN pip install --no-compile -c constraints.txt . && rm -rf /src
USER 65532:65532
EXPOSE 8080 8000
ENTRYPOINT ["ccloud-emulator", "serve", "--host", "0.0.0.0", "--port", "8080"]
