#!/bin/sh
# Installs this checkout as a systemd service: the program in /opt/garage-ts (with its pinned
# Node), `garage` in /usr/local/bin, and deploy/garage.service. Run as root. The configuration
# stays yours to write: /etc/garage.toml (see docs/deployment.md).
set -eu
prefix="${PREFIX:-/opt/garage-ts}"
src="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$prefix"
tar -C "$src" --exclude=./node_modules --exclude=./.git --exclude=./garage-data -cf - . | tar -C "$prefix" -xf -
(cd "$prefix" && npm ci --no-audit --no-fund)
ln -sf "$prefix/bin/garage" /usr/local/bin/garage
install -m 0644 "$src/deploy/garage.service" /etc/systemd/system/garage.service
systemctl daemon-reload
echo "Installed. Write /etc/garage.toml (metadata_dir = \"/var/lib/garage/meta\", data_dir = \"/var/lib/garage/data\"),"
echo "then: systemctl enable --now garage && journalctl -u garage -f"
