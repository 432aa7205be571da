#!/bin/sh
# release.sh: static memoryd binaries for every supported platform, in dist/, with
# their SHA-256 sums. Run from anywhere inside the repository:
#
#   scripts/release.sh                # VERSION from git describe
#   VERSION=v1.2.3 scripts/release.sh # or stamped by hand
#
# CGO is off so each binary is self-contained: bbolt and everything else is pure Go,
# and a static binary runs on any distribution (and in a scratch image) unchanged.
set -eu

cd "$(dirname "$0")/.."

GO=${GO:-go}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"}

case "$VERSION" in
*/* | *' '*) echo "release: VERSION '$VERSION' cannot be part of a file name" >&2; exit 1 ;;
esac

# Start from an empty dist/ so SHA256SUMS never lists a binary of an older build.
rm -rf "$DIST"
mkdir -p "$DIST"

for platform in $PLATFORMS; do
	os=${platform%/*}
	arch=${platform#*/}
	name="memoryd_${VERSION}_${os}_${arch}"
	[ "$os" = windows ] && name="$name.exe"
	echo "release: $name"
	# -trimpath keeps the build machine's paths out of the binary, so two builds of
	# one commit are byte-identical.
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" \
		-o "$DIST/$name" .
done

# Sums are written from inside dist/ so `sha256sum -c SHA256SUMS` works there.
cd "$DIST"
if command -v sha256sum >/dev/null 2>&1; then
	sha256sum memoryd_* >SHA256SUMS
else
	shasum -a 256 memoryd_* >SHA256SUMS
fi
echo "release: $VERSION -> $DIST/ ($(wc -l <SHA256SUMS | tr -d ' ') binaries, SHA256SUMS)"
