#!/usr/bin/env bash
# Builds the staff admin's front-end files into mailer/web/static/vendor/ (run by `make assets`).
#
# Node and npm are needed here only: the output is committed, so `make run` and
# `make test` never need them (issue 12: no CDN, no Node at run time).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../mailer/web/static/vendor"
cd "$here"

# `npm ci` installs exactly what package-lock.json names, so a build is repeatable.
npm ci --no-audit --no-fund --loglevel=error
mkdir -p "$vendor"

./node_modules/.bin/esbuild editor.js \
  --bundle --minify --format=iife --global-name=mailerEditor --target=es2020 \
  --legal-comments=none --log-level=warning \
  --banner:js="/* mailerEditor: CodeMirror 6 for the mailer admin. Built by assets/build.sh; versions in VERSIONS.json, licences in LICENSES.txt. */" \
  --metafile="$here/node_modules/.metafile.json" \
  --outfile="$vendor/codemirror.js"

cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"

# The versions, licences and bundle summary come from what esbuild actually put in.
node collect.mjs "$here/node_modules/.metafile.json" "$vendor"
ls -l "$vendor"
