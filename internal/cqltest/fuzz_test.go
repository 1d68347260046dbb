package cqltest

import (
	"encoding/binary"
	"testing"
	"time"
)

// FuzzParse: no statement text makes the parser panic; what it accepts
// it accepts again from the same text.
func FuzzParse(f *testing.F) {
	for _, s := range append(systemSchema,
		ddlKeyspace, ddlTable, insertRow, `DROP KEYSPACE IF EXISTS ks`,
		`SELECT * FROM system.local WHERE key='local'`,
		`SELECT c, v FROM ks.t WHERE p = ? AND b = 1 AND c >= ? AND c < ? LIMIT 10;`,
		`INSERT INTO ks.t (p, b, c, v) VALUES ('it''s', -1, 2.5, true) USING TTL 60`,
	) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := parse(text); err == nil {
			if _, err := parse(text); err != nil {
				t.Fatalf("%q parsed once, then failed: %v", text, err)
			}
		}
	})
}

// FuzzRequest: no request body, for any opcode, makes the server panic;
// a malformed one is answered with an error frame.
func FuzzRequest(f *testing.F) {
	var w writer
	w.b = binary.BigEndian.AppendUint32(w.b, uint32(len(insertRow)))
	w.b = append(w.b, insertRow...)
	w.short(1) // consistency ONE
	w.byte(qpValues | qpPageSize)
	w.short(1)
	w.bytes([]byte("x"))
	w.int(100)
	for _, op := range []byte{opQuery, opPrepare, opExecute, opBatch, opStartup, opOptions, opRegister} {
		f.Add(op, w.b)
	}
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		s := &Server{store: newStore(time.Now, []byte{127, 0, 0, 1}), prepared: map[string]*prepared{}, stopping: make(chan struct{})}
		for _, text := range []string{ddlKeyspace, ddlTable} {
			if _, err := s.query(text, queryParams{}); err != nil {
				t.Fatal(err)
			}
		}
		s.handle(header{version: protoVersion, op: op}, body)
	})
}
