package proxy

import (
	"reflect"
	"testing"

	"ringrelay/hashring"
)

// TestREADMEConfigLoads keeps the README's configuration reference honest:
// its TOML block must load.
func TestREADMEConfigLoads(t *testing.T) {
	cfg, err := LoadConfig([]byte(readmeConfigBlock(t)))
	if err != nil {
		t.Fatalf("README config does not load: %v", err)
	}
	if len(cfg.Listeners) == 0 || len(cfg.Rules) == 0 || len(cfg.Pools) == 0 || len(cfg.ZooKeeper.Servers) == 0 {
		t.Errorf("README config lost sections: %+v", cfg)
	}
}

// TestREADMEConfigShowsTheDefaults: the README's block claims every key
// shows its default; its pool, listener and aggregator sections equal the
// defaults once the example values (names, addresses, servers, rules) are
// set aside.
func TestREADMEConfigShowsTheDefaults(t *testing.T) {
	cfg, err := LoadConfig([]byte(readmeConfigBlock(t)))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools["carbon"]
	p.Servers = nil
	if p.Compat == hashring.DefaultCompat(p.Hasher) {
		p.Compat = "" // the README shows the compat an empty one stands for
	}
	want := poolDefaults()
	if !reflect.DeepEqual(p, want) {
		t.Errorf("README [pools.carbon] differs from the defaults:\n got %+v\nwant %+v", p, want)
	}
	l := cfg.Listeners[0]
	l.Name, l.Listen, l.Pool, l.Readers = "", "", "", 0
	wl := listenerDefaults()
	wl.Readers = 0 // README shows this machine-dependent default as an example
	if !reflect.DeepEqual(l, wl) {
		t.Errorf("README [[listeners]] differs from the defaults:\n got %+v\nwant %+v", l, wl)
	}
	a := cfg.Aggregators["statsd"]
	a.Output = nil
	if len(a.CalculatedTimerMetrics) == 0 {
		a.CalculatedTimerMetrics = nil // [] in the README
	}
	if len(a.Histogram) == 0 {
		a.Histogram = nil
	}
	if wa := aggregatorDefaults(); !reflect.DeepEqual(a, wa) {
		t.Errorf("README [aggregators.statsd] differs from the defaults:\n got %+v\nwant %+v", a, wa)
	}
	if got, want := cfg.ShutdownTimeout, DefaultConfig().ShutdownTimeout; got != want {
		t.Errorf("README shutdown_timeout %v, default %v", got, want)
	}
	if cfg.MaxConnections != defaultMaxConnections || cfg.StateDir != "" {
		t.Errorf("README max_connections %d / state_dir %q, defaults %d / \"\"", cfg.MaxConnections, cfg.StateDir, defaultMaxConnections)
	}
}

// readmeConfigBlock is the first toml block of the README's Configuration
// section: the configuration reference.
func readmeConfigBlock(t *testing.T) string {
	t.Helper()
	blocks := tomlBlocks(readmeSection(t, "## Configuration"))
	if len(blocks) == 0 {
		t.Fatal("no toml block in the README's Configuration section")
	}
	return blocks[0]
}
