package cqltest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Native protocol v4 opcodes (spec §2.4).
const (
	opError     = 0x00
	opStartup   = 0x01
	opReady     = 0x02
	opOptions   = 0x05
	opSupported = 0x06
	opQuery     = 0x07
	opResult    = 0x08
	opPrepare   = 0x09
	opExecute   = 0x0A
	opRegister  = 0x0B
	opBatch     = 0x0D
)

// Frame header flags (spec §2.2).
const (
	flagCompression   = 0x01
	flagCustomPayload = 0x04
)

// RESULT kinds (spec §4.2.5).
const (
	resultVoid         = 1
	resultRows         = 2
	resultPrepared     = 4
	resultSchemaChange = 5
)

// Rows metadata flags (spec §4.2.5.2).
const (
	metaGlobalTableSpec = 0x01
	metaHasMorePages    = 0x02
	metaNoMetadata      = 0x04
)

// Query parameter flags (spec §4.1.4).
const (
	qpValues            = 0x01
	qpSkipMetadata      = 0x02
	qpPageSize          = 0x04
	qpPagingState       = 0x08
	qpSerialConsistency = 0x10
	qpDefaultTimestamp  = 0x20
	qpNamesForValues    = 0x40
)

// Error codes (spec §9).
const (
	errServer       = 0x0000
	errProtocol     = 0x000A
	errWriteTimeout = 0x1100
	errSyntax       = 0x2000
	errInvalid      = 0x2200
	errUnprepared   = 0x2500
)

const (
	protoVersion = 4
	headerSize   = 9
	maxFrameBody = 256 << 20 // the spec's limit
)

// header is a frame header; a response copies the request's stream.
type header struct {
	version byte // with the direction bit
	flags   byte
	stream  int16
	op      byte
	length  int32
}

// readFrame reads one request frame: its header and body.
func readFrame(r io.Reader) (header, []byte, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return header{}, nil, err
	}
	h := header{
		version: b[0],
		flags:   b[1],
		stream:  int16(binary.BigEndian.Uint16(b[2:4])),
		op:      b[4],
		length:  int32(binary.BigEndian.Uint32(b[5:9])),
	}
	if h.length < 0 || h.length > maxFrameBody {
		return h, nil, fmt.Errorf("frame body length %d out of range", h.length)
	}
	body := make([]byte, h.length)
	if _, err := io.ReadFull(r, body); err != nil {
		return h, nil, err
	}
	return h, body, nil
}

// appendFrame appends a response frame (version 4, direction bit set).
func appendFrame(dst []byte, stream int16, op byte, body []byte) []byte {
	dst = append(dst, 0x80|protoVersion, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(stream))
	dst = append(dst, op)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// errShort is what a reader returns when a body ends too early.
var errShort = errors.New("frame body ends early")

// reader decodes the notation of spec §3 from a frame body. The first
// error sticks; every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) byte() byte {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) short() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) int() int32 {
	if p := r.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

func (r *reader) long() int64 {
	if p := r.take(8); p != nil {
		return int64(binary.BigEndian.Uint64(p))
	}
	return 0
}

func (r *reader) string() string { return string(r.take(int(r.short()))) }

func (r *reader) longString() string { return string(r.take(int(r.int()))) }

func (r *reader) shortBytes() []byte { return r.take(int(r.short())) }

func (r *reader) stringMap() map[string]string {
	n := int(r.short())
	m := make(map[string]string, n)
	for i := 0; i < n && r.err == nil; i++ {
		k := r.string()
		m[k] = r.string()
	}
	return m
}

func (r *reader) stringList() []string {
	n := int(r.short())
	var l []string
	for i := 0; i < n && r.err == nil; i++ {
		l = append(l, r.string())
	}
	return l
}

// skipBytesMap skips a [bytes map] (a custom payload).
func (r *reader) skipBytesMap() {
	n := int(r.short())
	for i := 0; i < n && r.err == nil; i++ {
		r.string()
		r.value()
	}
}

// value reads a [value]: bytes, null (nil, isNull) or not set (unset).
func (r *reader) value() value {
	n := r.int()
	switch {
	case n == -1:
		return value{null: true}
	case n == -2:
		return value{unset: true}
	case n < 0:
		if r.err == nil {
			r.err = fmt.Errorf("invalid value length %d", n)
		}
		return value{}
	}
	return value{b: r.take(int(n))}
}

// value is a bound value as the client sent it.
type value struct {
	b           []byte
	null, unset bool
}

// writer encodes the notation of spec §3.
type writer struct{ b []byte }

func (w *writer) byte(v byte) { w.b = append(w.b, v) }
func (w *writer) short(v int) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *writer) int(v int)   { w.b = binary.BigEndian.AppendUint32(w.b, uint32(int32(v))) }
func (w *writer) string(s string) {
	w.short(len(s))
	w.b = append(w.b, s...)
}
func (w *writer) shortBytes(p []byte) {
	w.short(len(p))
	w.b = append(w.b, p...)
}

// bytes writes [bytes]; nil is null.
func (w *writer) bytes(p []byte) {
	if p == nil {
		w.int(-1)
		return
	}
	w.int(len(p))
	w.b = append(w.b, p...)
}

func (w *writer) stringMultimap(m map[string][]string, keys []string) {
	w.short(len(keys))
	for _, k := range keys {
		w.string(k)
		w.short(len(m[k]))
		for _, v := range m[k] {
			w.string(v)
		}
	}
}

// queryParams are the <query_parameters> of QUERY and EXECUTE.
type queryParams struct {
	consistency  uint16
	values       []value
	named        bool
	skipMetadata bool
	pageSize     int
	pagingState  []byte
}

func (r *reader) queryParams() queryParams {
	var p queryParams
	p.consistency = r.short()
	flags := r.byte()
	p.named = flags&qpNamesForValues != 0
	if flags&qpValues != 0 {
		n := int(r.short())
		for i := 0; i < n && r.err == nil; i++ {
			if p.named {
				r.string()
			}
			p.values = append(p.values, r.value())
		}
	}
	p.skipMetadata = flags&qpSkipMetadata != 0
	if flags&qpPageSize != 0 {
		p.pageSize = int(r.int())
	}
	if flags&qpPagingState != 0 {
		p.pagingState = r.value().b
	}
	if flags&qpSerialConsistency != 0 {
		r.short()
	}
	if flags&qpDefaultTimestamp != 0 {
		r.long()
	}
	return p
}

// batchEntry is one statement of a BATCH: a query string or a prepared id.
type batchEntry struct {
	query    string
	prepared []byte
	values   []value
}

type batchRequest struct {
	kind    byte // 0 logged, 1 unlogged, 2 counter
	entries []batchEntry
}

func (r *reader) batch() batchRequest {
	var b batchRequest
	b.kind = r.byte()
	n := int(r.short())
	for i := 0; i < n && r.err == nil; i++ {
		var e batchEntry
		if r.byte() == 0 {
			e.query = r.longString()
		} else {
			e.prepared = r.shortBytes()
		}
		m := int(r.short())
		for j := 0; j < m && r.err == nil; j++ {
			e.values = append(e.values, r.value())
		}
		b.entries = append(b.entries, e)
	}
	r.short() // consistency
	flags := r.byte()
	if flags&qpSerialConsistency != 0 {
		r.short()
	}
	if flags&qpDefaultTimestamp != 0 {
		r.long()
	}
	return b
}

// cqlError is an ERROR frame's content.
type cqlError struct {
	code int
	msg  string
	// extra is the code-specific tail (spec §9), already encoded.
	extra []byte
}

func (e *cqlError) Error() string { return fmt.Sprintf("cql error 0x%04x: %s", e.code, e.msg) }

func syntaxError(format string, a ...any) *cqlError {
	return &cqlError{code: errSyntax, msg: fmt.Sprintf(format, a...)}
}

func invalidError(format string, a ...any) *cqlError {
	return &cqlError{code: errInvalid, msg: fmt.Sprintf(format, a...)}
}

// writeTimeoutError is what a coordinator answers when replicas did not
// acknowledge a write in time: consistency ONE, 0 of 1 received.
func writeTimeoutError(writeType string) *cqlError {
	var w writer
	w.short(0x0001) // ONE
	w.int(0)
	w.int(1)
	w.string(writeType)
	return &cqlError{code: errWriteTimeout, msg: "Operation timed out - received only 0 responses.", extra: w.b}
}

func unpreparedError(id []byte) *cqlError {
	var w writer
	w.shortBytes(id)
	return &cqlError{code: errUnprepared, msg: fmt.Sprintf("Prepared query with ID %x not found", id), extra: w.b}
}

func (e *cqlError) body() []byte {
	var w writer
	w.int(e.code)
	w.string(e.msg)
	w.b = append(w.b, e.extra...)
	return w.b
}
