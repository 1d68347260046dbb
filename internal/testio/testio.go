// Package testio has what tests share to watch a running command or
// server's output.
package testio

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that goroutines (a command under test, a
// child process's output copier) write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
