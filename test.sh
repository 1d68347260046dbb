#!/usr/bin/env bash
# Installs what the tests need (Debian packages, as root) and runs every test.
#   ./test.sh            as root: apt-get install, then go test -race ./...
# ZooKeeper tests start Debian's ZooKeeper themselves on a free loopback port;
# with CI set they fail (never skip) when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# zookeeper: the server jars the tests start; python3-kazoo: the
	# Twitter-style serverset tool in ../shared/zk used by interop tests;
	# mariadb-server: the MySQL sink's tests start their own server;
	# chromium: the status page is checked in a headless browser;
	# graphite-web: a real graphite-web reads the Graphite API as a
	# cluster server (and made the expression goldens); docker-compose:
	# checks docker-compose.yml (config -q; no daemon is needed).
	apt-get install -y -qq --no-install-recommends zookeeper python3-kazoo mariadb-server chromium graphite-web docker-compose >/dev/null
else
	echo "test.sh: not root, skipping apt-get (ZooKeeper tests skip locally if it is missing)" >&2
fi
go test -race -count=1 -timeout 20m ./...
# Memory measurements build without -race (the race detector multiplies
# memory several times over): proxy/memory_test.go.
go test -count=1 -timeout 5m -run 'TestMemory' ./proxy/
