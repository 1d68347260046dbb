package backend

import (
	"fmt"
	"time"

	"ringrelay/config"
)

// Config is the per-pool backend section: how each backend of the pool
// queues, batches, writes and reconnects. It is embedded in the pool's TOML
// table.
type Config struct {
	// QueueBytes bounds the lines queued for one backend (including the batch
	// being written). A batch that does not fit is dropped as queue_full.
	QueueBytes config.ByteSize `toml:"queue_bytes"`
	// BatchBytes is the most bytes one write carries (a writev of the
	// queue's 64KiB chunks). 256KiB measured best through one backend on
	// loopback (BenchmarkEndToEnd: ~20% more lines/s than 64KiB; 1MiB no
	// better).
	BatchBytes config.ByteSize `toml:"batch_bytes"`
	// FlushInterval is how long the writer may hold a batch smaller than
	// BatchBytes to coalesce more lines into it. 0 (the default) means the
	// writer sends whatever is queued as soon as it is free; batching then
	// comes from lines that queue while a write is in flight.
	FlushInterval config.Duration `toml:"flush_interval"`
	// DialTimeout bounds one connection attempt.
	DialTimeout config.Duration `toml:"dial_timeout"`
	// WriteTimeout bounds one write, and how long bytes written may wait
	// for the peer's first (or next) acknowledgement; either timing out
	// resets the connection and what the peer had not acknowledged is
	// resent on the next one.
	WriteTimeout config.Duration `toml:"write_timeout"`
	// ReconnectMin and ReconnectMax bound the exponential backoff (with
	// jitter) between connection attempts.
	ReconnectMin config.Duration `toml:"reconnect_min"`
	ReconnectMax config.Duration `toml:"reconnect_max"`
	// UDPMaxDatagram is the largest datagram sent to a udp:// backend; each
	// datagram holds whole lines only.
	UDPMaxDatagram config.ByteSize `toml:"udp_max_datagram"`
}

// DefaultConfig returns the defaults: 64MiB queue, writes of up to 256KiB, no
// coalescing delay, 2s dial timeout, 5s write timeout, reconnect backoff from
// 100ms to 10s, 1400-byte UDP datagrams.
func DefaultConfig() Config {
	return Config{
		QueueBytes:     64 << 20,
		BatchBytes:     256 << 10,
		DialTimeout:    config.Duration{Duration: 2 * time.Second},
		WriteTimeout:   config.Duration{Duration: 5 * time.Second},
		ReconnectMin:   config.Duration{Duration: 100 * time.Millisecond},
		ReconnectMax:   config.Duration{Duration: 10 * time.Second},
		UDPMaxDatagram: 1400,
	}
}

// Limits Validate enforces.
const (
	minBatchBytes   = 512
	maxBatchBytes   = 16 << 20
	minUDPDatagram  = 64
	maxUDPDatagram  = 65507 // largest UDP payload over IPv4
	maxFlushWaiting = time.Minute
)

// Validate reports the first setting that is out of range, naming its key.
func (c Config) Validate() error {
	switch {
	case c.BatchBytes < minBatchBytes || c.BatchBytes > maxBatchBytes:
		return fmt.Errorf("invalid batch_bytes %s: want %s..%s", c.BatchBytes, config.ByteSize(minBatchBytes), config.ByteSize(maxBatchBytes))
	case c.QueueBytes < c.BatchBytes:
		return fmt.Errorf("invalid queue_bytes %s: must be at least batch_bytes (%s)", c.QueueBytes, c.BatchBytes)
	case c.FlushInterval.Duration < 0 || c.FlushInterval.Duration > maxFlushWaiting:
		return fmt.Errorf("invalid flush_interval %s: want 0..%s", c.FlushInterval.Duration, maxFlushWaiting)
	case c.DialTimeout.Duration <= 0:
		return fmt.Errorf("invalid dial_timeout %s: must be positive", c.DialTimeout.Duration)
	case c.WriteTimeout.Duration <= 0:
		return fmt.Errorf("invalid write_timeout %s: must be positive", c.WriteTimeout.Duration)
	case c.ReconnectMin.Duration <= 0:
		return fmt.Errorf("invalid reconnect_min %s: must be positive", c.ReconnectMin.Duration)
	case c.ReconnectMax.Duration < c.ReconnectMin.Duration:
		return fmt.Errorf("invalid reconnect_max %s: must be at least reconnect_min (%s)", c.ReconnectMax.Duration, c.ReconnectMin.Duration)
	case c.UDPMaxDatagram < minUDPDatagram || c.UDPMaxDatagram > maxUDPDatagram:
		return fmt.Errorf("invalid udp_max_datagram %d: want %d..%d", c.UDPMaxDatagram, minUDPDatagram, maxUDPDatagram)
	}
	return nil
}

// withDefaults fills the zero fields (other than FlushInterval, whose zero
// is meaningful) from DefaultConfig, so a zero Config works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.QueueBytes == 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = d.BatchBytes
	}
	if c.DialTimeout.Duration == 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.WriteTimeout.Duration == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.ReconnectMin.Duration == 0 {
		c.ReconnectMin = d.ReconnectMin
	}
	if c.ReconnectMax.Duration == 0 {
		c.ReconnectMax = d.ReconnectMax
	}
	if c.UDPMaxDatagram == 0 {
		c.UDPMaxDatagram = d.UDPMaxDatagram
	}
	return c
}
