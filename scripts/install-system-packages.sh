#!/usr/bin/env bash
# What the tests need from Debian: Prometheus (and promtool) to scrape the services,
# Chromium for the page's browser tests (Playwright drives it; no browser download), and
# Node.js to run Grafana's query grammars (tests/node_tools) when it is not there yet.
set -euo pipefail
packages=(prometheus chromium)
command -v npm >/dev/null || packages+=(nodejs npm)
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
