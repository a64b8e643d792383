# PostgreSQL 15 from Debian's packages, for a machine that cannot pull the official postgres:15 image
# (`make compose-build` builds it on the local base image then; POSTGRES_IMAGE selects it in compose.yaml).
# It honours what compose.yaml uses of the official image: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, the
# SQL files in /docker-entrypoint-initdb.d (run once, on an empty data volume), and pg_isready.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN --mount=type=secret,id=ca-bundle \
    set -e; ca=/run/secrets/ca-bundle; \
    if [ -s "$ca" ]; then set -- -o "Acquire::https::CAInfo=$ca"; fi; \
    apt-get "$@" update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y -qq --no-install-recommends postgresql-15 >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d \
    && chown postgres:postgres /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/
USER postgres
ENTRYPOINT ["postgres-entrypoint.sh"]
CMD ["postgres", "-c", "listen_addresses=*"]
