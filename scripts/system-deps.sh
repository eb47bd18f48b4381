#!/bin/sh
# Install the Debian packages the tests need (as root); elsewhere, list what is missing.
set -eu
need=""
command -v git >/dev/null 2>&1 || need="$need git"
if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
    else
        echo "missing:$need (install them, then run make test again)" >&2
        exit 1
    fi
fi
