package line

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns 1, 2, ... 7, 1, 2, ... bytes per Read, so lines and
// CRLFs are split at every possible offset across reads.
type chunkReader struct {
	data []byte
	n    int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	c.n = c.n%7 + 1
	n := copy(p[:min(len(p), c.n)], c.data)
	c.data = c.data[n:]
	return n, nil
}

// sources wraps one input in each of the io.Readers a Reader must handle.
func sources(in string) map[string]io.Reader {
	return map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"onebyte":  iotest.OneByteReader(strings.NewReader(in)),
		"half":     iotest.HalfReader(strings.NewReader(in)),
		"dataerr":  iotest.DataErrReader(strings.NewReader(in)),
		"chunk1-7": &chunkReader{data: []byte(in)},
	}
}

// readAll drains r, cutting every block into lines.
func readAll(r *Reader) (lines []string, blocks int, err error) {
	for {
		b, err := r.Next()
		if err != nil {
			return lines, blocks, err
		}
		if len(b) == 0 {
			return lines, blocks, errors.New("Next returned an empty block")
		}
		blocks++
		for len(b) > 0 {
			var l []byte
			l, b = Cut(b)
			lines = append(lines, string(l))
		}
	}
}

func TestReaderLines(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		name     string
		in       string
		maxLine  int
		bufSize  int
		want     []string
		overlong uint64
	}{
		{name: "empty", in: "", want: nil},
		{name: "lines", in: "a 1 2\nb 3 4\nc 5 6\n", want: []string{"a 1 2", "b 3 4", "c 5 6"}},
		{name: "no trailing newline", in: "a\nb\nlast", want: []string{"a", "b", "last"}},
		{name: "only unterminated", in: "last", want: []string{"last"}},
		{name: "crlf", in: "a\r\nb\r\nc\r", want: []string{"a", "b", "c"}},
		{name: "blank lines kept", in: "\n\na\n\r\n", want: []string{"", "", "a", ""}},
		{name: "exactly max", in: x(8) + "\n" + x(8), maxLine: 8, bufSize: 16, want: []string{x(8), x(8)}},
		{name: "overlong middle", in: "short\n" + x(9) + "\nafter\n", maxLine: 8, bufSize: 16,
			want: []string{"short", "after"}, overlong: 1},
		{name: "overlong first", in: x(30) + "\nafter\n", maxLine: 8, bufSize: 16,
			want: []string{"after"}, overlong: 1},
		{name: "overlong end terminated", in: "a\n" + x(9) + "\n", maxLine: 8, bufSize: 16,
			want: []string{"a"}, overlong: 1},
		{name: "overlong end unterminated", in: "a\n" + x(9), maxLine: 8, bufSize: 16,
			want: []string{"a"}, overlong: 1},
		{name: "overlong much longer than buffer", in: "a\n" + x(1000) + "\nb\n" + x(100), maxLine: 8, bufSize: 16,
			want: []string{"a", "b"}, overlong: 2},
		{name: "overlong back to back", in: x(9) + "\n" + x(10) + "\n" + x(8) + "\n", maxLine: 8, bufSize: 16,
			want: []string{x(8)}, overlong: 2},
		{name: "cr counts toward max", in: x(8) + "\r\n" + x(7) + "\r\n", maxLine: 8, bufSize: 16,
			want: []string{x(7)}, overlong: 1},
		{name: "buffer just above max", in: "abc\n" + x(5) + "\nde\n" + x(6) + "\nf", maxLine: 5, bufSize: 6,
			want: []string{"abc", x(5), "de", "f"}, overlong: 1},
		{name: "defaults", in: "a\n" + x(16<<10) + "\n" + x(16<<10+1) + "\nz\n",
			want: []string{"a", x(16 << 10), "z"}, overlong: 1},
	} {
		for src, rd := range sources(tc.in) {
			r := NewReader(rd, ReaderConfig{BufSize: tc.bufSize, MaxLine: tc.maxLine})
			got, _, err := readAll(r)
			if err != io.EOF {
				t.Errorf("%s/%s: Next error = %v; want io.EOF", tc.name, src, err)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) || r.Overlong() != tc.overlong {
				t.Errorf("%s/%s: lines of %.60q = %.200q, overlong %d; want %.200q, overlong %d",
					tc.name, src, tc.in, got, r.Overlong(), tc.want, tc.overlong)
			}
			if b, err := r.Next(); b != nil || err != io.EOF {
				t.Errorf("%s/%s: Next after EOF = %q, %v; want nil, io.EOF", tc.name, src, b, err)
			}
		}
	}
}

// TestReaderBlocks: a stream read in large chunks comes back in few blocks,
// not one line per call, and every block ends at a line boundary.
func TestReaderBlocks(t *testing.T) {
	var in bytes.Buffer
	const n = 10000
	for i := range n {
		fmt.Fprintf(&in, "servers.fra2.web.web-%05d.cpu.cpu3.iowait 12.5 1732236000\n", i)
	}
	r := NewReader(bytes.NewReader(in.Bytes()), ReaderConfig{})
	blocks := 0
	lines := 0
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blocks++
		if b[len(b)-1] != '\n' {
			t.Fatalf("block %d ends in %q; want every block of a terminated stream to end in a newline", blocks, b[len(b)-10:])
		}
		lines += bytes.Count(b, []byte("\n"))
	}
	if lines != n {
		t.Errorf("read %d lines; want %d", lines, n)
	}
	if maxBlocks := in.Len()/(DefaultBufSize-DefaultMaxLine) + 2; blocks > maxBlocks {
		t.Errorf("read %d bytes in %d blocks; want at most %d (large chunks, not lines)", in.Len(), blocks, maxBlocks)
	}
}

// TestReaderError: a read error is returned after the complete lines read
// before it; the partial line in front of it is dropped; the error sticks.
func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	rd := io.MultiReader(strings.NewReader("a 1 2\nb 3 4\npart"), iotest.ErrReader(boom))
	r := NewReader(rd, ReaderConfig{})
	got, _, err := readAll(r)
	if !errors.Is(err, boom) || fmt.Sprint(got) != "[a 1 2 b 3 4]" {
		t.Errorf("lines, err = %q, %v; want [a 1 2 b 3 4], boom", got, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Errorf("second Next error = %v; want boom again", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	r := NewReader(zeroReader{}, ReaderConfig{})
	if b, err := r.Next(); b != nil || !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("Next on a reader that returns (0, nil) forever = %q, %v; want nil, io.ErrNoProgress", b, err)
	}
}

func TestReaderReset(t *testing.T) {
	r := NewReader(strings.NewReader("a\n"+strings.Repeat("x", 20)+"\npartial"), ReaderConfig{MaxLine: 8, BufSize: 16})
	if b, err := r.Next(); err != nil || string(b) != "a\n" {
		t.Fatalf("first Next = %q, %v; want %q", b, err, "a\n")
	}
	for _, in := range []string{"b\nc", "d\n"} {
		r.Reset(strings.NewReader(in))
		got, _, err := readAll(r)
		want := strings.Split(strings.TrimSuffix(in, "\n"), "\n")
		if err != io.EOF || fmt.Sprint(got) != fmt.Sprint(want) || r.Overlong() != 0 {
			t.Errorf("after Reset(%q): lines %q, err %v, overlong %d; want %q, io.EOF, 0", in, got, err, r.Overlong(), want)
		}
	}
}

func TestReaderConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  ReaderConfig
		want string // "" = valid
	}{
		{ReaderConfig{}, ""},
		{DefaultReaderConfig(), ""},
		{ReaderConfig{BufSize: 1 << 20, MaxLine: 1 << 10}, ""},
		{ReaderConfig{BufSize: 1024, MaxLine: 1024}, "larger than max_line"},
		{ReaderConfig{BufSize: 1024}, "larger than max_line"},
		{ReaderConfig{MaxLine: -1}, "max_line -1"},
		{ReaderConfig{BufSize: -5}, "buffer_size -5"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v; want %q", tc.cfg, err, tc.want)
		}
	}
	// NewReader repairs what Validate refuses rather than failing.
	r := NewReader(strings.NewReader("abc\n"), ReaderConfig{BufSize: 4, MaxLine: 4})
	if got, _, err := readAll(r); err != io.EOF || fmt.Sprint(got) != "[abc]" {
		t.Errorf("NewReader with buffer_size = max_line: %q, %v; want [abc], io.EOF", got, err)
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in, line, rest string
		restNil        bool
	}{
		{"a\nb\n", "a", "b\n", false},
		{"a\r\nb", "a", "b", false},
		{"a\n", "a", "", false},
		{"a", "a", "", true},
		{"a\r", "a", "", true},
		{"\n", "", "", false},
		{"\r\n", "", "", false},
		{"a\rb\n", "a\rb", "", false},
		{"", "", "", true},
	} {
		line, rest := Cut([]byte(tc.in))
		if string(line) != tc.line || string(rest) != tc.rest || tc.restNil != (rest == nil) {
			t.Errorf("Cut(%q) = %q, %q; want %q, %q (nil rest: %v)", tc.in, line, rest, tc.line, tc.rest, tc.restNil)
		}
	}
}

// dataErrReader returns all its data and err from the same Read.
type dataErrReader struct {
	data []byte
	err  error
}

func (d *dataErrReader) Read(p []byte) (int, error) {
	n := copy(p, d.data)
	d.data = d.data[n:]
	if len(d.data) == 0 {
		return n, d.err
	}
	return n, nil
}

func TestReaderDataWithError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, tc := range []struct {
		in   string
		err  error
		want string
	}{
		{"a\nb\npart", boom, "[a b]"},
		{"a\nb\nlast", io.EOF, "[a b last]"},
		{"a\nb\n", boom, "[a b]"},
	} {
		r := NewReader(&dataErrReader{data: []byte(tc.in), err: tc.err}, ReaderConfig{})
		got, _, err := readAll(r)
		if !errors.Is(err, tc.err) || fmt.Sprint(got) != tc.want {
			t.Errorf("lines of %q then %v = %q, %v; want %s, %v", tc.in, tc.err, got, err, tc.want, tc.err)
		}
	}
}

// TestReaderGrowsOnlyForALongLine: with max_line 1 MiB the buffer stays at
// its base size for short lines, grows to read a long one whole, and is
// back to its base size once that line is done.
func TestReaderGrowsOnlyForALongLine(t *testing.T) {
	long := strings.Repeat("x", 600<<10)
	in := "a 1 1\n" + long + " 1 1\nb 2 2\n"
	r := NewReader(strings.NewReader(in), ReaderConfig{MaxLine: 1 << 20})
	if n := len(r.buf); n != DefaultBufSize {
		t.Fatalf("new reader buffer %d bytes, want %d", n, DefaultBufSize)
	}
	var lines []string
	grown := 0
	for {
		blk, err := r.Next()
		grown = max(grown, len(r.buf))
		for len(blk) > 0 {
			var ln []byte
			ln, blk = Cut(blk)
			lines = append(lines, string(ln))
		}
		if err != nil {
			break
		}
	}
	if len(lines) != 3 || lines[1] != long+" 1 1" || lines[2] != "b 2 2" || r.Overlong() != 0 {
		t.Fatalf("got %d lines (overlong %d), want the long line whole between two short ones", len(lines), r.Overlong())
	}
	if grown <= len(long) {
		t.Errorf("buffer grew to %d bytes for a %d-byte line", grown, len(long))
	}
	r.Reset(nil)
	if n := len(r.buf); n != DefaultBufSize {
		t.Errorf("after the long line and Reset the buffer is %d bytes, want %d", n, DefaultBufSize)
	}
}
