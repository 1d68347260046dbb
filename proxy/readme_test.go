package proxy

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEConfigLoads keeps the README's configuration reference honest:
// its TOML block must load.
func TestREADMEConfigLoads(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Configuration")
	if i < 0 {
		t.Fatal("README has no ## Configuration section")
	}
	doc = doc[i:]
	start := strings.Index(doc, "```toml\n")
	end := strings.Index(doc[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no toml block in the Configuration section")
	}
	block := doc[start+8 : start+8+end]
	cfg, err := LoadConfig([]byte(block))
	if err != nil {
		t.Fatalf("README config does not load: %v", err)
	}
	if len(cfg.Listeners) == 0 || len(cfg.Rules) == 0 || len(cfg.Pools) == 0 || len(cfg.ZooKeeper.Servers) == 0 {
		t.Errorf("README config lost sections: %+v", cfg)
	}
}
