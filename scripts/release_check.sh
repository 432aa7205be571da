#!/bin/sh
# release_check.sh: builds the release (scripts/release.sh) into a temporary folder,
# checks that it holds the six binaries and that SHA256SUMS matches them, then starts
# the linux/amd64 binary with no config file in an empty folder and asks /healthz.
# Too slow for `make test` (six cross-builds); run it with `make release-check`.
set -eu

cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

VERSION=${VERSION:-check} DIST="$work/dist" scripts/release.sh >/dev/null
cd "$work/dist"
n=0
for platform in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64.exe windows_arm64.exe; do
	f=$(ls memoryd_*_"$platform" 2>/dev/null || true)
	[ -n "$f" ] || { echo "release-check: no binary for $platform" >&2; exit 1; }
	n=$((n + 1))
done
sha256sum -c SHA256SUMS >/dev/null
[ "$(wc -l <SHA256SUMS)" -eq 6 ] || { echo "release-check: SHA256SUMS does not list six files" >&2; exit 1; }
echo "release-check: $n binaries, SHA256SUMS verified"

# No config file, no environment: built-in defaults, data in ./data of an empty folder.
mkdir "$work/run"
cd "$work/run"
env -i PATH=/usr/bin:/bin "$work"/dist/memoryd_*_linux_amd64 serve --listen 127.0.0.1:0 >out.log 2>err.log &
pid=$!
addr=""
for _ in $(seq 1 100); do
	addr=$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' out.log)
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { echo "release-check: linux/amd64 binary did not start" >&2; cat err.log >&2; exit 1; }
answer=$(curl -fsS "$addr/healthz")
case "$answer" in
*'"status":"ok"'*) echo "release-check: linux/amd64 binary, no config: $addr/healthz -> $answer" ;;
*) echo "release-check: /healthz answered $answer" >&2; exit 1 ;;
esac
