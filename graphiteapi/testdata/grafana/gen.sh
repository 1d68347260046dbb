#!/bin/sh
# Rewrites the *.json goldens here: graphite-web's answers to the calls
# Grafana's Graphite data source makes (grafanaCalls in grafana_test.go),
# with ringrelay's API over the fixed test data as its only cluster server.
# Made with Debian bookworm's graphite-web 1.1.8-2 (apt-get install -y
# graphite-web), run by ../graphiteweb/serve.py.
set -e
cd "$(dirname "$0")/../.."
go test -count=1 -run '^TestGrafanaGoldens$' -update-grafana-golden .
