package graphiteapi

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	for _, tc := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Listen = "localhost"; c.Sink = "s" }, `graphiteapi.listen "localhost"`},
		{func(c *Config) { c.Listen = "127.0.0.1:99999"; c.Sink = "s" }, `graphiteapi.listen "127.0.0.1:99999"`},
		{func(c *Config) { c.Listen = "127.0.0.1:8080" }, "graphiteapi.sink is empty"},
		{func(c *Config) { c.Timezone = "Mars/Base" }, `graphiteapi.timezone "Mars/Base"`},
		{func(c *Config) { c.Timezone = "" }, `graphiteapi.timezone ""`},
		{func(c *Config) { c.MaxSeries = 0 }, "graphiteapi.max_series 0"},
		{func(c *Config) { c.MaxPoints = -1 }, "graphiteapi.max_points -1"},
		{func(c *Config) { c.MaxBody = 10 }, "graphiteapi.max_body 10"},
		{func(c *Config) { c.Timeout.Duration = 0 }, "graphiteapi.timeout 0s"},
	} {
		c := DefaultConfig()
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(): %v, want an error containing %q", err, tc.want)
		}
	}
	c := DefaultConfig()
	c.Listen, c.Sink = "127.0.0.1:0", "store"
	if err := c.Validate(); err != nil {
		t.Errorf("listen 127.0.0.1:0 with a sink: %v", err)
	}
}
