package proxy

import (
	"sync"
	"time"

	"ringrelay/proxy/backend"
	"ringrelay/proxy/line"
)

// rule is a compiled pre-routing rule.
type rule struct {
	re     *matcher
	pool   *Pool  // nil with reject or an aggregator
	agg    *aggRT // the aggregator matching lines go to, or nil
	reject bool
}

// route is what a listener needs to route its lines: one listener's part of
// the router, built from one config and never changed. A reload builds new
// routes and swaps them into the listeners it keeps; each dispatcher picks
// up its listener's new route at its next block.
type route struct {
	cfg      ListenerConfig
	listener string
	format   line.Format
	rewriter line.Rewriter // nil when lines are forwarded as read
	// keyRewriter, when the format has it, extracts the key and rewrites the
	// line in one pass.
	keyRewriter line.KeyRewriter
	pool        *Pool  // nil when the listener feeds an aggregator
	agg         *aggRT // the listener's aggregator, or nil
	rules       []rule
	metrics     *listenerMetrics
	npools      int // pool indexes this route's pools use are below it
	maxLine     int
	idle        time.Duration // idle_timeout of a stream connection
	// direct: every line goes to agg as read, unparsed here (a listener
	// of the aggregator's own format feeding it, with no rules): the
	// accumulator parses each line once and counts the bad ones as its
	// daemon does (statsd's bad_lines_seen), so a line Etsy statsd takes
	// (any unknown type is a counter) is taken here too.
	direct bool
	// datagrams: direct, and the aggregator is statsd's, which takes a
	// datagram whole (one packets_received) and splits it itself, so a
	// UDP reader hands datagrams over without cutting them into lines.
	datagrams bool
}

// batchFlushBytes is the size at which a per-backend batch is handed to its
// queue before the end of the read block. It is also the granularity of
// queue_full drops (a batch is taken or dropped whole).
const batchFlushBytes = 16 << 10

type batch struct {
	b   *backend.Backend
	box *bufBox // the lines, from a size class that fits them
	n   int
}

// bufBox holds a batch's buffer; boxes are pooled by size class.
type bufBox struct {
	buf   []byte
	class int
}

// batchClasses are the buffer sizes a batch grows through. A block of
// lines spread over many backends (a pool of 2,000 members) takes a small
// buffer per backend, not 16 KiB each: what a connection holds while it
// routes a block is about twice the bytes it routes, whatever the pool
// size.
var batchClasses = [...]int{512, 4 << 10, batchFlushBytes + 4<<10}

// Boxes and batches are shared by every dispatcher of the process and held
// only between a block's first line for a backend and the block's flush,
// so an idle connection holds no batch memory however many backends it
// wrote to.
var (
	boxPools  [len(batchClasses)]sync.Pool
	batchPool = sync.Pool{New: func() any { return new(batch) }}
	_         = initBoxPools()
)

func initBoxPools() bool {
	for i, size := range batchClasses {
		boxPools[i].New = func() any { return &bufBox{buf: make([]byte, 0, size), class: i} }
	}
	return true
}

// grow moves bt to a buffer of the smallest class that holds need bytes
// (a buffer of its own beyond the largest class: a very long line).
func (bt *batch) grow(need int) {
	old := bt.box
	var nb *bufBox
	for i := old.class + 1; i < len(batchClasses); i++ {
		if batchClasses[i] >= need {
			nb = boxPools[i].Get().(*bufBox)
			break
		}
	}
	if nb == nil {
		nb = &bufBox{buf: make([]byte, 0, need), class: -1}
	}
	nb.buf = append(nb.buf[:0], old.buf...)
	putBox(old)
	bt.box = nb
}

func putBox(bx *bufBox) {
	if bx.class >= 0 {
		bx.buf = bx.buf[:0]
		boxPools[bx.class].Put(bx)
	}
}

// dispatcher routes the lines of one connection (or datagram reader, or HTTP
// request). It is owned by a single goroutine. Lines are appended to
// per-backend batches and handed to the backend queues once per read block
// (flush), so the per-line cost is a hash, a lookup and an append: no lock,
// no channel send, no allocation. Batches come from a process-wide pool at
// a backend's first line in a block and go back at flush, so nothing is
// pinned between blocks (not a retired backend, not 16 KiB per backend of an
// idle connection). Counters are kept locally and added to Prometheus on
// flush.
type dispatcher struct {
	r *route

	scratch []byte // key rewritten by the format
	out     []byte // line rewritten by the format
	idx     []int

	batches map[*backend.Backend]*batch
	active  []*batch

	in, rejected uint64
	invalid      [256]uint64
	routed       []uint64 // per pool index
	noMembers    []uint64
	pools        []*Pool
	aggs         []aggBatch // lines for aggregators, handed over at flush

	// blockBytes are the bytes batched since the last flush; startClass
	// is the buffer class new batches start in: the one the previous
	// block's average batch needed, so a few busy backends do not copy
	// their batches up through the classes, and a pool of thousands of
	// members still starts each batch small.
	blockBytes int
	startClass int
}

func newDispatcher(r *route) *dispatcher {
	d := &dispatcher{idx: make([]int, 0, 8), batches: map[*backend.Backend]*batch{}}
	d.reset(r)
	return d
}

// reset points the dispatcher at route r (after a reload), once its
// counters have been flushed.
func (d *dispatcher) reset(r *route) {
	d.r = r
	if len(d.routed) < r.npools {
		d.routed = make([]uint64, r.npools)
		d.pools = make([]*Pool, r.npools)
		d.noMembers = nil
	}
}

// decision is the outcome of routing one line. Its slices are views valid
// until the dispatcher's next decide.
type decision struct {
	pool *Pool
	agg  *aggRT // the line goes to this aggregator (pool and st are nil)
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
	// A key is never longer than its line, nor a rewritten line more than
	// 64 bytes longer: sized here, the formats never allocate.
	if d.r.direct {
		if len(ln) == 0 {
			return dec, false
		}
		d.in++
		dec.agg, dec.out = d.r.agg, ln
		return dec, true
	}
	if len(ln)+64 > cap(d.scratch) {
		d.growScratch(len(ln) + 64)
	}
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
	dec.pool, dec.agg = d.r.pool, d.r.agg
	for i := range d.r.rules {
		if d.r.rules[i].re.Match(dec.key) {
			if d.r.rules[i].reject {
				d.rejected++
				return dec, false
			}
			dec.pool, dec.agg = d.r.rules[i].pool, d.r.rules[i].agg
			break
		}
	}
	if dec.agg != nil {
		dec.out = ln // the accumulator parses the line as read
		return dec, true
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
	if dec.agg != nil {
		d.toAggregator(dec.agg, ln)
		return
	}
	p, st, idx, out := dec.pool, dec.st, dec.idx, dec.out
	for _, i := range idx {
		b := st.backends[i]
		bt := d.batches[b]
		if bt == nil {
			bt = d.newBatch(b)
			d.active = append(d.active, bt)
		}
		if need := len(bt.box.buf) + len(out) + 1; need > cap(bt.box.buf) {
			bt.grow(need)
		}
		bt.box.buf = append(bt.box.buf, out...)
		bt.box.buf = append(bt.box.buf, '\n')
		bt.n++
		d.blockBytes += len(out) + 1
		if len(bt.box.buf) >= batchFlushBytes {
			bt.b.Enqueue(bt.box.buf, bt.n)
			bt.box.buf, bt.n = bt.box.buf[:0], 0
			// It stays in active with n == 0; flush skips it.
		}
	}
	d.routed[p.index] += uint64(len(idx))
	d.pools[p.index] = p
}

// scratchKeep is the scratch space a dispatcher keeps between blocks: a
// long line (max_line allows up to 1 MiB) gets more for its block only.
const scratchKeep = 4 << 10

func (d *dispatcher) growScratch(n int) {
	n = max(n, scratchKeep)
	d.scratch = make([]byte, 0, n)
	d.out = make([]byte, 0, n)
}

func (d *dispatcher) newBatch(b *backend.Backend) *batch {
	bt := batchPool.Get().(*batch)
	bt.b, bt.box = b, boxPools[d.startClass].Get().(*bufBox)
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
	if n := len(d.active); n > 0 {
		avg := d.blockBytes / n
		d.startClass = 0
		for d.startClass < len(batchClasses)-1 && batchClasses[d.startClass] < avg+avg/4 {
			d.startClass++
		}
	}
	d.blockBytes = 0
	for i, bt := range d.active {
		if bt.n > 0 {
			bt.b.Enqueue(bt.box.buf, bt.n)
		}
		putBox(bt.box)
		bt.b, bt.box, bt.n = nil, nil, 0
		batchPool.Put(bt)
		d.active[i] = nil
	}
	d.active = d.active[:0]
	clear(d.batches)
	d.flushAggregators()
	if cap(d.scratch) > scratchKeep {
		d.scratch, d.out = nil, nil
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
