#!/usr/bin/env bash
# Vendor uPlot (the campaign and distribution charts) from npm: its prebuilt IIFE bundle, its
# stylesheet and its licence, pinned by version and by the tarball's SHA-256. `make run` and
# `make test` never run this; commit what it writes. Needs npm and the npm registry.
set -euo pipefail
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "uplot@$VERSION" >/dev/null)
echo "$SHA256  $work/uplot-$VERSION.tgz" | sha256sum --check --quiet
tar xzf "$work/uplot-$VERSION.tgz" -C "$work"
out=web/ui/static/vendor/uplot
mkdir -p "$out"
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$work/package/LICENSE" "$out/"
echo "uPlot $VERSION vendored in $out"
