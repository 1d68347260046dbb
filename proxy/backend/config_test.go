package backend

import (
	"strings"
	"testing"
	"time"

	"ringrelay/config"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		name   string
		change func(*Config)
		key    string
	}{
		{"tiny batch", func(c *Config) { c.BatchBytes = 10 }, "batch_bytes"},
		{"queue below batch", func(c *Config) { c.QueueBytes = 1024 }, "queue_bytes"},
		{"negative flush", func(c *Config) { c.FlushInterval.Duration = -1 }, "flush_interval"},
		{"zero dial timeout", func(c *Config) { c.DialTimeout.Duration = 0 }, "dial_timeout"},
		{"zero write timeout", func(c *Config) { c.WriteTimeout.Duration = 0 }, "write_timeout"},
		{"zero reconnect_min", func(c *Config) { c.ReconnectMin.Duration = 0 }, "reconnect_min"},
		{"max below min", func(c *Config) { c.ReconnectMax.Duration = time.Millisecond }, "reconnect_max"},
		{"huge datagram", func(c *Config) { c.UDPMaxDatagram = 70000 }, "udp_max_datagram"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: Validate() = %v, want an error naming %q", tc.name, err, tc.key)
		}
	}
}

func TestConfigDecodesFromTOML(t *testing.T) {
	var c Config
	c = DefaultConfig()
	doc := `queue_bytes = "8MiB"
batch_bytes = "32KiB"
flush_interval = "5ms"
reconnect_max = "30s"
udp_max_datagram = 512
`
	if err := config.DecodeStrict([]byte(doc), &c); err != nil {
		t.Fatalf("DecodeStrict(%q) = %v", doc, err)
	}
	want := DefaultConfig()
	want.QueueBytes, want.BatchBytes, want.UDPMaxDatagram = 8<<20, 32<<10, 512
	want.FlushInterval.Duration, want.ReconnectMax.Duration = 5*time.Millisecond, 30*time.Second
	if c != want {
		t.Fatalf("decoded %+v, want %+v", c, want)
	}
	if err := config.DecodeStrict([]byte("queue_byte = 1\n"), &c); err == nil {
		t.Fatalf("DecodeStrict with a misspelt key = nil, want an error")
	}
}
