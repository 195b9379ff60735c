#!/usr/bin/env bash
# Build Telegraf with only the plugins `make bench BENCH=peers` needs, from the Go module proxy.
# Idempotent: the binary is cached outside the repository and rebuilt only when the version changes.
set -euo pipefail
VERSION="${TELEGRAF_VERSION:-v1.37.2}"
CACHE="${IOT_PIPELINE_CACHE:-$HOME/.cache/iot-pipeline}/telegraf/$VERSION"
BIN="$CACHE/bin/telegraf"
TAGS="custom,inputs.mqtt_consumer,outputs.kafka,inputs.kafka_consumer,outputs.postgresql,parsers.avro,parsers.json,serializers.json"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[ -x "$GO" ] || { echo "Go toolchain not found (set GO=/path/to/go)" >&2; exit 1; }
mkdir -p "$CACHE/bin" "$CACHE/gopath" "$CACHE/gocache"
echo "building Telegraf $VERSION (first time: a few minutes) into $CACHE" >&2
GOBIN="$CACHE/bin" GOPATH="$CACHE/gopath" GOCACHE="$CACHE/gocache" GOFLAGS=-modcacherw \
  "$GO" install -tags "$TAGS" "github.com/influxdata/telegraf/cmd/telegraf@$VERSION" >&2
echo "$BIN"
