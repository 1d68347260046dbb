package line

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"os"
	"strconv"
	"strings"
	"testing"

	"ringrelay/hashring"
)

func TestCCRNameCases(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a.b.c", "a.b.c"},
		{".a.b", "a.b"},
		{"...a", "a"},
		{"a..b", "a.b"},
		{"a.b.", "a.b"},
		{"a.b..", "a.b"},
		{"a...", "a"},
		{"a#b:c-d_e", "a#b:c-d_e"},
		{"a/b", "a_b"},
		{"a$b", "a_b"},
		{"a\x00b", "a_b"},
		{"é.x", "__.x"},
		{"🔥", "____"},
		{"a.;t=1", "a.;t=1"},              // no trailing-dot strip before tags
		{"a.b;t=1;x=..y", "a.b;t=1;x=.y"}, // ".." collapses in tags too
		{"a;.b", "a;b"},                   // no '.' right after the tag mark
		{"a..;b", "a.;b"},
		{"a.b;t=é/x", "a.b;t=é/x"}, // tags copied as they are
		{"a;b\x00", "a;b_"},
		{"x;;y", "x;;y"},
		{";a", ";a"},
		{"a.b c", "a.b"}, // the name ends at a blank
		{"a.b\tc", "a.b"},
		// dropped by the daemon: nothing appended
		{".", ""},
		{"..", ""},
		{"", ""},
		{"a;", ""},
		{"a.;", ""},
		{";", ""},
	} {
		got := CCRName([]byte("prefix:"), []byte(tt.in))
		if string(got) != "prefix:"+tt.want {
			t.Errorf("CCRName(%q) = %q, want %q", tt.in, strings.TrimPrefix(string(got), "prefix:"), tt.want)
		}
	}
}

// ccrLiveRow is one row of testdata/ccrname_live.tsv.gz (see
// testdata/ccrname_gen.sh): a key sent to a running carbon-c-relay, the
// name a member received ("" = dropped), and the member each of carbon_ch,
// fnv1a_ch and jump_fnv1a_ch sent it to.
type ccrLiveRow struct {
	key, name string
	members   [3]string
}

func readCCRLive(t testing.TB) []ccrLiveRow {
	t.Helper()
	f, err := os.Open("testdata/ccrname_live.tsv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var rows []ccrLiveRow
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 5 {
			t.Fatalf("ccrname_live.tsv:%d: %d columns, want 5", n, len(cols))
		}
		key, err1 := strconv.Unquote(`"` + cols[0] + `"`)
		name, err2 := strconv.Unquote(`"` + cols[1] + `"`)
		if err1 != nil || err2 != nil {
			t.Fatalf("ccrname_live.tsv:%d: bad quoting", n)
		}
		rows = append(rows, ccrLiveRow{key, name, [3]string{cols[2], cols[3], cols[4]}})
	}
	if err := sc.Err(); err != nil || len(rows) == 0 {
		t.Fatalf("read ccrname_live.tsv.gz: %d rows, %v", len(rows), err)
	}
	return rows
}

func TestCCRNameLive(t *testing.T) {
	bad := 0
	for _, row := range readCCRLive(t) {
		if got := CCRName(nil, []byte(row.key)); string(got) != row.name {
			bad++
			if bad <= 20 {
				t.Errorf("CCRName(%q) = %q, the daemon sent %q", row.key, got, row.name)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d names differ", bad)
	}
}

// With CCRName in front, hashring routes every key as the live daemon did:
// the rewritten name up to ';' is what carbon-c-relay hashes.
func TestCCRNameRoutesLikeTheDaemon(t *testing.T) {
	data, err := os.ReadFile("testdata/ccrname_servers.txt")
	if err != nil {
		t.Fatal(err)
	}
	var members []hashring.Member
	var lines []string
	for _, l := range strings.Fields(string(data)) {
		host, port, _ := strings.Cut(l, ":")
		p, err := strconv.Atoi(port)
		if err != nil {
			t.Fatalf("ccrname_servers.txt: bad member %q", l)
		}
		members = append(members, hashring.Member{Host: host, Port: p})
		lines = append(lines, l)
	}
	rows := readCCRLive(t)
	for i, h := range []string{hashring.CarbonCH, hashring.FNV1aCH, hashring.JumpFNV1aCH} {
		ring, err := hashring.New(hashring.Config{Hasher: h}, members)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for _, row := range rows {
			name := CCRName(nil, []byte(row.key))
			if len(name) == 0 {
				if row.members[i] != "" {
					t.Errorf("%s: %q: we drop it, the daemon sent it to %s", h, row.key, row.members[i])
				}
				continue
			}
			key := name
			if j := bytes.IndexByte(key, ';'); j >= 0 {
				key = key[:j]
			}
			if got := lines[ring.Lookup(key, nil)[0]]; got != row.members[i] {
				bad++
				if bad <= 10 {
					t.Errorf("%s: key %q (hashed as %q): got %s, the daemon chose %s", h, row.key, key, got, row.members[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d keys routed differently", h, bad)
		}
	}
}

// CCRName is idempotent: the daemon's output, fed back in, comes out the
// same (what a relay chained behind carbon-c-relay would see).
func FuzzCCRName(f *testing.F) {
	for _, s := range []string{"a.b.c", "..a..b..", "a;t=1;x=..y", "é.x", "a;", ";", "a\x00b", "a b", "x;;y.", "a.;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, name []byte) {
		out := CCRName(nil, name)
		if len(out) == 0 {
			return
		}
		if bytes.HasPrefix(out, []byte(".")) || bytes.Contains(out, []byte("..")) {
			t.Fatalf("CCRName(%q) = %q: leading or repeated dot", name, out)
		}
		if bytes.ContainsAny(out, " \t\x00") {
			t.Fatalf("CCRName(%q) = %q: blank or NUL", name, out)
		}
		path := out
		if i := bytes.IndexByte(out, ';'); i >= 0 {
			path = out[:i]
		} else if bytes.HasSuffix(out, []byte(".")) {
			t.Fatalf("CCRName(%q) = %q: trailing dot", name, out)
		}
		for _, c := range path {
			if !ccrAllowed(c) && c != '.' {
				t.Fatalf("CCRName(%q) = %q: %q in the path", name, out, c)
			}
		}
		if again := CCRName(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("CCRName(%q) = %q, but CCRName(%q) = %q", name, out, out, again)
		}
	})
}

func TestCCRNameAllocatesNothing(t *testing.T) {
	name := []byte("servers..web-042.cpu/user.é;tag=1")
	dst := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { dst = CCRName(dst[:0], name) }); n != 0 {
		t.Errorf("CCRName allocates %v times per call", n)
	}
}

func BenchmarkCCRName(b *testing.B) {
	name := []byte("servers.fra2.web.web-00042.cpu.cpu3..iowait")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(name)))
	for b.Loop() {
		dst = CCRName(dst[:0], name)
	}
}
