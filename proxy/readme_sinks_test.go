package proxy

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"ringrelay/sinks/cassandra"
	"ringrelay/sinks/file"
	"ringrelay/sinks/mysql"
)

// readmeSection is the README's text from heading to the next "## ".
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	doc = doc[i+len(heading)+2:]
	if j := strings.Index(doc, "\n## "); j >= 0 {
		doc = doc[:j]
	}
	return doc
}

// tomlBlocks are the ```toml blocks of text.
func tomlBlocks(text string) []string {
	var out []string
	for {
		i := strings.Index(text, "```toml\n")
		if i < 0 {
			return out
		}
		text = text[i+8:]
		j := strings.Index(text, "```")
		out = append(out, text[:j])
		text = text[j+3:]
	}
}

// TestREADMESinksShowTheDefaults: each kind's block in the Sinks section
// loads and shows that kind's defaults (its required keys and examples
// aside), and the Configuration block's [sinks.store] shows the common
// ones.
func TestREADMESinksShowTheDefaults(t *testing.T) {
	blocks := tomlBlocks(readmeSection(t, "## Sinks"))
	if len(blocks) != 3 {
		t.Fatalf("the Sinks section has %d toml blocks, want 3 (file, mysql, cassandra)", len(blocks))
	}
	seen := map[string]bool{}
	for _, b := range blocks {
		cfg, err := LoadConfig([]byte(b + "\n[pools.p]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("README sink block does not load: %v\n%s", err, b)
		}
		for name, s := range cfg.Sinks {
			seen[s.Kind] = true
			switch s.Kind {
			case "file":
				got := s.FileConfig
				got.Dir = ""
				if want := file.DefaultConfig(); !reflect.DeepEqual(got, want) {
					t.Errorf("README [sinks.%s] (file) differs from the defaults:\n got %+v\nwant %+v", name, got, want)
				}
			case "mysql":
				got := s.MySQLConfig
				got.DSN = ""
				if want := mysql.DefaultConfig(); !reflect.DeepEqual(got, want) {
					t.Errorf("README [sinks.%s] (mysql) differs from the defaults:\n got %+v\nwant %+v", name, got, want)
				}
			case "cassandra":
				got := s.CassandraConfig
				got.Hosts = nil
				if want := cassandra.DefaultConfig(); !reflect.DeepEqual(got, want) {
					t.Errorf("README [sinks.%s] (cassandra) differs from the defaults:\n got %+v\nwant %+v", name, got, want)
				}
			}
			s.sinkKindConfigs = sinkKindDefaults()
			if want := sinkDefaults(); !reflect.DeepEqual(s, withKind(want, s.Kind)) {
				t.Errorf("README [sinks.%s] sets common keys away from their defaults: %+v", name, s)
			}
		}
	}
	for _, k := range []string{"file", "mysql", "cassandra"} {
		if !seen[k] {
			t.Errorf("the Sinks section shows no %s block", k)
		}
	}
	cfg, err := LoadConfig([]byte(readmeConfigBlock(t)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Sinks["store"], sinkDefaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("README [sinks.store] differs from the defaults:\n got %+v\nwant %+v", got, want)
	}
}

func withKind(s SinkConfig, kind string) SinkConfig {
	s.Kind = kind
	return s
}

// TestREADMEAggregateOnlyExampleLoads: the Graphite read API section's
// relay without pools is a config the relay takes.
func TestREADMEAggregateOnlyExampleLoads(t *testing.T) {
	blocks := tomlBlocks(readmeSection(t, "## Graphite read API"))
	if len(blocks) != 1 {
		t.Fatalf("%d toml blocks, want 1", len(blocks))
	}
	cfg, err := LoadConfig([]byte(blocks[0]))
	if err != nil {
		t.Fatalf("README example does not load: %v", err)
	}
	if len(cfg.Pools) != 0 || cfg.GraphiteAPI.Sink != "store" {
		t.Errorf("README example: pools %v, graphiteapi %+v", cfg.Pools, cfg.GraphiteAPI)
	}
}
