package config

import (
	"strings"
	"testing"
	"time"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{"512", 512, false},
		{"16KiB", 16 << 10, false},
		{"64MiB", 64 << 20, false},
		{"1GiB", 1 << 30, false},
		{"2 mb", 2 << 20, false},
		{"-1", 0, true},
		{"lots", 0, true},
		{"", 0, true},
	} {
		got, err := ParseByteSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, err=%v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if s := ByteSize(64 << 20).String(); s != "64MiB" {
		t.Errorf("String() = %q, want 64MiB", s)
	}
}

type testSection struct {
	Listen  string   `toml:"listen"`
	Timeout Duration `toml:"timeout"`
	Queue   ByteSize `toml:"queue"`
}

type testFile struct {
	Admin testSection            `toml:"admin"`
	Items []testSection          `toml:"items"`
	Pools map[string]testSection `toml:"pools"`
}

func TestDecodeStrict(t *testing.T) {
	doc := "[admin]\nlisten = \"x\"\ntimeout = \"3s\"\nqueue = \"1MiB\"\n"
	var f testFile
	if err := DecodeStrict([]byte(doc), &f); err != nil {
		t.Fatal(err)
	}
	if f.Admin.Timeout.Duration != 3*time.Second || f.Admin.Queue != 1<<20 {
		t.Errorf("decoded %+v", f.Admin)
	}
	err := DecodeStrict([]byte("[admin]\nlisten = \"x\"\n\nlistne = \"y\"\n"), &f)
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "admin.listne") {
		t.Errorf("unknown key: got %v, want line 4 and admin.listne named", err)
	}
	err = DecodeStrict([]byte("[admin]\ntimeout = \"soon\"\n"), &f)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "soon") {
		t.Errorf("bad duration: got %v, want line 2 and the value named", err)
	}
}

func TestLineOf(t *testing.T) {
	doc := `# c
[admin]
listen = "a"

[[items]]
listen = "b"

[[items]]
listen = "c"
timeout = "1s"

[pools.carbon]
queue = "1"

[pools.other]
listen = "z"
`
	for _, tc := range []struct {
		path []string
		want int
	}{
		{[]string{"admin", "listen"}, 3},
		{[]string{"items", "0", "listen"}, 6},
		{[]string{"items", "1", "timeout"}, 10},
		{[]string{"items", "1"}, 8},
		{[]string{"pools", "carbon", "queue"}, 13},
		{[]string{"pools", "other", "listen"}, 16},
		{[]string{"pools", "other", "missing"}, 15},
		{[]string{"nowhere"}, 0},
	} {
		if got := LineOf([]byte(doc), tc.path...); got != tc.want {
			t.Errorf("LineOf(%v) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

type Inner struct {
	Queue ByteSize `toml:"queue"`
	Flag  *bool    `toml:"flag"`
}

type outer struct {
	Inner
	Name    string   `toml:"name"`
	Timeout Duration `toml:"timeout"`
	Count   int      `toml:"count"`
}

func TestFillZero(t *testing.T) {
	yes := true
	def := outer{Inner: Inner{Queue: 64, Flag: &yes}, Name: "d", Timeout: Duration{time.Second}, Count: 3}
	got := outer{Name: "set", Count: 0}
	got.Queue = 7
	FillZero(&got, def)
	if got.Name != "set" || got.Queue != 7 || got.Count != 3 || got.Timeout.Duration != time.Second || got.Flag == nil || !*got.Flag {
		t.Errorf("FillZero = %+v, want set fields kept and zero ones from %+v", got, def)
	}
}

func TestDecodeStrictEmbedded(t *testing.T) {
	var f struct {
		Pools map[string]outer `toml:"pools"`
	}
	err := DecodeStrict([]byte("[pools.a]\nname = \"x\"\nqueue = \"2KiB\"\n"), &f)
	if err != nil || f.Pools["a"].Queue != 2048 || f.Pools["a"].Name != "x" {
		t.Errorf("embedded decode: %+v, %v", f.Pools, err)
	}
}
