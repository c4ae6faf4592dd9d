#!/usr/bin/env bash
# Install Caddy 2 (the compose stack's load balancer) so tests/test_load_balancer.py can run
# deploy/Caddyfile for real. Debian/Ubuntu: the distribution's package. Elsewhere: say so and go
# on (those tests then skip, saying why). Idempotent: does nothing if caddy is on PATH.
set -euo pipefail

if command -v caddy >/dev/null 2>&1; then
    echo "caddy already installed: $(caddy version 2>/dev/null || echo caddy)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "caddy not installed and no apt-get here: install Caddy 2 to run tests/test_load_balancer.py" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends caddy
caddy version
