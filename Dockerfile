# One image for every role: the gRPC code server, the Dagster webserver and daemon, the callback
# receiver, and the run pods of Kubernetes' K8sRunLauncher. The role is the command
# (deploy/compose.yaml, deploy/helm/values.yaml). No secret is baked in: every credential comes
# from the environment at run time.
#
#   docker build -t haier-pipeline .
#   docker build --build-arg BASE_IMAGE=localhost/debian-py:bookworm -t haier-pipeline .
#
# BASE_IMAGE needs python3 (3.11+) with its venv module. Behind a TLS-inspecting proxy, give pip
# the proxy's CA bundle as a build secret (docker build / buildah bud
# --secret id=pip-ca,src=/etc/ssl/certs/ca-certificates.crt): it is read during the install
# step and leaves no trace in the image.
ARG BASE_IMAGE=python:3.12-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/haier/bin:$PATH

COPY pyproject.toml README.md /tmp/src/
COPY haier_pipeline /tmp/src/haier_pipeline
# Not editable: the package lives in the virtualenv's site-packages, so relative path settings
# resolve against HAIER_DATA_DIR below, never against a checkout.
RUN --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3 -m venv /opt/haier \
    && /opt/haier/bin/pip install --quiet "/tmp/src[postgres,kubernetes]" \
    && rm -rf /tmp/src \
    && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin haier \
    && mkdir -p /data /opt/dagster/dagster_home \
    && chown haier:haier /data /opt/dagster/dagster_home

COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/dagster_home/

# Every relative path setting (HAIER_DUCKDB_PATH, HAIER_ORDER_INBOX, HAIER_CALLBACK_SPOOL,
# HAIER_ACCOUNTS_FILE, HAIER_BUDGET_DIR) resolves against /data, the one shared volume, in every
# role: code server, run workers and pods, sensors and the callback receiver.
ENV HAIER_DATA_DIR=/data \
    HAIER_DUCKDB_PATH=haier.duckdb \
    HAIER_ORDER_INBOX=orders/inbox \
    HAIER_CALLBACK_SPOOL=callbacks \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DAGSTER_PG_PORT=5432 \
    DAGSTER_CODE_SERVER_HOST=code-server \
    DAGSTER_CODE_SERVER_PORT=4000

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 4000: gRPC code server; 3000: webserver; 8766: callback receiver.
EXPOSE 4000 3000 8766
CMD ["dagster", "code-server", "start", "-m", "haier_pipeline", "-h", "0.0.0.0", "-p", "4000", "--location-name", "haier_pipeline"]
