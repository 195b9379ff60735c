#!/usr/bin/env bash
# Installs the tools that render and verify deploy/kubernetes into a cache OUTSIDE the repository
# and prints one line per tool, `name=path`. Idempotent: a second run only prints the paths.
#
#   kustomize       sigs.k8s.io/kustomize/kustomize/v5 at $KUSTOMIZE_VERSION, `go install`ed from
#                   the Go module proxy
#   kube-apiserver  the real upstream API server, built from the Go module in tools/apiserver
#                   (k8s.io/kubernetes at the release pinned there); several minutes on 2 cores the
#                   first time, then cached under a key of go.mod + go.sum + main.go
#   promtool        Prometheus' promtool WITH Kubernetes service discovery (Debian's has none),
#                   built from the Go module in tools/promtool, cached like kube-apiserver
#   etcd            Debian's etcd-server package (apt), the API server's storage for the dry run
#   prometheus-operator-crds
#                   the CRDs of the optional addon (PodMonitor, PrometheusRule): the Go module
#                   github.com/prometheus-operator/prometheus-operator at $PROMETHEUS_OPERATOR_VERSION
#                   (module cache), directory example/prometheus-operator-crd
#   checkov         the policy scanner (PyPI), in its own virtual environment pinned by
#                   tools/requirements-checkov.txt (its pins conflict with requirements-dev.txt)
#
# Usage: install-tools.sh [kustomize|kube-apiserver|promtool|etcd|checkov|prometheus-operator-crds ...]
#        (default: all but the CRDs, which the test fetches itself)
# Environment: IOT_K8S_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/iot-pipeline/k8s).
set -euo pipefail

KUSTOMIZE_VERSION="v5.7.1"
PROMETHEUS_OPERATOR_VERSION="v0.85.0"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${IOT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iot-pipeline/k8s}"

say() { echo "[k8s-tools] $*" >&2; }

# The machine's Go toolchain, also when /usr/local/go/bin is not on PATH.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
    PATH="$PATH:/usr/local/go/bin"
fi

need_go() {
    if ! command -v go >/dev/null; then
        say "Go is needed to build $1 (the machine's Go toolchain; none found on PATH)"
        exit 1
    fi
}

install_kustomize() {
    local dir="$CACHE/kustomize-$KUSTOMIZE_VERSION"
    if [[ ! -x "$dir/kustomize" ]]; then
        need_go kustomize
        say "building kustomize $KUSTOMIZE_VERSION from the Go module proxy"
        mkdir -p "$dir"
        GOBIN="$dir" CGO_ENABLED=0 GOFLAGS=-trimpath \
            go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
    fi
    echo "kustomize=$dir/kustomize"
}

install_apiserver() {
    local src="$HERE/apiserver" k8s_version key bin
    k8s_version="$(grep -E '^\s*(require\s+)?k8s.io/kubernetes v' "$src/go.mod" | awk '{print $NF}')"
    key="$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -c1-12)"
    bin="$CACHE/kube-apiserver-$k8s_version-$key"
    if [[ ! -x "$bin" ]]; then
        need_go kube-apiserver
        say "building kube-apiserver $k8s_version from the Go module proxy (several minutes, once)"
        mkdir -p "$CACHE"
        local pkg=k8s.io/component-base/version
        local ldflags="-s -w -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1"
        ldflags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$k8s_version") -X $pkg.gitTreeState=clean"
        local start=$SECONDS
        (cd "$src" && CGO_ENABLED=0 nice go build -trimpath -ldflags "$ldflags" -o "$bin.tmp" .) >&2
        mv "$bin.tmp" "$bin"
        say "built kube-apiserver in $((SECONDS - start)) s: $bin"
    fi
    echo "kube-apiserver=$bin"
}

install_promtool() {
    local src="$HERE/promtool" key bin
    key="$(cat "$src/go.mod" "$src/go.sum" | sha256sum | cut -c1-12)"
    bin="$CACHE/promtool-$key"
    if [[ ! -x "$bin" ]]; then
        need_go promtool
        say "building promtool from the Go module proxy (a few minutes, once)"
        mkdir -p "$CACHE"
        local start=$SECONDS
        (cd "$src" && CGO_ENABLED=0 nice go build -trimpath -ldflags "-s -w" -o "$bin.tmp" \
            github.com/prometheus/prometheus/cmd/promtool) >&2
        mv "$bin.tmp" "$bin"
        say "built promtool in $((SECONDS - start)) s: $bin"
    fi
    echo "promtool=$bin"
}

install_etcd() {
    if ! command -v etcd >/dev/null; then
        say "installing Debian's etcd-server package"
        if [[ $(id -u) -ne 0 ]]; then
            say "not root: install etcd-server yourself (apt-get install etcd-server)"
            exit 1
        fi
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >&2
    fi
    echo "etcd=$(command -v etcd)"
}

install_checkov() {
    local key venv
    key="$(sha256sum "$HERE/requirements-checkov.txt" | cut -c1-12)"
    venv="$CACHE/checkov-$key"
    # .complete is written last: an interrupted install is redone, never half used.
    if [[ ! -f "$venv/.complete" ]]; then
        say "installing checkov into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
            -r "$HERE/requirements-checkov.txt" >&2
        touch "$venv/.complete"
    fi
    echo "checkov=$venv/bin/checkov"
}

install_operator_crds() {
    need_go prometheus-operator-crds
    local dir
    mkdir -p "$CACHE"
    dir="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json \
        "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    if [[ ! -d "$dir/example/prometheus-operator-crd" ]]; then
        say "the prometheus-operator module has no example/prometheus-operator-crd"
        exit 1
    fi
    echo "prometheus-operator-crds=$dir/example/prometheus-operator-crd"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(kustomize kube-apiserver promtool etcd checkov)
for tool in "${tools[@]}"; do
    case "$tool" in
        kustomize) install_kustomize ;;
        kube-apiserver) install_apiserver ;;
        promtool) install_promtool ;;
        etcd) install_etcd ;;
        checkov) install_checkov ;;
        prometheus-operator-crds) install_operator_crds ;;
        *) say "unknown tool: $tool"; exit 2 ;;
    esac
done
