package backend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
)

// Budget bounds the bytes queued over all the backends of a relay, on top of
// each backend's own queue_bytes. Every Backend built with the same
// Options.Budget draws on it.
//
// Enqueue takes a batch's bytes with one compare-and-swap (no lock, no
// allocation): the batch fits or it is dropped whole, counted as
// global_queue_full. The bytes come back when they are sent, or dropped at
// Close. So the bytes held never exceed the limit, except after SetLimit
// lowered it below what was already held: nothing queued is dropped then,
// new batches are refused until enough has drained.
//
// All methods may be called from any goroutine. The Budget outlives the
// backends using it (keep it across reloads, change it with SetLimit).
type Budget struct {
	// used and limit share a cache line: Enqueue reads one and writes the other.
	used  atomic.Int64
	limit atomic.Int64 // 0: unlimited
}

// NewBudget returns a budget of limit bytes (<= 0: unlimited, the bytes are
// only counted). With m not nil it is the budget that m exports as
// ringrelay_backend_queue_global_bytes and
// ringrelay_backend_queue_global_limit_bytes (one budget per Metrics: the
// last one created wins).
func NewBudget(limit int64, m *Metrics) *Budget {
	g := &Budget{}
	g.SetLimit(limit)
	if m != nil {
		m.budget.Store(g)
	}
	return g
}

// Used is how many bytes the backends hold now (queued or being written).
func (g *Budget) Used() int64 { return g.used.Load() }

// Limit is the bound in bytes; 0 means unlimited.
func (g *Budget) Limit() int64 { return g.limit.Load() }

// SetLimit changes the bound (<= 0: unlimited), e.g. on a config reload.
// Lowering it below Used drops nothing already queued; new batches are
// refused until Used is low enough for them.
func (g *Budget) SetLimit(limit int64) { g.limit.Store(max(limit, 0)) }

// take reserves n bytes, or reports false if they would exceed the limit.
// It is on the Enqueue path: one atomic op when uncontended, no allocation.
func (g *Budget) take(n int64) bool {
	for {
		lim := g.limit.Load()
		if lim == 0 {
			g.used.Add(n)
			return true
		}
		u := g.used.Load()
		if u+n > lim {
			return false
		}
		if g.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// give returns n bytes taken before.
func (g *Budget) give(n int64) {
	if n != 0 {
		g.used.Add(-n)
	}
}

// fallbackMemory is the memory DefaultMaxQueueBytes assumes when it can read
// neither the cgroup limit nor /proc/meminfo.
const fallbackMemory = 4 << 30

// DefaultMaxQueueBytes is the default global queue bound (for NewBudget): a
// quarter of the memory this process may use. That memory is the smaller of
// the cgroup v2 limit (/sys/fs/cgroup/memory.max, when it is not "max") and
// the machine's MemTotal (/proc/meminfo); when neither can be read it is
// taken to be 4 GiB, so the default is 1 GiB.
func DefaultMaxQueueBytes() int64 { return defaultMaxQueueBytes(os.ReadFile) }

func defaultMaxQueueBytes(readFile func(string) ([]byte, error)) int64 {
	mem := int64(-1)
	if b, err := readFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64); err == nil && v > 0 {
			mem = v
		}
	}
	if b, err := readFile("/proc/meminfo"); err == nil {
		if v, err := memTotal(b); err == nil && (mem < 0 || v < mem) {
			mem = v
		}
	}
	if mem <= 0 {
		mem = fallbackMemory
	}
	return mem / 4
}

// memTotal parses the "MemTotal: <n> kB" line of /proc/meminfo.
func memTotal(meminfo []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		rest = bytes.TrimSpace(rest)
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("failed to parse MemTotal %q: want <n> kB", rest)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb <= 0 {
			return 0, fmt.Errorf("failed to parse MemTotal %q: want a positive number of kB", rest)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}
