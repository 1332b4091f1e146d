#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet.
# A no-op (no apt-get, no sudo) when every package is already there or none is named.
set -euo pipefail

missing=()
for pkg in "$@"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "sysdeps: missing system packages: ${missing[*]}" >&2
    echo "sysdeps: apt-get not found; install them with your system's package manager." >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

echo "sysdeps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
