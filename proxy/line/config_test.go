package line

import (
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"ringrelay/config"
)

// listenerSection is how a listener's TOML section embeds the format and
// reader configs.
type listenerSection struct {
	Listen string `toml:"listen"`
	FormatConfig
	ReaderConfig
}

func TestConfigTOML(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FormatConfig
		rc   ReaderConfig
		err  string
	}{
		{in: `listen = ":2003"` + "\nformat = \"graphite\"\nccr_names = true\nmax_line = 4096\n",
			want: FormatConfig{Format: "graphite", CCRNames: true}, rc: ReaderConfig{MaxLine: 4096}},
		{in: "format = \"regex\"\nregex = '^(?P<Key>\\S+) '\nbuffer_size = 131072\n",
			want: FormatConfig{Format: "regex", Regex: `^(?P<Key>\S+) `}, rc: ReaderConfig{BufSize: 131072}},
		{in: "format = \"statsd\"\nccr_name = true\n", err: `unknown key "ccr_name"`},
		{in: "format = \"regex\"\nregexp = \"x\"\n", err: `unknown key "regexp"`},
	} {
		var got listenerSection
		err := config.DecodeStrict([]byte(tc.in), &got)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("DecodeStrict(%q) = %v; want error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got.FormatConfig != tc.want || got.ReaderConfig != tc.rc {
			t.Errorf("DecodeStrict(%q) = %+v, %v; want %+v %+v", tc.in, got, err, tc.want, tc.rc)
		}
	}
}

// TestConfigTOMLDefaults: the defaults print as TOML and read back.
func TestConfigTOMLDefaults(t *testing.T) {
	in := listenerSection{Listen: ":2003", FormatConfig: DefaultFormatConfig(), ReaderConfig: DefaultReaderConfig()}
	out, err := toml.Marshal(in)
	if err != nil {
		t.Fatalf("toml.Marshal(defaults): %v", err)
	}
	var back listenerSection
	if err := config.DecodeStrict(out, &back); err != nil {
		t.Fatalf("DecodeStrict(%q): %v", out, err)
	}
	if back != in {
		t.Errorf("defaults %q read back as %+v; want %+v", out, back, in)
	}
}
