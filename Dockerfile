# syntax=docker/dockerfile:1
# itsm-bridge container image: multi-stage, distroless final stage, non-root (uid 65532).
#
#   docker build -t itsm-bridge:dev .
#   docker run --rm -p 8080:8080 itsm-bridge:dev serve --sandbox    # whole loop on simulators
#
# Not built in the project's CI machine (no container engine there): see docs/kubernetes.md.

# --- build: the release binary, with the locked dependency versions ---------------------------
FROM rust:1.95-slim-bookworm AS build
# aws-lc-sys (rustls' crypto) builds C with cmake; SQLite is compiled in (libsqlite3-sys bundled).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# BuildKit cache mounts keep the registry and target/ between builds; the binary is copied out
# of the cached target/ in the same step because the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin itsm-bridge \
    && install -D -m 0755 target/release/itsm-bridge /out/usr/local/bin/itsm-bridge
# Default mappings and schemas next to the binary; the Helm chart uses
# /usr/share/itsm-bridge/mappings when no mappings are given. The working directory holds a
# link to them so that the embedded default config (./mappings, ./data) works in `docker run`.
RUN mkdir -p /out/usr/share/itsm-bridge /out/var/lib/itsm-bridge/data /out/etc/itsm-bridge \
    && cp -r mappings /out/usr/share/itsm-bridge/mappings \
    && cp -r schemas /out/usr/share/itsm-bridge/schemas \
    && ln -s /usr/share/itsm-bridge/mappings /out/var/lib/itsm-bridge/mappings

# --- final: glibc, CA certificates, tzdata; no shell, no package manager ------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
# Program and defaults owned by root (read-only to the gateway); only its data folder is its own.
COPY --from=build /out/usr/ /usr/
COPY --from=build /out/etc/itsm-bridge/ /etc/itsm-bridge/
COPY --from=build --chown=65532:65532 /out/var/lib/itsm-bridge/ /var/lib/itsm-bridge/
WORKDIR /var/lib/itsm-bridge
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/itsm-bridge"]
# Without --config: the embedded default (tenant `demo`, sandbox secrets). The Helm chart
# always passes `serve --config /etc/itsm-bridge/config.yaml`.
CMD ["serve"]
