package memory

import "sort"

// bin is one stored point of a series at one resolution (48 bytes).
type bin struct {
	start               int64
	count               int64
	sum, min, max, last float64
}

// minRing is the first allocation of a ring, in bins.
const minRing = 4

// ring holds one series' bins at one resolution, ascending by start, at
// most limit of them (retention / resolution, given to each call). Its
// buffer grows by doubling up to limit, so a series costs memory for the bins it holds, not for the
// bins its retention could hold; once grown, writing a newer bin allocates
// nothing (the oldest is overwritten). Not safe for concurrent use: the
// Store's lock guards it.
type ring struct {
	buf  []bin // circular; bins held are buf[head], buf[head+1], ... (wrapping)
	head int
	n    int
}

// at is the i-th oldest bin held (0 <= i < n).
func (r *ring) at(i int) *bin {
	j := r.head + i
	if j >= len(r.buf) {
		j -= len(r.buf)
	}
	return &r.buf[j]
}

// put stores b, overwriting a bin with the same start, and reports
// whether it was kept: a ring of limit bins that is full keeps the newest
// limit starts, so a bin older than all of them is not.
func (r *ring) put(b bin, limit int) bool {
	if r.n > 0 {
		if newest := r.at(r.n - 1); b.start == newest.start {
			*newest = b // the usual re-emission: the latest bin again
			return true
		} else if b.start < newest.start {
			return r.insert(b, limit)
		}
	}
	if r.n == limit {
		r.dropOldest()
	}
	r.reserve(limit)
	*r.at(r.n) = b
	r.n++
	return true
}

// insert places b (older than the newest bin) in order, or overwrites.
func (r *ring) insert(b bin, limit int) bool {
	i := r.search(b.start)
	if i < r.n && r.at(i).start == b.start {
		*r.at(i) = b
		return true
	}
	if r.n == limit {
		if i == 0 {
			return false // older than every bin a full ring keeps
		}
		r.dropOldest()
		i--
	}
	r.reserve(limit)
	for j := r.n; j > i; j-- {
		*r.at(j) = *r.at(j - 1)
	}
	*r.at(i) = b
	r.n++
	return true
}

// has reports whether a bin with this start is held.
func (r *ring) has(start int64) bool {
	if r.n > 0 && r.at(r.n-1).start == start {
		return true
	}
	i := r.search(start)
	return i < r.n && r.at(i).start == start
}

// search is the index of the first bin whose start is >= start (n if none).
func (r *ring) search(start int64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).start >= start })
}

func (r *ring) dropOldest() {
	r.head++
	if r.head == len(r.buf) {
		r.head = 0
	}
	r.n--
}

// reserve makes room for one more bin (n < limit holds).
func (r *ring) reserve(limit int) {
	if r.n < len(r.buf) {
		return
	}
	r.resize(min(max(2*len(r.buf), minRing), limit))
}

// resize moves the bins held into a buffer of size bins (size >= n).
func (r *ring) resize(size int) {
	buf := make([]bin, size)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.head = buf, 0
}

// expire forgets the bins that start before first, and reports how many
// bins are left.
func (r *ring) expire(first int64) int {
	for r.n > 0 && r.at(0).start < first {
		r.dropOldest()
	}
	return r.n
}

// shrink gives memory back when few of the buffer's bins are in use.
func (r *ring) shrink() {
	switch {
	case r.n == 0:
		r.buf, r.head = nil, 0
	case len(r.buf) > minRing && r.n < len(r.buf)/4:
		r.resize(max(2*r.n, minRing))
	}
}
