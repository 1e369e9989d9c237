# syntax=docker/dockerfile:1
# Natter in one image: the web app built by Trunk, the server built in release mode, and a
# slim runtime with nothing else (libpq for Postgres). `docker compose up`
# (docker-compose.yml) runs it: one node on SQLite, or with `--profile scale` two nodes on
# Postgres and Redis behind nginx.

FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-unknown-unknown \
 && cargo install trunk --version 0.21.14 --locked \
 && cargo install wasm-bindgen-cli --version 0.2.130
# Debian's binaryen breaks the wasm; npm's 132 is the one Trunk.toml pins.
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm libpq-dev \
 && npm install --global binaryen@132.0.0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo fetch --locked \
 && trunk build --release \
 && cargo build --release --locked --bin natter

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /data natter \
 && install -d -o natter /uploads
COPY --from=build /src/target/release/natter /usr/local/bin/natter
COPY --from=build /src/frontend/dist /srv/natter/web
ENV NATTER_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/natter.db \
    NATTER_STATIC_DIR=/srv/natter/web \
    RUST_LOG=info
VOLUME /data
USER natter
EXPOSE 8080
ENTRYPOINT ["natter"]
CMD ["serve"]
