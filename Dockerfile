# syntax=docker/dockerfile:1
# itsm-bridge container image: multi-stage, distroless final stage, non-root (uid 65532).
#
#   docker build -t itsm-bridge:dev .
#   docker run --rm -p 8080:8080 itsm-bridge:dev serve --sandbox    # whole loop on simulators
#
# Not built in the project's CI machine (no container engine there): see docs/kubernetes.md.
#
# Base images are pinned by digest (a tag moves; a digest is the exact bytes reviewed), with the
# tag kept for readers. The digests are those the tags pointed to when pinned, as used in
# public Dockerfiles pinning the same tags; this machine cannot pull images to re-check them.
# To bump: `docker buildx imagetools inspect rust:1.95-slim-bookworm` (and the distroless
# tag), take the index digest, and build. `tests/it/image.rs` fails on a FROM without one.
#
# The binary is stripped; its debug info is split off into the `debuginfo` stage, with a
# .gnu_debuglink to it, for symbolising a core dump or a profile of the shipped binary:
#   docker build --target debuginfo --output type=local,dest=./debug .


# --- build: the release binary, with the locked dependency versions ---------------------------
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
# aws-lc-sys (rustls' crypto) builds C with cmake; SQLite is compiled in (libsqlite3-sys bundled).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `itsm-bridge --version` and `itsm_bridge_build_info{revision}`: the build context usually has
# no `.git`, so the revision comes in as the same build argument the labels use.
ARG REVISION=unknown
ENV ITSM_BRIDGE_GIT_REVISION=${REVISION}
# BuildKit cache mounts keep the registry and target/ between builds; the binary is copied out
# of the cached target/ in the same step because the mount is gone afterwards.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin itsm-bridge \
    && install -D -m 0755 target/release/itsm-bridge /out/usr/local/bin/itsm-bridge
# Debug info (the release profile keeps line tables) goes to its own file; the shipped binary
# keeps only a link to it.
RUN mkdir -p /debug \
    && objcopy --only-keep-debug /out/usr/local/bin/itsm-bridge /debug/itsm-bridge.debug \
    && objcopy --strip-debug --strip-unneeded \
        --add-gnu-debuglink=/debug/itsm-bridge.debug /out/usr/local/bin/itsm-bridge
# Default mappings and schemas next to the binary; the Helm chart uses
# /usr/share/itsm-bridge/mappings when no mappings are given. The working directory holds a
# link to them so that the embedded default config (./mappings, ./data) works in `docker run`.
RUN mkdir -p /out/usr/share/itsm-bridge /out/var/lib/itsm-bridge/data /out/etc/itsm-bridge \
    && cp -r mappings /out/usr/share/itsm-bridge/mappings \
    && cp -r schemas /out/usr/share/itsm-bridge/schemas \
    && ln -s /usr/share/itsm-bridge/mappings /out/var/lib/itsm-bridge/mappings

# --- debuginfo: only the split-off debug file (`--target debuginfo`) ----------------------------
FROM scratch AS debuginfo
COPY --from=build /debug/ /

# --- final: glibc, CA certificates, tzdata; no shell, no package manager ------------------------
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="itsm-bridge" \
      org.opencontainers.image.description="Gateway between customers' ITSMs (ServiceNow, Jira) and Orange Business incident, trouble-ticket, inventory and ordering APIs" \
      org.opencontainers.image.source="https://github.com/orange-business/itsm-bridge" \
      org.opencontainers.image.url="https://github.com/orange-business/itsm-bridge" \
      org.opencontainers.image.documentation="https://github.com/orange-business/itsm-bridge/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="itsm-bridge maintainers" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
# Program and defaults owned by root (read-only to the gateway); only its data folder is its own.
COPY --from=build /out/usr/ /usr/
COPY --from=build /out/etc/itsm-bridge/ /etc/itsm-bridge/
COPY --from=build --chown=65532:65532 /out/var/lib/itsm-bridge/ /var/lib/itsm-bridge/
WORKDIR /var/lib/itsm-bridge
USER 65532:65532
EXPOSE 8080
# No shell in the image: the binary asks its own /readyz (exit 0 ready, 1 not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/itsm-bridge", "healthcheck", "--timeout-secs", "4"]
ENTRYPOINT ["/usr/local/bin/itsm-bridge"]
# Without --config: the embedded default (tenant `demo`, sandbox secrets). The Helm chart
# always passes `serve --config /etc/itsm-bridge/config.yaml`.
CMD ["serve"]
