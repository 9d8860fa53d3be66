# syntax=docker/dockerfile:1
#
# The topup-watchdog image: one static binary on distroless, run as a non-root
# user, its ledger in a volume.
#
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) -t topup-watchdog .
#
# cmd/topup-watchdog/artifacts_test.go holds this file to the program.

# The builder runs on the build machine and cross-compiles for the target.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src

# Modules first, in their own step: it is redone only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /out/topup-watchdog ./cmd/topup-watchdog \
    && mkdir -p /out/state

# CA roots, time zone data, /etc/passwd with nonroot (65532); no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="topup-watchdog" \
      org.opencontainers.image.description="Tops up a Vonage account before its credit runs out" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"

COPY --from=build /out/topup-watchdog /topup-watchdog
# The state folder belongs to the user that writes the ledger; a new named
# volume mounted on it starts with this owner.
COPY --from=build --chown=65532:65532 /out/state /var/lib/topup-watchdog
ENV TOPUP_STATE_FILE=/var/lib/topup-watchdog/state.json
VOLUME ["/var/lib/topup-watchdog"]

# Health and metrics: /healthz, /readyz, /metrics (TOPUP_LISTEN_ADDR).
EXPOSE 9090
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532

HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/topup-watchdog", "healthcheck"]
ENTRYPOINT ["/topup-watchdog"]
CMD ["run"]
