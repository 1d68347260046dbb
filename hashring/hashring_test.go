package hashring

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestHashersAndCompats(t *testing.T) {
	want := []string{CarbonCH, FNV1aCH, JumpFNV1aCH, JumpPartition, MMH3CH, Murmur3Shard, Statsd}
	slices.Sort(want)
	if got := Hashers(); !slices.Equal(got, want) {
		t.Errorf("Hashers() = %v, want %v", got, want)
	}
	for hasher, compat := range map[string]string{
		CarbonCH: CompatCarbonCRelay, FNV1aCH: CompatCarbonCRelay, JumpFNV1aCH: CompatCarbonCRelay,
		MMH3CH: CompatCarbon, Statsd: CompatStatsd, Murmur3Shard: CompatStatsrelay, JumpPartition: CompatLibring,
		"nope": "",
	} {
		if got := DefaultCompat(hasher); got != compat {
			t.Errorf("DefaultCompat(%q) = %q, want %q", hasher, got, compat)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	off := false
	tests := []struct {
		name    string
		cfg     Config
		n       int
		wantErr string // substring; "" means valid
	}{
		{"default carbon_ch", Config{Hasher: CarbonCH}, 3, ""},
		{"replication 0 means 1", Config{Hasher: CarbonCH, Replication: 0}, 1, ""},
		{"unknown hasher", Config{Hasher: "ketama"}, 3, `hasher "ketama": unknown hasher`},
		{"unknown compat", Config{Hasher: CarbonCH, Compat: "carbon-relay-ng"}, 3, `compat "carbon-relay-ng"`},
		{"jump has no carbon compat", Config{Hasher: JumpFNV1aCH, Compat: CompatCarbon}, 3, "supports [carbon-c-relay]"},
		{"mmh3 has no c-relay compat", Config{Hasher: MMH3CH, Compat: CompatCarbonCRelay}, 3, "supports [carbon]"},
		{"negative replication", Config{Hasher: CarbonCH, Replication: -1}, 3, "at least 1"},
		{"replication above members", Config{Hasher: CarbonCH, Replication: 3}, 2, "more than the 2 member(s)"},
		{"replication above members, clamped", Config{Hasher: CarbonCH, Replication: 3, Clamp: true}, 2, ""},
		{"c-relay replication limit", Config{Hasher: FNV1aCH, Replication: 256}, 300, "at most 255"},
		{"carbon replication has no such limit", Config{Hasher: CarbonCH, Compat: CompatCarbon, Replication: 256}, 300, ""},
		{"statsd has no replication", Config{Hasher: Statsd, Replication: 2}, 3, "has no replication"},
		{"statsrelay has no replication", Config{Hasher: Murmur3Shard, Replication: 2}, 3, "has no replication"},
		{"diverse only for carbon", Config{Hasher: CarbonCH, DiverseReplicas: &off}, 3, "diverse_replicas"},
		{"diverse for carbon", Config{Hasher: MMH3CH, DiverseReplicas: &off}, 3, ""},
		{"partitions only for jump_partition", Config{Hasher: CarbonCH, Partitions: 10}, 3, "partitions 10"},
		{"negative partitions", Config{Hasher: JumpPartition, Partitions: -1}, 3, "must be positive"},
		{"no members", Config{Hasher: CarbonCH}, 0, "no members"},
		{"member count unknown", Config{Hasher: CarbonCH, Replication: 5}, -1, ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate(tt.n)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: Validate(%+v, %d) = %v, want nil", tt.name, tt.cfg, tt.n, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: Validate(%+v, %d) = %v, want error containing %q", tt.name, tt.cfg, tt.n, err, tt.wantErr)
		}
	}
}

func TestNewRefusesWhatPeersRefuse(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		members []Member
		wantErr string
	}{
		{"carbon fnv1a_ch without instances", Config{Hasher: FNV1aCH, Compat: CompatCarbon},
			hostsMembers("10.0.0.1:2003=a", "10.0.0.2:2003"), "every member needs one"},
		{"carbon: same host and instance", Config{Hasher: CarbonCH, Compat: CompatCarbon},
			hostsMembers("10.0.0.1:2003", "10.0.0.1:2004"), "same identity"},
		{"statsd: same host:port", Config{Hasher: Statsd},
			hostsMembers("10.0.0.1:8125=a", "10.0.0.1:8125=b"), "same identity"},
		{"libring: same name", Config{Hasher: JumpPartition},
			hostsMembers("10.0.0.1:2003=a", "10.0.0.2:2003=a"), "same identity"},
		{"c-relay: same member twice", Config{Hasher: CarbonCH},
			hostsMembers("10.0.0.1:2003", "10.0.0.1:2003"), "same identity"},
		{"empty host", Config{Hasher: CarbonCH}, []Member{{Port: 2003}}, "empty host"},
		{"replication above members", Config{Hasher: JumpFNV1aCH, Replication: 3},
			hostsMembers("10.0.0.1", "10.0.0.2"), "more than the 2"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, tt.members)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: New = %v, want error containing %q", tt.name, err, tt.wantErr)
		}
	}
	// What the peers accept, we accept.
	for _, tt := range []struct {
		name    string
		cfg     Config
		members []Member
	}{
		{"c-relay: one host twice, no instance", Config{Hasher: CarbonCH}, hostsMembers("10.0.0.1:2003", "10.0.0.1:2004")},
		{"carbon: one host, two instances", Config{Hasher: CarbonCH, Compat: CompatCarbon}, hostsMembers("10.0.0.1:2003=a", "10.0.0.1:2004=b")},
		{"statsrelay: repeated shard", Config{Hasher: Murmur3Shard}, hostsMembers("10.0.0.1:9000", "10.0.0.1:9000")},
	} {
		if _, err := New(tt.cfg, tt.members); err != nil {
			t.Errorf("%s: New = %v, want a ring", tt.name, err)
		}
	}
}

func TestNewNoMembers(t *testing.T) {
	for _, h := range Hashers() {
		_, err := New(Config{Hasher: h}, nil)
		if !errors.Is(err, ErrNoMembers) {
			t.Errorf("New(%s, nil) = %v, want ErrNoMembers", h, err)
		}
	}
}

// A pool that shrank below its replication (members left ZooKeeper) builds

// with Clamp and keeps routing to all it has.

func TestClamp(t *testing.T) {
	members := hostsMembers("10.0.0.1", "10.0.0.2")
	for _, ac := range allConfigs() {
		cfg := ac.cfg
		if cfg.Hasher == Statsd || cfg.Hasher == Murmur3Shard {
			continue
		}
		cfg.Replication, cfg.Clamp = 3, true
		ms := members
		if ac.inst {
			ms = hostsMembers("10.0.0.1=a", "10.0.0.2=b")
		}
		r, err := New(cfg, ms)
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		if got := r.Lookup([]byte("a.b.c"), nil); len(got) != 2 {
			t.Errorf("%s/%s clamped: Lookup = %v, want both members", cfg.Hasher, cfg.Compat, got)
		}
	}
}
