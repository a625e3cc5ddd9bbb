#!/usr/bin/env bash
# What the tests need from Debian: Prometheus (and promtool) to scrape the services.
set -euo pipefail
packages=(prometheus)
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
