package proxy

import (
	"strings"
	"testing"
	"time"
)

func TestIssueConfigShapeLoads(t *testing.T) {
	cfg, err := LoadConfig([]byte(`
[admin]
listen = "127.0.0.1:6061"

[[listeners]]
name = "graphite"
listen = "tcp://127.0.0.1:2003"
format = "graphite"
pool = "carbon"

[[rules]]
listener = "graphite"
match = '^test\.'
reject = true

[pools.carbon]
hasher = "carbon_ch"
compat = "carbon-c-relay"
replication = 1
servers = ["127.0.2.1:2003=a", "tcp://127.0.2.2:2003"]
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Pools["carbon"]
	if p.Debounce.Duration != time.Second || p.DrainOnRemove.Duration != 5*time.Second {
		t.Errorf("pool defaults not applied: debounce %v, drain_on_remove %v", p.Debounce, p.DrainOnRemove)
	}
	if p.QueueBytes != 64<<20 {
		t.Errorf("queue_bytes default = %v, want 64MiB", p.QueueBytes)
	}
	if cfg.Listeners[0].MaxLine != 16<<10 {
		t.Errorf("max_line default = %v, want 16KiB", cfg.Listeners[0].MaxLine)
	}
}

func TestExplicitZeroKeepsItsMeaning(t *testing.T) {
	cfg, err := LoadConfig([]byte("[pools.a]\nservers = [\"127.0.0.1:1\"]\ndebounce = \"0s\"\nempty_hold = \"0s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pools["a"]; p.Debounce.Duration != 0 || p.EmptyHold.Duration != 0 || p.QueueBytes != 64<<20 {
		t.Errorf("debounce=%v empty_hold=%v queue_bytes=%v; want the explicit zeros kept and other defaults filled", p.Debounce, p.EmptyHold, p.QueueBytes)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("embedded defaults refused: %v", err)
	}
}

func TestBadConfigNamesKeyAndLine(t *testing.T) {
	base := "[[listeners]]\nname = \"in\"\nlisten = \"tcp://127.0.0.1:0\"\npool = \"carbon\"\n\n[pools.carbon]\nservers = [\"127.0.0.1:2003\"]\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown key", base + "hashr = \"carbon_ch\"\n", []string{"line 8", "pools.carbon.hashr"}},
		{"unknown hasher", strings.Replace(base, "[pools.carbon]\n", "[pools.carbon]\nhasher = \"nope\"\n", 1), []string{"line 7", "pools.carbon.hasher", "nope"}},
		{"bad server", strings.Replace(base, "127.0.0.1:2003", "127.0.0.1", 1), []string{"line 7", "pools.carbon.servers", "127.0.0.1"}},
		{"unknown pool", strings.Replace(base, "pool = \"carbon\"", "pool = \"carbn\"", 1), []string{"line 4", "listeners.0.pool", "carbn"}},
		{"bad listen", strings.Replace(base, "tcp://127.0.0.1:0", "sctp://x:1", 1), []string{"line 3", "listeners.0.listen", "sctp"}},
		{"udp readers out of range", strings.Replace(base, "pool = \"carbon\"\n", "pool = \"carbon\"\nreaders = 100\n", 1), []string{"line 5", "listeners.0.readers"}},
		{"queue below four batches", base + "queue_bytes = \"32KiB\"\nbatch_bytes = \"16KiB\"\n", []string{"line 8", "pools.carbon.queue_bytes", "64KiB"}},
		{"max_line above the limit", strings.Replace(base, "pool = \"carbon\"\n", "pool = \"carbon\"\nmax_line = \"2MiB\"\n", 1), []string{"line 5", "listeners.0.max_line", "1MiB"}},
		{"bad format", strings.Replace(base, "pool = \"carbon\"\n", "pool = \"carbon\"\nformat = \"json\"\n", 1), []string{"line 5", "listeners.0.format", "json"}},
		{"bad duration", base + "flush_interval = \"soon\"\n", []string{"line 8", "soon"}},
		{"replication above members", base + "replication = 3\n", []string{"line 8", "pools.carbon.replication"}},
		{"rule without action", base + "\n[[rules]]\nlistener = \"in\"\nmatch = \"x\"\n", []string{"rules.0.pool"}},
		{"rule bad regexp", base + "\n[[rules]]\nlistener = \"in\"\nmatch = \"(\"\nreject = true\n", []string{"line 11", "rules.0.match"}},
		{"serverset without zookeeper", base + "serverset = \"/discovery/x\"\n", []string{"line 8", "pools.carbon.serverset"}},
		{"bad instance_from", base + "serverset = \"/d/x\"\ninstance_from = \"host\"\n\n[zookeeper]\nservers = [\"127.0.0.1:2181\"]\n", []string{"line 9", "pools.carbon.instance_from"}},
		{"bad batch_bytes", base + "\nbatch_bytes = \"1\"\n", []string{"line 9", "pools.carbon.batch_bytes"}},
		{"admin listen without port", "[admin]\nlisten = \"127.0.0.1\"\n\n" + base, []string{"line 2", "admin.listen", "127.0.0.1"}},
		{"listen port out of range", strings.Replace(base, "tcp://127.0.0.1:0", "tcp://127.0.0.1:99999", 1), []string{"line 3", "listeners.0.listen", "99999"}},
	} {
		_, err := LoadConfig([]byte(tc.doc))
		if err == nil {
			t.Errorf("%s: config accepted:\n%s", tc.name, tc.doc)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", tc.name, err, w)
			}
		}
	}
}
