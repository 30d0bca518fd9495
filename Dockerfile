# giftdrop services image: built on Debian 12 with Debian's packages only.
# One image holds every binary; compose picks the command per service.
FROM debian:bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      cmake gcc make pkg-config librabbitmq-dev libevent-dev libhiredis-dev libpq-dev \
      libcjson-dev libssl-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGD_WERROR=ON \
    && cmake --build /build -j"$(nproc)"

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      librabbitmq4 libevent-2.1-7 libevent-pthreads-2.1-7 libhiredis0.14 libpq5 libcjson1 \
      libssl3 libcurl4 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 giftdrop
COPY --from=build /build/entry-api/entry-api /build/stock-consumer/stock-consumer \
     /build/notifier-consumer/notifier-consumer /build/eventctl/eventctl \
     /build/tests/fake-provider/gd-fake-provider /build/tests/loadgen/gd-loadgen /usr/local/bin/
USER giftdrop
