#!/usr/bin/env bash
# Installs a real Docker Compose v2 binary (Debian trixie's `docker-compose` package) into a cache
# directory outside the repository and prints its path. Idempotent: a second run only prints the
# path. No Docker engine is needed: `docker-compose config` validates and renders the model.
#
# The trixie package is fetched with a PRIVATE apt configuration (its own sources list, package
# lists and archive cache under the cache directory): the machine's own apt sources, lists and
# installed packages are never touched, so nothing else can be upgraded from trixie. The .deb is
# unpacked with `dpkg -x`, not installed.
#
# Environment: IOT_COMPOSE_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/iot-pipeline/compose),
# IOT_COMPOSE_VERSION (the Debian version prefix to accept, default 2.26).
set -euo pipefail

VERSION_PREFIX="${IOT_COMPOSE_VERSION:-2.26}"
CACHE="${IOT_COMPOSE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iot-pipeline/compose}"
ROOT="$CACHE/root"
BIN="$ROOT/usr/libexec/docker/cli-plugins/docker-compose"

say() { echo "[install-compose] $*" >&2; }

installed_version() {
    "$BIN" version --short 2>/dev/null || true
}

if [[ -x "$BIN" && "$(installed_version)" == "$VERSION_PREFIX"* ]]; then
    echo "$BIN"
    exit 0
fi

# The Debian archive this machine already uses for bookworm (its own mirror), unless overridden.
MIRROR="${IOT_COMPOSE_DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI)' \
    'Codename: bookworm' 'Target-Of: deb' 'Identifier: Packages' 'Component: main' 2>/dev/null \
    | head -n 1)}"
if [[ -z "$MIRROR" ]]; then
    say "no Debian bookworm archive is configured in apt; set IOT_COMPOSE_DEBIAN_MIRROR"
    exit 1
fi

APT="$CACHE/apt"
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/preferences.d" "$CACHE/debs"
cat > "$APT/trixie.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

apt_opts=(
    -q
    "-oDir::Etc::sourcelist=$APT/trixie.sources"
    "-oDir::Etc::sourceparts=-"
    "-oDir::Etc::preferencesparts=$APT/etc/preferences.d"
    "-oDir::State::lists=$APT/lists"
    "-oDir::Cache=$APT"
    "-oDir::Cache::archives=$APT/archives"
    "-oAPT::Get::List-Cleanup=0"
    "-oAPT::Sandbox::User=root"
    "-oAcquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    "-oAcquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
    "-oAcquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
    "-oDebug::NoLocking=1"
)
say "fetching Debian trixie's package index from $MIRROR (private apt state in $APT)"
apt-get "${apt_opts[@]}" update >&2
candidate="$(apt-cache "${apt_opts[@]}" policy docker-compose | awk '/Candidate:/ {print $2}')"
if [[ -z "$candidate" || "$candidate" == "(none)" ]]; then
    say "Debian trixie offers no docker-compose package"
    exit 1
fi
if [[ "$candidate" != "$VERSION_PREFIX"* ]]; then
    say "trixie's docker-compose is $candidate, not $VERSION_PREFIX.*; set IOT_COMPOSE_VERSION to accept it"
    exit 1
fi
say "downloading docker-compose $candidate"
rm -f "$CACHE"/debs/docker-compose_*.deb
(cd "$CACHE/debs" && apt-get "${apt_opts[@]}" download "docker-compose=$candidate" >&2)
rm -rf "$ROOT"
dpkg -x "$CACHE"/debs/docker-compose_*.deb "$ROOT"
if [[ ! -x "$BIN" ]]; then
    say "the package did not contain $BIN; its files:"
    dpkg -c "$CACHE"/debs/docker-compose_*.deb >&2
    exit 1
fi
say "installed $("$BIN" version)"
echo "$BIN"
