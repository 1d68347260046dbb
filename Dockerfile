# syntax=docker/dockerfile:1
#
# ringrelay's commands in one small image:
#   docker build -t ringrelay:dev .
#   docker run --rm ringrelay:dev relay -version
#
# The binaries are static (CGO_ENABLED=0) and carry the VCS revision the
# go command stamps from .git (-buildvcs=true fails the build rather than
# ship a binary without it), so the build context must include .git: see
# .dockerignore. The runtime is Debian slim, not distroless, because
# serverset-register's exec: checks run under /bin/sh and the health checks
# of docker-compose.yml use bash (deploy/http-ok).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=true -ldflags='-s -w' -o /out/ \
        ./cmd/relay ./cmd/serverset-register ./cmd/serverset ./cmd/echoserver ./cmd/statblast \
 && /out/relay -version

FROM debian:bookworm-slim
# A fixed non-root uid/gid, so that volumes and runAsNonRoot policies can
# name it; /var/lib/ringrelay is state_dir (a volume in docker-compose.yml
# starts with this ownership).
RUN groupadd --system --gid 10001 ringrelay \
 && useradd --system --uid 10001 --gid ringrelay --home-dir /var/lib/ringrelay --no-create-home --shell /usr/sbin/nologin ringrelay \
 && install -d -o ringrelay -g ringrelay -m 0750 /var/lib/ringrelay \
 && install -d -m 0755 /etc/ringrelay
COPY --from=build /out/ /usr/local/bin/
COPY deploy/http-ok /usr/local/bin/http-ok
USER 10001:10001
WORKDIR /var/lib/ringrelay
# graphite, statsd, admin API, Graphite read API
EXPOSE 2003/tcp 2003/udp 8125/udp 6061/tcp 8080/tcp
# SIGTERM drains the relay's queues for shutdown_timeout (10 s by default):
# give it longer than that before SIGKILL (docker stop -t, stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["relay", "-config", "/etc/ringrelay/relay.toml"]
