package main

import (
	"fmt"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"ringrelay/hashring"
	"ringrelay/internal/buildinfo"
	"ringrelay/proxy"
)

// machineKeys are the keys whose default is computed on the machine the
// relay runs on, and from what. -print-default-config shows them
// commented out, with this machine's value, so that a file made from its
// output does not pin them.
var machineKeys = map[string]string{
	"max_queue_bytes": "a quarter of the memory the process may use (cgroup memory.max, else MemTotal)",
	"readers":         "the number of CPUs, at most 4 (udp listeners)",
}

// defaultConfigText is -print-default-config's output: the embedded
// default config as the relay applies it. Every key shows the value it
// takes, not a zero that stands for a default; machine-dependent keys and
// keys of other hashers are commented out, saying why.
func defaultConfigText() (string, error) {
	cfg, err := effectiveDefaults()
	if err != nil {
		return "", err
	}
	b, err := toml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("failed to encode the default config: %w", err)
	}
	header := fmt.Sprintf("# relay %s: the default config, as applied (relay -print-default-config)\n\n", buildinfo.Read())
	return header + annotateDefaults(string(b)), nil
}

// effectiveDefaults is proxy.DefaultConfig with the defaults the relay
// fills in at load (listener limits, max_connections, max_queue_bytes) and
// those the ring fills in (the hasher's compat, jump_partition's
// partitions) made explicit.
func effectiveDefaults() (proxy.Config, error) {
	b, err := toml.Marshal(proxy.DefaultConfig())
	if err != nil {
		return proxy.Config{}, fmt.Errorf("failed to encode the default config: %w", err)
	}
	cfg, err := proxy.LoadConfig(b)
	if err != nil {
		return proxy.Config{}, fmt.Errorf("failed to load the default config: %w", err)
	}
	for name, p := range cfg.Pools {
		if p.Compat == "" {
			p.Compat = hashring.DefaultCompat(p.Hasher)
		}
		if p.Hasher == hashring.JumpPartition && p.Partitions == 0 {
			p.Partitions = hashring.DefaultPartitions
		}
		cfg.Pools[name] = p
	}
	return cfg, nil
}

// annotateDefaults comments out, in TOML text, the machineKeys and a
// partitions key of a hasher that has none.
func annotateDefaults(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		key, _, ok := strings.Cut(l, " = ")
		if !ok {
			continue
		}
		if why, ok := machineKeys[key]; ok {
			lines[i] = fmt.Sprintf("# %s    # this machine's; the default is %s", l, why)
		}
		if l == "partitions = 0" {
			lines[i] = fmt.Sprintf("# partitions = %d    # hasher %s only", hashring.DefaultPartitions, hashring.JumpPartition)
		}
	}
	return strings.Join(lines, "\n")
}
