# The `refresher` executable (worker, demo identity provider, operator tools) for docker-compose.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product refresher

FROM swift:6.3-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis0.14 libssl3 openssl redis-tools \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/.build/release/refresher /usr/local/bin/refresher
ENTRYPOINT ["refresher"]
