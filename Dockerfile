# giftdrop images, built from Debian 12's packages only (no other downloads).
#
#   target runtime (default): every giftdrop binary; compose picks the command
#   target haproxy:           Debian's HAProxy 2.6, as the local stack runs it
#   target monitoring:        Debian's Prometheus and exporters (deploy/prometheus)
#
# Nothing secret goes into an image: configuration arrives as environment
# variables at run time (.dockerignore keeps .env files out of the context).

# ---- build: compile with the same flags CI uses (warnings are errors) -------
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       cmake gcc make pkg-config libc6-dev librabbitmq-dev libevent-dev libhiredis-dev \
       libpq-dev libcjson-dev libssl-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGD_WERROR=ON \
    && cmake --build /build -j"$(nproc)" --target entry-api stock-consumer \
       notifier-consumer eventctl gd-fake-provider gd-loadgen

# ---- haproxy: the public entry point (config mounted at run time) -----------
FROM debian:bookworm-slim AS haproxy
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
USER haproxy
EXPOSE 8080 8404
CMD ["haproxy", "-W", "-db", "-f", "/etc/giftdrop/haproxy.cfg"]

# ---- monitoring: Debian's Prometheus and Redis/PostgreSQL exporters ---------
# One image, three services in compose (prometheus, redis-exporter,
# postgres-exporter); the configuration is deploy/prometheus, mounted.
FROM debian:bookworm-slim AS monitoring
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus prometheus-redis-exporter \
       prometheus-postgres-exporter curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
EXPOSE 9090 9121 9187
CMD ["prometheus", "--help"]

# ---- runtime: the services, unprivileged ------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       librabbitmq4 libevent-2.1-7 libevent-core-2.1-7 libevent-pthreads-2.1-7 \
       libevent-openssl-2.1-7 libhiredis0.14 libpq5 \
       libcjson1 libssl3 libcurl4 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin giftdrop
COPY --from=build /build/entry-api/entry-api /build/stock-consumer/stock-consumer \
     /build/notifier-consumer/notifier-consumer /build/eventctl/eventctl \
     /build/tests/fake-provider/gd-fake-provider /build/tests/loadgen/gd-loadgen \
     /usr/local/bin/
USER giftdrop
EXPOSE 8080
# Services stop gracefully on SIGTERM (DESIGN §8).
STOPSIGNAL SIGTERM
CMD ["entry-api", "--help"]
