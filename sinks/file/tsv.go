package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"ringrelay/sinks"
)

// rotatedLayout is the time suffix of a rotated file's name (UTC).
const rotatedLayout = "20060102T150405Z"

// writer appends batches to the current file of each resolution; it is
// the sinks.BatchWriter behind the Sink's queue. WriteBatch runs on the
// queue's goroutine; its lock is shared with the fsync = "interval" syncer
// and close.
type writer struct {
	dir  string
	cfg  Config
	log  *zap.Logger
	now  func() time.Time
	dirs bool // sync the directory after renames and creations

	syncErrors atomic.Uint64 // failed syncs outside WriteBatch

	index map[int64]int // level by resolution (seconds)

	mu    sync.Mutex
	files []*tsvFile // by level
	rows  [][]byte   // by level: the batch being written, reused
}

// tsvFile is one resolution's current file.
type tsvFile struct {
	path  string // dir/NAME.<res>.tsv
	f     *os.File
	size  int64
	first time.Time // when its first row was written
	dirty bool      // written since its last sync
}

func openWriter(name string, c Config, levels []level, log *zap.Logger, now func() time.Time) (*writer, error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("dir %q: failed to create: %w", c.Dir, err)
	}
	w := &writer{dir: c.Dir, cfg: c, log: log, now: now, dirs: c.Fsync != FsyncNever,
		index: make(map[int64]int), rows: make([][]byte, len(levels))}
	for i, l := range levels {
		f := &tsvFile{path: filepath.Join(c.Dir, name+"."+resLabel(l.res)+".tsv")}
		w.files = append(w.files, f)
		w.index[l.res] = i
		if err := w.start(f); err != nil {
			w.close()
			return nil, err
		}
	}
	return w, nil
}

// resLabel writes a resolution in its largest whole unit: 10s, 1m, 1h, 1d.
func resLabel(sec int64) string {
	for _, u := range []struct {
		sec  int64
		unit string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}} {
		if sec%u.sec == 0 {
			return strconv.FormatInt(sec/u.sec, 10) + u.unit
		}
	}
	return strconv.FormatInt(sec, 10) + "s"
}

// start rotates what an earlier run left in f's current file and opens a
// fresh one.
func (w *writer) start(f *tsvFile) error {
	fi, err := os.Stat(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("failed to stat %q: %w", f.path, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%q: not a regular file", f.path)
	case fi.Size() > 0:
		if err := w.rename(f); err != nil {
			return err
		}
	}
	return w.reopen(f)
}

// reopen opens f's current file for appending.
func (w *writer) reopen(f *tsvFile) error {
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open %q: %w", f.path, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return fmt.Errorf("failed to stat %q: %w", f.path, err)
	}
	f.f, f.size, f.first, f.dirty = fh, fi.Size(), time.Time{}, false
	if f.size > 0 {
		f.first = w.now()
	}
	return w.syncDir()
}

// WriteBatch appends pts to their resolutions' files, rotating first where
// due; with fsync = "batch" it syncs them before returning. Every point's
// resolution is one of the writer's (Sink.Write filtered the rest).
func (w *writer) WriteBatch(ctx context.Context, pts []sinks.Point) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.rows {
		w.rows[i] = w.rows[i][:0]
	}
	for i := range pts {
		p := &pts[i]
		if li, ok := w.index[p.Resolution]; ok { // Sink.Write lets no other through
			w.rows[li] = appendRow(w.rows[li], p)
		}
	}
	var errs []error
	for li, rows := range w.rows {
		if len(rows) > 0 {
			errs = append(errs, w.append(w.files[li], rows))
		}
	}
	return errors.Join(errs...)
}

// appendRow appends p as one TSV row.
func appendRow(b []byte, p *sinks.Point) []byte {
	b = append(b, p.Path...)
	b = append(b, '\t')
	b = strconv.AppendInt(b, p.Resolution, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, p.Start, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, p.Count, 10)
	for _, v := range [...]float64{p.Sum, p.Min, p.Max, p.Last} {
		b = append(b, '\t')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, '\n')
}

// append writes rows to f's current file, rotating it first when due. A
// failed write is cut off again, so the file never keeps half a row.
func (w *writer) append(f *tsvFile, rows []byte) error {
	if f.f == nil { // a rotation failed to open the next file
		if err := w.reopen(f); err != nil {
			return err
		}
	}
	now := w.now()
	if f.size > 0 && (f.size+int64(len(rows)) > int64(w.cfg.RotateBytes) || now.Sub(f.first) >= w.cfg.RotateAge.Duration) {
		if err := w.rotate(f); err != nil {
			return err
		}
	}
	if f.size == 0 {
		f.first = now
	}
	if _, err := f.f.Write(rows); err != nil {
		if terr := f.f.Truncate(f.size); terr != nil {
			w.log.Error("failed to cut off a failed write", zap.String("file", f.path), zap.Error(terr))
		}
		return fmt.Errorf("failed to write to %q: %w", f.path, err)
	}
	f.size += int64(len(rows))
	f.dirty = true
	if w.cfg.Fsync == FsyncBatch {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("failed to sync %q: %w", f.path, err)
		}
		f.dirty = false
	}
	return nil
}

// rotate closes f's current file, renames it with the time, opens a new
// one and removes the oldest rotated files beyond max_files.
func (w *writer) rotate(f *tsvFile) error {
	err := w.closeFile(f)
	if err != nil {
		return err
	}
	if err := w.rename(f); err != nil {
		return err
	}
	return w.reopen(f)
}

// rename gives f's current file its rotated name and prunes.
func (w *writer) rename(f *tsvFile) error {
	base := f.path + "." + w.now().UTC().Format(rotatedLayout)
	to := base
	for n := 1; ; n++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		if n > 999 {
			return fmt.Errorf("failed to rotate %q: %s and 999 more names are taken", f.path, base)
		}
		to = fmt.Sprintf("%s-%03d", base, n)
	}
	if err := os.Rename(f.path, to); err != nil {
		return fmt.Errorf("failed to rotate %q: %w", f.path, err)
	}
	w.log.Info("file rotated", zap.String("file", to))
	w.prune(f)
	return nil
}

// prune removes f's oldest rotated files beyond max_files; a failure is
// logged (the files are there to be removed again next time).
func (w *writer) prune(f *tsvFile) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Error("failed to list rotated files", zap.String("dir", w.dir), zap.Error(err))
		return
	}
	prefix := filepath.Base(f.path) + "."
	var rotated []string
	for _, e := range entries {
		if suffix, ok := strings.CutPrefix(e.Name(), prefix); ok && e.Type().IsRegular() && isRotatedSuffix(suffix) {
			rotated = append(rotated, e.Name())
		}
	}
	slices.Sort(rotated)
	for _, name := range rotated[:max(len(rotated)-w.cfg.MaxFiles, 0)] {
		path := filepath.Join(w.dir, name)
		if err := os.Remove(path); err != nil {
			w.log.Error("failed to remove a rotated file", zap.String("file", path), zap.Error(err))
			continue
		}
		w.log.Info("rotated file removed (max_files)", zap.String("file", path))
	}
}

// isRotatedSuffix reports whether s is a rotation time with its optional
// "-NNN".
func isRotatedSuffix(s string) bool {
	ts, n, _ := strings.Cut(s, "-")
	if _, err := time.Parse(rotatedLayout, ts); err != nil {
		return false
	}
	if n == "" {
		return !strings.Contains(s, "-")
	}
	_, err := strconv.Atoi(n)
	return len(n) == 3 && err == nil
}

// syncDir makes renames and creations in the directory durable (unless
// fsync = "never").
func (w *writer) syncDir() error {
	if !w.dirs {
		return nil
	}
	d, err := os.Open(w.dir)
	if err != nil {
		return fmt.Errorf("failed to open dir %q to sync it: %w", w.dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("failed to sync dir %q: %w", w.dir, err)
	}
	return nil
}

// syncDirty syncs the files written to since their last sync (fsync =
// "interval"); a failure is logged and counted.
func (w *writer) syncDirty() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.files {
		if f.f == nil || !f.dirty {
			continue
		}
		if err := f.f.Sync(); err != nil {
			w.syncErrors.Add(1)
			w.log.Error("failed to sync", zap.String("file", f.path), zap.Error(err))
			continue
		}
		f.dirty = false
	}
}

// closeFile syncs (unless fsync = "never") and closes f's current file.
func (w *writer) closeFile(f *tsvFile) error {
	if f.f == nil {
		return nil
	}
	var err error
	if w.cfg.Fsync != FsyncNever && f.dirty {
		if err = f.f.Sync(); err != nil {
			err = fmt.Errorf("failed to sync %q: %w", f.path, err)
		}
	}
	if cerr := f.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("failed to close %q: %w", f.path, cerr)
	}
	f.f = nil
	return err
}

// close closes every current file.
func (w *writer) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for _, f := range w.files {
		errs = append(errs, w.closeFile(f))
	}
	return errors.Join(errs...)
}
