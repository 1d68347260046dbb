package udpsock

import (
	"net"
	"sync/atomic"
)

// MaxBatch is the largest batch a Reader asks for: the kernel does not
// return more than UIO_MAXIOV (1024) datagrams from one recvmmsg call.
const MaxBatch = 1024

// DefaultBufSize is the buffer size NewReader uses when given none: the
// largest UDP payload over IPv4 is 65507 bytes, so nothing is truncated.
const DefaultBufSize = 65535

// Reader reads datagrams from a UDP socket, several per call where the
// system allows it. Its buffers are allocated once, by NewReader: batch ×
// bufSize bytes, so size bufSize to the largest datagram expected rather
// than to 64 KiB when the batch is large.
//
// Read is not safe for concurrent use; Truncated is.
type Reader struct {
	uc      *net.UDPConn
	batch   int
	bufSize int
	bufs    [][]byte // batch buffers, each of length bufSize (+1 off Linux)
	views   [][]byte // what Read returns, reslices of bufs
	trunc   []bool   // per datagram of the last Read

	truncated atomic.Uint64

	sys sysReader // platform part: recvmmsg state on Linux
}

// NewReader returns a Reader of uc that returns up to batch datagrams per
// Read, each into a buffer of bufSize bytes. A batch below 1 is taken as 1
// and one above MaxBatch as MaxBatch; a bufSize below 1 as DefaultBufSize.
// On systems without recvmmsg the batch is 1 whatever is asked.
func NewReader(uc *net.UDPConn, batch int, bufSize int) *Reader {
	batch = max(1, min(batch, MaxBatch))
	if !batchSupported {
		batch = 1
	}
	if bufSize < 1 {
		bufSize = DefaultBufSize
	}
	r := &Reader{
		uc:      uc,
		batch:   batch,
		bufSize: bufSize,
		bufs:    make([][]byte, batch),
		views:   make([][]byte, batch),
		trunc:   make([]bool, batch),
	}
	// One backing array: the buffers of a batch sit next to each other.
	per := bufSize + bufExtra
	backing := make([]byte, batch*per)
	for i := range r.bufs {
		r.bufs[i] = backing[i*per : (i+1)*per : (i+1)*per]
	}
	r.sys.init(r)
	return r
}

// Batch returns the most datagrams one Read returns.
func (r *Reader) Batch() int { return r.batch }

// BufSize returns the size of each datagram buffer: longer datagrams are
// truncated to it.
func (r *Reader) BufSize() int { return r.bufSize }

// Read blocks until at least one datagram is queued on the socket (or the
// read deadline of the conn passes) and returns the queued datagrams, up to
// the batch size, in the order the kernel queued them. The slices point
// into the Reader's buffers and are valid until the next Read; the caller
// copies what it keeps. A zero-length datagram is returned as an empty
// slice.
//
// Read returns either at least one datagram and a nil error or no datagram
// and an error. Once the conn is closed, the error wraps net.ErrClosed,
// including for a Read blocked at the time of the Close; past a deadline it
// wraps os.ErrDeadlineExceeded. Other errors (such as ECONNREFUSED on a
// connected socket) do not make the Reader unusable.
func (r *Reader) Read() ([][]byte, error) {
	n, err := r.sys.read(r)
	if err != nil {
		return nil, err
	}
	return r.views[:n], nil
}

// WasTruncated reports whether datagram i of the last Read was longer than
// the buffer and so was cut to BufSize bytes by the kernel. Its lines past
// the cut are lost and the last line returned is likely incomplete.
func (r *Reader) WasTruncated(i int) bool { return r.trunc[i] }

// Truncated returns how many datagrams this Reader has returned truncated
// since it was made. It may be called from any goroutine.
func (r *Reader) Truncated() uint64 { return r.truncated.Load() }
