package line

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		in               string
		ok, neg, nonzero bool
	}{
		{"0", true, false, false},
		{"12", true, false, true},
		{"-0.0", true, true, false},
		{"-0.01", true, true, true},
		{"+1", true, false, true},
		{".5", true, false, true},
		{"5.", true, false, true},
		{"1e9", true, false, true},
		{"1E-9", true, false, true},
		{"0e5", true, false, false},
		{"-", false, true, false},
		{"", false, false, false},
		{".", false, false, false},
		{"e5", false, false, false},
		{"1e", false, false, true},
		{"1e+", false, false, true},
		{"1.2.3", false, false, true},
		{"0x10", false, false, false},
		{"1_000", false, false, true},
		{" 1", false, false, false},
		{"1 ", false, false, true},
		{"++1", false, false, false},
	} {
		ok, neg, nonzero := decimal([]byte(tc.in))
		if ok != tc.ok || ok && (neg != tc.neg || nonzero != tc.nonzero) {
			t.Errorf("decimal(%q) = %v, %v, %v; want %v, %v, %v", tc.in, ok, neg, nonzero, tc.ok, tc.neg, tc.nonzero)
		}
	}
	for _, tc := range []struct {
		in string
		ok bool
	}{{"inf", true}, {"-Inf", true}, {"+INFINITY", true}, {"infinit", false}, {"in", false}, {"nan", false}, {"--inf", false}} {
		if got := isInf([]byte(tc.in)); got != tc.ok {
			t.Errorf("isInf(%q) = %v; want %v", tc.in, got, tc.ok)
		}
	}
}

// TestSWAR checks the word-at-a-time tests against their byte-wise
// definitions: every byte value at every position amid several fillers,
// then random words.
func TestSWAR(t *testing.T) {
	check := func(w [8]byte) {
		t.Helper()
		x := binary.LittleEndian.Uint64(w[:])
		wantCS, wantC := false, false
		for _, c := range w {
			wantCS = wantCS || c <= ' ' || c == 0x7f
			wantC = wantC || isCtl(c)
		}
		if got := hasCtlOrSpace(x); got != wantCS {
			t.Fatalf("hasCtlOrSpace(% x) = %v; want %v", w, got, wantCS)
		}
		if got := hasCtl(x); got != wantC {
			t.Fatalf("hasCtl(% x) = %v; want %v", w, got, wantC)
		}
		if got := ctlFree(w[:]); got != !wantC {
			t.Fatalf("ctlFree(% x) = %v; want %v", w, got, !wantC)
		}
	}
	for _, fill := range []byte{'a', 0x21, 0x20, 0x7e, 0x80, 0x81, 0xff, 0x00} {
		for pos := range 8 {
			for c := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				check(w)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		check(w)
	}
}

func TestCtlFreeLengths(t *testing.T) {
	for n := range 40 {
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(i%26)
		}
		if !ctlFree(b) {
			t.Errorf("ctlFree(%q) = false; want true", b)
		}
		for p := range n {
			for _, c := range []byte{0, '\t', '\n', 0x1f, 0x7f} {
				old := b[p]
				b[p] = c
				if ctlFree(b) {
					t.Errorf("ctlFree(%q) = true; want false (control byte at %d)", b, p)
				}
				b[p] = old
			}
		}
	}
}
