# The one dnma binary, for the distributed deployment of docker-compose.yml.
# librdkafka is built from the rdkafka crate's bundled sources (needs a C toolchain and make).
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin dnma

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/dnma /usr/local/bin/dnma
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/dnma"]
