package proxy

import (
	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
)

// rule is a compiled pre-routing rule.
type rule struct {
	re     *matcher
	pool   *Pool // nil with reject
	reject bool
}

// route is what a listener needs to route its lines; it is immutable.
type route struct {
	listener string
	format   line.Format
	rewriter line.Rewriter // nil when lines are forwarded as read
	// keyRewriter, when the format has it, extracts the key and rewrites the
	// line in one pass.
	keyRewriter line.KeyRewriter
	pool        *Pool
	rules       []rule
	metrics     *listenerMetrics
	npools      int
	maxLine     int
}

// batchFlushBytes is the size at which a per-backend batch is handed to its
// queue before the end of the read block. It is also the granularity of
// queue_full drops (a batch is taken or dropped whole).
const batchFlushBytes = 16 << 10

type batch struct {
	b   *backend.Backend
	buf []byte
	n   int
}

// dispatcher routes the lines of one connection (or datagram reader, or HTTP
// request). It is owned by a single goroutine. Lines are appended to
// per-backend batches and handed to the backend queues once per read block
// (flush), so the per-line cost is a hash, a lookup and an append: no lock,
// no channel send, no allocation. Counters are kept locally and added to
// Prometheus on flush.
type dispatcher struct {
	r *route

	scratch []byte // key rewritten by the format
	out     []byte // line rewritten by the format
	idx     []int

	batches map[*backend.Backend]*batch
	active  []*batch
	free    []*batch

	in, rejected uint64
	invalid      [256]uint64
	routed       []uint64 // per pool index
	noMembers    []uint64
	pools        []*Pool
	states       []*poolState // per pool index: the ring last routed on
	ringChanged  bool         // a pool's ring was swapped since the last flush
}

func newDispatcher(r *route) *dispatcher {
	return &dispatcher{
		r: r,
		// Keys and rewritten lines are never longer than a line, so these
		// never grow on the hot path.
		scratch: make([]byte, 0, r.maxLine),
		out:     make([]byte, 0, r.maxLine+64),
		idx:     make([]int, 0, 8),
		batches: map[*backend.Backend]*batch{},
		routed:  make([]uint64, r.npools),
		pools:   make([]*Pool, r.npools),
		states:  make([]*poolState, r.npools),
	}
}

// decision is the outcome of routing one line. Its slices are views valid
// until the dispatcher's next decide.
type decision struct {
	pool *Pool
	st   *poolState
	idx  []int       // indexes into st.backends / st.servers
	key  []byte      // the key the line was routed by
	out  []byte      // the line to forward (rewritten by the format, or as read)
	why  line.Reason // when not OK, why the line is invalid
}

// decide is the one routing decision shared by live traffic and `relay
// route`: key extraction, rules, ring lookup. ok is false when the line is
// not forwarded: dec.why says why for an invalid line; otherwise it was
// rejected by a rule or its pool has no members. Either way it is already
// counted.
func (d *dispatcher) decide(ln []byte) (dec decision, ok bool) {
	if d.r.keyRewriter != nil {
		dec.key, dec.out, dec.why = d.r.keyRewriter.KeyRewrite(d.out[:0], ln)
	} else {
		dec.key, dec.why = d.r.format.Key(d.scratch[:0], ln)
		dec.out = ln
	}
	if dec.why != line.OK {
		if dec.why != line.Empty {
			d.in++
			d.invalid[dec.why]++
		}
		return dec, false
	}
	d.in++
	dec.pool = d.r.pool
	for i := range d.r.rules {
		if d.r.rules[i].re.Match(dec.key) {
			if d.r.rules[i].reject {
				d.rejected++
				return dec, false
			}
			dec.pool = d.r.rules[i].pool
			break
		}
	}
	dec.st, d.idx = dec.pool.lookup(dec.key, d.idx)
	dec.idx = d.idx
	if len(d.idx) == 0 {
		d.countNoMembers(dec.pool)
		return dec, false
	}
	if d.r.rewriter != nil && d.r.keyRewriter == nil {
		d.out = d.r.rewriter.Rewrite(d.out[:0], ln)
		dec.out = d.out
	}
	return dec, true
}

// line routes one line (without its newline) into the batches.
func (d *dispatcher) line(ln []byte) {
	dec, ok := d.decide(ln)
	if !ok {
		return
	}
	p, st, idx, out := dec.pool, dec.st, dec.idx, dec.out
	for _, i := range idx {
		b := st.backends[i]
		bt := d.batches[b]
		if bt == nil {
			bt = d.newBatch(b)
		}
		if bt.n == 0 {
			d.active = append(d.active, bt)
		}
		bt.buf = append(bt.buf, out...)
		bt.buf = append(bt.buf, '\n')
		bt.n++
		if len(bt.buf) >= batchFlushBytes {
			bt.b.Enqueue(bt.buf, bt.n)
			bt.buf, bt.n = bt.buf[:0], 0
			// It stays in active with n == 0; flush skips it.
		}
	}
	d.routed[p.index] += uint64(len(idx))
	d.pools[p.index] = p
	if d.states[p.index] != st {
		d.ringChanged = d.ringChanged || d.states[p.index] != nil
		d.states[p.index] = st
	}
}

func (d *dispatcher) newBatch(b *backend.Backend) *batch {
	var bt *batch
	if n := len(d.free); n > 0 {
		bt, d.free = d.free[n-1], d.free[:n-1]
		bt.b = b
	} else {
		bt = &batch{b: b, buf: make([]byte, 0, 16<<10)}
	}
	d.batches[b] = bt
	return bt
}

func (d *dispatcher) countNoMembers(p *Pool) {
	if len(d.noMembers) == 0 {
		d.noMembers = make([]uint64, len(d.routed))
	}
	d.noMembers[p.index]++
	d.pools[p.index] = p
}

// block routes every line of a block of complete lines.
func (d *dispatcher) block(blk []byte) {
	for len(blk) > 0 {
		var ln []byte
		ln, blk = line.Cut(blk)
		d.line(ln)
	}
}

// flush hands every pending batch to its backend queue and publishes the
// local counters.
func (d *dispatcher) flush() {
	for _, bt := range d.active {
		if bt.n > 0 {
			bt.b.Enqueue(bt.buf, bt.n)
			bt.buf, bt.n = bt.buf[:0], 0
		}
	}
	d.active = d.active[:0]
	// After a ring swap, forget the batches: some may belong to retired
	// backends, which the map must not pin. The buffers are kept for reuse.
	if d.ringChanged {
		for b, bt := range d.batches {
			bt.b = nil
			d.free = append(d.free, bt)
			delete(d.batches, b)
		}
		d.ringChanged = false
	}
	m := d.r.metrics
	if d.in > 0 {
		m.in.Add(float64(d.in))
		d.in = 0
	}
	if d.rejected > 0 {
		m.rejected.Add(float64(d.rejected))
		d.rejected = 0
	}
	for _, r := range line.Reasons() {
		if d.invalid[r] > 0 {
			m.invalid[r].Add(float64(d.invalid[r]))
			d.invalid[r] = 0
		}
	}
	for i, p := range d.pools {
		if p == nil {
			continue
		}
		if d.routed[i] > 0 {
			p.metrics.routed.Add(float64(d.routed[i]))
			d.routed[i] = 0
		}
		if len(d.noMembers) > 0 && d.noMembers[i] > 0 {
			p.metrics.noMembers.Add(float64(d.noMembers[i]))
			d.noMembers[i] = 0
		}
	}
}
