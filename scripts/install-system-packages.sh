#!/usr/bin/env bash
# What the tests need from Debian: Prometheus (and promtool) to scrape the services and to check
# and unit-test the SLO rules, Alertmanager to deliver their alerts end to end (make test-e2e),
# Chromium's headless shell for the page's browser tests (Playwright drives it; no browser download),
# PostgreSQL for the die service's database tests (each run starts a throw-away cluster of
# its own; Debian's own cluster is never started) and its exporter for the dashboard's
# PostgreSQL panels (started by the test; the package's own service is never started), and Node.js to run Grafana's query
# grammars (tests/node_tools) when it is not there yet.
set -euo pipefail
packages=(prometheus prometheus-alertmanager chromium-headless-shell postgresql prometheus-postgres-exporter)
command -v npm >/dev/null || packages+=(nodejs npm)
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
