package memory

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"
)

// The snapshot is a compact binary file (integers as varints, floats as
// their 8 IEEE-754 bytes, so values come back exactly):
//
//	magic "ringrelay-memory\n", version byte 1
//	uvarint levels, then per level: uvarint resolution, uvarint retention (seconds)
//	per series: uvarint len(path)+1, path, then per level:
//	    uvarint bins; for each bin: start (varint for the first, then
//	    uvarint (start-previous)/resolution), varint count, sum, min, max, last
//	uvarint 0 (no more series)
//	CRC-32C of everything before, 4 bytes little-endian
//
// A snapshot is written to a temporary file in the same directory, synced,
// renamed over the old one and the directory synced, so a crash leaves
// the old snapshot or the new one, never a mix.
const (
	snapMagic   = "ringrelay-memory\n"
	snapVersion = 1
	maxSnapPath = 1 << 16 // a longer path length marks a corrupt file
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// saveLogged writes the snapshot, logging and counting a failure.
func (s *Store) saveLogged(ctx context.Context) error {
	began := time.Now()
	n, err := s.save(ctx)
	if err != nil {
		s.mu.Lock()
		s.st.Errors++
		s.mu.Unlock()
		s.log.Error("failed to write snapshot", zap.String("file", s.cfg.Snapshot), zap.Error(err))
		return err
	}
	s.log.Info("snapshot written", zap.String("file", s.cfg.Snapshot), zap.Int("series", n), zap.Duration("took", time.Since(began)))
	return nil
}

// save writes the snapshot atomically and returns the series written.
// Series are encoded a chunk at a time under the read lock, so writers are
// never held up for the whole file; each series is consistent in itself.
func (s *Store) save(ctx context.Context) (series int, err error) {
	path := s.cfg.Snapshot
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("failed to create a temporary file for snapshot %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, crc), 1<<16)
	e := encoder{w: bw}
	e.header(s)
	for i := 0; ; {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("snapshot %q not written: %w", path, err)
		}
		s.mu.RLock()
		end := min(i+sweepChunk, len(s.list))
		for ; i < end; i++ {
			e.series(s, s.list[i])
		}
		more := i < len(s.list)
		s.mu.RUnlock()
		series = i
		if e.err != nil || !more {
			break
		}
	}
	e.uvarint(0)
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		_, e.err = tmp.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32()))
	}
	if e.err == nil {
		e.err = tmp.Sync()
	}
	if e.err == nil {
		e.err = tmp.Close()
	}
	if e.err != nil {
		return 0, fmt.Errorf("failed to write snapshot %q: %w", tmp.Name(), e.err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("failed to rename snapshot into %q: %w", path, err)
	}
	return series, syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("failed to open directory %q to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync directory %q: %w", dir, err)
	}
	return nil
}

// encoder writes the snapshot's parts; the first error sticks.
type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) uvarint(v uint64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendUvarint(e.buf[:0], v))
	}
}

func (e *encoder) varint(v int64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendVarint(e.buf[:0], v))
	}
}

func (e *encoder) float(v float64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.LittleEndian.AppendUint64(e.buf[:0], math.Float64bits(v)))
	}
}

func (e *encoder) header(s *Store) {
	if e.err == nil {
		_, e.err = e.w.WriteString(snapMagic)
	}
	if e.err == nil {
		e.err = e.w.WriteByte(snapVersion)
	}
	e.uvarint(uint64(len(s.levels)))
	for _, l := range s.levels {
		e.uvarint(uint64(l.res))
		e.uvarint(uint64(l.keep))
	}
}

func (e *encoder) series(s *Store, se *series) {
	e.uvarint(uint64(len(se.path)) + 1)
	if e.err == nil {
		_, e.err = e.w.WriteString(se.path)
	}
	for li := range se.rings {
		r := &se.rings[li]
		e.uvarint(uint64(r.n))
		for i := range r.n {
			b := r.at(i)
			if i == 0 {
				e.varint(b.start)
			} else {
				e.uvarint(uint64((b.start - r.at(i-1).start) / s.levels[li].res))
			}
			e.varint(b.count)
			e.float(b.sum)
			e.float(b.min)
			e.float(b.max)
			e.float(b.last)
		}
	}
}

// load fills the store from its snapshot file, if there is one. What
// still fits the store's levels is kept: bins of a resolution it no
// longer keeps, past their retention or beyond a ring's bound, and series
// beyond max_series are left out (and logged).
func (s *Store) load() error {
	path := s.cfg.Snapshot
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		s.log.Info("no snapshot to load; starting empty", zap.String("file", path))
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshot %q: failed to open: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("snapshot %q: failed to stat: %w", path, err)
	}
	// Everything but the trailing checksum is hashed as it is read.
	h := &hashingReader{r: f, crc: crc32.New(castagnoli), left: fi.Size() - 4}
	d := &decoder{r: bufio.NewReaderSize(h, 1<<16), crc: h.crc}
	st, err := s.decode(d)
	if err != nil {
		return fmt.Errorf("snapshot %q: corrupt or unreadable at byte %d: %w", path, d.off, err)
	}
	s.log.Info("snapshot loaded", zap.String("file", path), zap.Int("series", len(s.list)),
		zap.Int("bins", st.kept), zap.Int("bins_left_out", st.skipped), zap.Int("series_left_out", st.skippedSeries))
	return nil
}

type loadStats struct{ kept, skipped, skippedSeries int }

// decode reads a whole snapshot into the (empty, not yet shared) store.
func (s *Store) decode(d *decoder) (st loadStats, err error) {
	magic := make([]byte, len(snapMagic)+1)
	d.read(magic)
	if d.err != nil || string(magic[:len(snapMagic)]) != snapMagic || magic[len(snapMagic)] != snapVersion {
		return st, errors.New("not a ringrelay memory snapshot of version 1")
	}
	nlev := d.uvarint()
	if d.err == nil && nlev > 64 {
		return st, fmt.Errorf("%d levels", nlev)
	}
	from := make([]int, nlev) // snapshot level → store level, or -1
	res := make([]int64, nlev)
	for i := range from {
		res[i] = int64(d.uvarint())
		d.uvarint() // the retention it had: the store's own applies now
		from[i] = s.level(res[i])
		if d.err == nil && res[i] < 1 {
			return st, fmt.Errorf("level %d has resolution %d", i, res[i])
		}
	}
	now := s.now().Unix()
	for d.err == nil {
		n := d.uvarint()
		if n == 0 || d.err != nil {
			break
		}
		if n-1 > maxSnapPath {
			return st, fmt.Errorf("path length %d", n-1)
		}
		pb := make([]byte, n-1)
		d.read(pb)
		if err := s.decodeSeries(d, string(pb), from, res, now, &st); err != nil {
			return st, err
		}
	}
	d.checkSum()
	return st, d.err
}

// decodeSeries reads one series' levels and keeps what fits.
func (s *Store) decodeSeries(d *decoder, path string, from []int, res []int64, now int64, st *loadStats) error {
	se := s.byPath[path]
	if se == nil && len(s.list) < s.cfg.MaxSeries && path != "" {
		se = s.addSeries(path)
	}
	if se == nil {
		st.skippedSeries++
	}
	for i := range from {
		nb := d.uvarint()
		var start int64
		for k := uint64(0); k < nb && d.err == nil; k++ {
			if k == 0 {
				start = d.varint()
			} else {
				step := d.uvarint()
				if step == 0 || step > math.MaxInt64/uint64(res[i]) {
					return fmt.Errorf("series %q: bins out of order", path)
				}
				start += int64(step) * res[i]
			}
			b := bin{start: start, count: d.varint(), sum: d.float(), min: d.float(), max: d.float(), last: d.float()}
			if d.err != nil {
				break
			}
			if start%res[i] != 0 {
				return fmt.Errorf("series %q: start %d is not a multiple of %ds", path, start, res[i])
			}
			li := from[i]
			if se == nil || li < 0 || start < s.levels[li].horizon(now) {
				st.skipped++
				continue
			}
			r := &se.rings[li]
			before := r.n
			if s.points >= s.cfg.MaxPoints && r.n < s.levels[li].slots && !r.has(start) {
				st.skipped++ // beyond max_points
				continue
			}
			kept := r.put(b, s.levels[li].slots)
			s.points += r.n - before
			if !kept {
				st.skipped++
				continue
			}
			st.kept++
		}
	}
	if se != nil && s.expire(se, now) {
		s.removeSeries(se) // nothing of it fits any more
	}
	return d.err
}

// hashingReader hashes the first left bytes read through it.
type hashingReader struct {
	r    io.Reader
	crc  hash.Hash32
	left int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if k := min(int64(n), h.left); k > 0 {
		h.crc.Write(p[:k])
		h.left -= k
	}
	return n, err
}

// decoder reads the snapshot's parts; the first error sticks, and off
// says where it happened.
type decoder struct {
	r   *bufio.Reader
	crc hash.Hash32 // of what was read so far, once checkSum is reached
	off int64
	err error
	f   [8]byte // a float's bytes
}

func (d *decoder) ReadByte() (byte, error) {
	b, err := d.r.ReadByte()
	if err == nil {
		d.off++
	}
	return b, err
}

func (d *decoder) read(p []byte) {
	if d.err != nil {
		return
	}
	n, err := io.ReadFull(d.r, p)
	d.off += int64(n)
	d.fail(err)
}

func (d *decoder) fail(err error) {
	if d.err == nil && err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		d.err = err
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d)
	d.fail(err)
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d)
	d.fail(err)
	return v
}

func (d *decoder) float() float64 {
	d.read(d.f[:])
	return math.Float64frombits(binary.LittleEndian.Uint64(d.f[:]))
}

// checkSum reads the trailing checksum and compares it with the hash of
// every byte before it (data after the end marker fails it too).
func (d *decoder) checkSum() {
	if d.err != nil {
		return
	}
	want := d.crc.Sum32()
	var b [4]byte
	if _, err := io.ReadFull(d.r, b[:]); err != nil {
		d.fail(err)
		return
	}
	if got := binary.LittleEndian.Uint32(b[:]); got != want {
		d.err = fmt.Errorf("checksum %08x, want %08x", got, want)
	}
}
