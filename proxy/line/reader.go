package line

import (
	"bytes"
	"fmt"
	"io"
)

// Reader defaults. 16 KiB is also the line limit of carbon's line receiver
// (Twisted LineOnlyReceiver.MAX_LENGTH).
const (
	DefaultBufSize = 64 << 10
	DefaultMaxLine = 16 << 10
)

// maxZeroReads bounds how often Read may return (0, nil) in a row before
// Next gives up with io.ErrNoProgress (as bufio does).
const maxZeroReads = 100

// ReaderConfig sizes a Reader. Zero fields take the defaults.
type ReaderConfig struct {
	// BufSize is the read buffer's usual size in bytes; a line that does
	// not fit grows it (up to MaxLine+1) only while that line is read.
	// Validate asks for more than MaxLine, so that a buffer never grows
	// for lines it accepts.
	BufSize int `toml:"buffer_size"`
	// MaxLine is the longest line accepted, in bytes before the '\n'
	// (a '\r' before it counts). Longer lines are skipped and counted.
	MaxLine int `toml:"max_line"`
}

// DefaultReaderConfig returns a 64 KiB buffer and a 16 KiB line limit.
func DefaultReaderConfig() ReaderConfig {
	return ReaderConfig{BufSize: DefaultBufSize, MaxLine: DefaultMaxLine}
}

// Validate checks the sizes (zero means default).
func (c ReaderConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxLine < 1:
		return fmt.Errorf("invalid max_line %d: must be positive", c.MaxLine)
	case c.BufSize < 1:
		return fmt.Errorf("invalid buffer_size %d: must be positive", c.BufSize)
	case c.BufSize <= c.MaxLine:
		return fmt.Errorf("invalid buffer_size %d: must be larger than max_line %d", c.BufSize, c.MaxLine)
	}
	return nil
}

func (c ReaderConfig) withDefaults() ReaderConfig {
	if c.BufSize == 0 {
		c.BufSize = DefaultBufSize
	}
	if c.MaxLine == 0 {
		c.MaxLine = DefaultMaxLine
	}
	return c
}

// Reader cuts a byte stream into blocks of whole lines, reading in large
// chunks. A line longer than MaxLine is skipped up to its '\n' and counted
// (Overlong); the lines around it are unaffected. At io.EOF an unterminated
// last line is returned as a line of its own.
//
// A Reader is used by one goroutine at a time. Reset lets a pool reuse it
// (and its buffer) for another stream.
type Reader struct {
	rd       io.Reader
	buf      []byte
	base     int // the buffer's usual size; a longer line grows it until drained
	maxLine  int
	start    int  // buf[start:end] is read but not yet returned
	end      int  // end of the bytes read into buf
	skipping bool // inside an overlong line: discard up to its '\n'
	overlong uint64
	err      error // sticky read error, reported once the buffer is drained
}

// NewReader returns a Reader of r with cfg's sizes (zero fields: defaults).
// The buffer is BufSize; a line that does not fit grows it (up to MaxLine
// plus one byte, what it takes to tell the line is too long) only while
// that line is being read: memory follows the lines, not max_line.
func NewReader(r io.Reader, cfg ReaderConfig) *Reader {
	cfg = cfg.withDefaults()
	if cfg.MaxLine < 1 {
		cfg.MaxLine = DefaultMaxLine
	}
	return &Reader{rd: r, buf: make([]byte, cfg.BufSize), base: cfg.BufSize, maxLine: cfg.MaxLine}
}

// Reset makes the Reader read from rd as if new, keeping its buffer (at
// its usual size); the Overlong count restarts at zero. Reset(nil) drops
// the reference to the old stream before the Reader goes back into a pool
// (Next must not be called until the next Reset with a stream).
func (r *Reader) Reset(rd io.Reader) {
	buf := r.buf
	if len(buf) > r.base {
		buf = make([]byte, r.base)
	}
	*r = Reader{rd: rd, buf: buf, base: r.base, maxLine: r.maxLine}
}

// Buffered is how many bytes were read but not yet returned by Next: the
// start of a line whose end has not arrived.
func (r *Reader) Buffered() int { return r.end - r.start }

// Overlong returns how many lines longer than MaxLine were skipped since
// NewReader or the last Reset.
func (r *Reader) Overlong() uint64 { return r.overlong }

// Next returns the next block of complete lines, each ending in '\n' except
// possibly the very last line of the stream, which is returned alone at
// io.EOF. Split the block with Cut. The block is a view into the Reader's
// buffer, valid until the next call to Next or Reset; it is never empty.
//
// When the stream ends Next returns nil and io.EOF; on a read error it
// returns nil and that error (a partial last line is then dropped). Errors
// are returned only after every complete line before them, and again on
// every later call.
func (r *Reader) Next() ([]byte, error) {
	zeroReads := 0
	for {
		if r.skipping {
			i := bytes.IndexByte(r.buf[r.start:r.end], '\n')
			if i < 0 {
				r.start = r.end
			} else {
				r.start += i + 1
				r.skipping = false
			}
		}
		if !r.skipping {
			p, overlong := r.scan()
			if p > r.start {
				block := r.buf[r.start:p]
				r.start = p
				return block, nil
			}
			if overlong {
				// The line at start has no '\n' in its first MaxLine+1
				// bytes: count it and discard it up to its '\n'.
				r.overlong++
				r.start += r.maxLine + 1
				r.skipping = true
				continue
			}
		}
		if r.err != nil {
			if r.err == io.EOF && !r.skipping && r.start < r.end {
				block := r.buf[r.start:r.end]
				r.start = r.end
				return block, nil
			}
			r.start, r.end = 0, 0
			return nil, r.err
		}
		// Need more: keep the partial line, read after it.
		if r.start == r.end && len(r.buf) > r.base {
			r.buf, r.start, r.end = make([]byte, r.base), 0, 0 // the long line is done
		}
		if r.start > 0 {
			r.end = copy(r.buf, r.buf[r.start:r.end])
			r.start = 0
		}
		if r.end == len(r.buf) {
			// A partial line fills the buffer: grow it (the scan needs
			// MaxLine+1 bytes to tell an overlong line).
			n := min(2*len(r.buf), r.maxLine+1)
			nb := make([]byte, max(n, len(r.buf)+1))
			copy(nb, r.buf[:r.end])
			r.buf = nb
		}
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			return nil, fmt.Errorf("failed to read lines: invalid Read count %d", n)
		}
		r.end += n
		if err != nil {
			r.err = err
		} else if n == 0 {
			if zeroReads++; zeroReads >= maxZeroReads {
				r.err = io.ErrNoProgress
			}
		}
	}
}

// scan finds the end of the run of complete lines of at most MaxLine bytes
// starting at r.start: buf[r.start:p] is that run (p == r.start: none). If
// the scan stopped at a line whose first MaxLine+1 bytes hold no '\n',
// overlong is true and that line starts at p. It looks at about one byte in
// MaxLine/line length: per window of MaxLine+1 bytes it searches back from
// the window's end for the last '\n'.
func (r *Reader) scan() (p int, overlong bool) {
	p = r.start
	for {
		lim := min(p+r.maxLine+1, r.end)
		q := bytes.LastIndexByte(r.buf[p:lim], '\n')
		if q < 0 {
			return p, lim-p == r.maxLine+1
		}
		p += q + 1
	}
}

// Cut takes the first line off block: line is the text before the first
// '\n' without a trailing '\r', rest is what follows the '\n'. Without a
// '\n' the whole block (less a trailing '\r') is the line and rest is nil.
// Both are views into block. Loop with `for len(b) > 0 { l, b = Cut(b) }`.
func Cut(block []byte) (line, rest []byte) {
	i := bytes.IndexByte(block, '\n')
	if i < 0 {
		line = block
	} else {
		line, rest = block[:i], block[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}
