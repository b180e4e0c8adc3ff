#!/bin/sh
# Rebuilds the one vendored front-end file of the workbench: Motia's browser stream client as a single ES module.
# Needs Node + npm only when re-running this script; nothing of Node is used at run time.
#
#   sh motia_django/workbench/client_build/build.sh
#
# Installs the pinned packages of package.json/package-lock.json into a scratch directory (no node_modules is
# committed) and bundles @motiadev/stream-client-browser (with @motiadev/stream-client and uuid) with esbuild.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT="$HERE/../../static/motia_django/workbench/vendor/stream-client-browser.js"
WORK=${WB_BUILD_DIR:-$(mktemp -d)}
cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/"
cd "$WORK"
npm ci --no-audit --no-fund --loglevel=error
VERSION=$(node -p 'require("./node_modules/@motiadev/stream-client-browser/package.json").version')
BANNER="/* @motiadev/stream-client-browser@$VERSION (Elastic-2.0) with @motiadev/stream-client and uuid (MIT),
 * bundled as one ES module by motia_django/workbench/client_build/build.sh (esbuild, format=esm, not minified).
 * Do not edit: re-run the script. */"
printf 'export * from "@motiadev/stream-client-browser";\n' > entry.js
./node_modules/.bin/esbuild entry.js --bundle --format=esm --platform=browser --target=es2020 \
  --legal-comments=inline --banner:js="$BANNER" --outfile="$OUT"
echo "wrote $OUT"
