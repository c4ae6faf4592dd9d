#!/usr/bin/env bash
# Refresh the npm files vendored for the Manage Updates page (updatedesk/web/static/vendor) and
# for its accessibility test (tests/browser/vendor). Versions and tarball integrities are pinned
# below: to upgrade, change a version, run this script once with its integrity emptied (it prints
# the new one), paste it in, run again, then run tests/browser.
# Needs npm and the npm registry; the page itself never needs either.
set -euo pipefail
cd "$(dirname "$0")/.."

LIT_HTML=3.3.3
LIT_HTML_INTEGRITY=sha512-el8M6jK2o3RXBnrSHX3ZKrsN8zEV63pSExTO1wYJz7QndGYZ8353e2a5PPX+qHe2aGayfnchQmkAojaWAREOIA==
GRAPHQL_WS=6.4.2
GRAPHQL_WS_INTEGRITY=sha512-wxhPhhOGJo8PbGDkBYVE76sZLDrS+GkyrR4bZECSLVbo0pZZNKs0HtBh2Ip/uaUuiVUxwO9ssI9R92buQfNSqQ==
AXE_CORE=4.14.1
AXE_CORE_INTEGRITY=sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==

WEB=updatedesk/web/static/vendor
TESTS=tests/browser/vendor
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch NAME VERSION INTEGRITY: unpack the registry tarball into $work/NAME after checking it.
fetch() {
  local name=$1 version=$2 integrity=$3 tarball got
  tarball="$(cd "$work" && npm pack --silent "$name@$version")"
  got="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "$name@$version: integrity $got, expected '$integrity'" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  tar -xzf "$work/$tarball" -C "$work/$name" --strip-components=1
}

fetch lit-html "$LIT_HTML" "$LIT_HTML_INTEGRITY"
fetch graphql-ws "$GRAPHQL_WS" "$GRAPHQL_WS_INTEGRITY"
fetch axe-core "$AXE_CORE" "$AXE_CORE_INTEGRITY"

rm -rf "$WEB" && mkdir -p "$WEB/graphql-ws"
cp "$work/lit-html/lit-html.js" "$WEB/lit-html.js"
cp "$work/lit-html/LICENSE" "$WEB/LICENSE.lit-html.txt"
# graphql-ws's browser ES module imports one shared chunk whose name carries a content hash.
cp "$work/graphql-ws/dist/client.js" "$WEB/graphql-ws/client.js"
chunk="$(grep -o "from './common-[A-Za-z0-9_-]*\.js'" "$work/graphql-ws/dist/client.js" | head -1 | cut -d"'" -f2)"
cp "$work/graphql-ws/dist/${chunk#./}" "$WEB/graphql-ws/${chunk#./}"
cp "$work/graphql-ws/LICENSE.md" "$WEB/LICENSE.graphql-ws.txt"

rm -rf "$TESTS" && mkdir -p "$TESTS"
cp "$work/axe-core/axe.min.js" "$TESTS/axe.min.js"
cp "$work/axe-core/LICENSE" "$TESTS/LICENSE.axe-core.txt"
cp "$work/axe-core/LICENSE-3RD-PARTY.txt" "$TESTS/LICENSE-3RD-PARTY.axe-core.txt"

checksums() { (cd "$1" && find . -name '*.js' | sort | sed 's|^\./||' | xargs sha256sum); }

cat > "$WEB/VERSIONS.txt" <<TXT
Vendored browser modules of the Manage Updates page (updatedesk.web), written by
scripts/vendor-web.sh from the npm registry tarballs, unmodified. Refresh with that script.

package     version  license       file in the npm tarball         vendored as
lit-html    $LIT_HTML    BSD-3-Clause  lit-html.js                     lit-html.js
graphql-ws  $GRAPHQL_WS    MIT           dist/client.js                  graphql-ws/client.js
                                   dist/${chunk#./}         graphql-ws/${chunk#./}

Both are standalone ES modules with relative imports only, so the page needs no import map
(no inline script) and no build step. License texts: LICENSE.lit-html.txt, LICENSE.graphql-ws.txt.

npm tarball integrity:
lit-html@$LIT_HTML    $LIT_HTML_INTEGRITY
graphql-ws@$GRAPHQL_WS  $GRAPHQL_WS_INTEGRITY

sha256 of the vendored files:
$(checksums "$WEB")
TXT

cat > "$TESTS/VERSIONS.txt" <<TXT
Vendored for the browser tests only (never served by the app), written by scripts/vendor-web.sh
from the npm registry tarball, unmodified.

package    version  license  file in the npm tarball  vendored as
axe-core   $AXE_CORE   MPL-2.0  axe.min.js               axe.min.js

License texts: LICENSE.axe-core.txt, LICENSE-3RD-PARTY.axe-core.txt (bundled dependencies).

npm tarball integrity:
axe-core@$AXE_CORE  $AXE_CORE_INTEGRITY

sha256 of the vendored files:
$(checksums "$TESTS")
TXT

echo "vendored: lit-html $LIT_HTML, graphql-ws $GRAPHQL_WS ($WEB); axe-core $AXE_CORE ($TESTS)"
