package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Checker is a backend health check. Check returns nil when the backend is
// healthy; it must return by the context's deadline. It is called from one
// goroutine at a time.
type Checker interface {
	Check(ctx context.Context) error
	// String is the check as written (tcp://h:p, http://h:p/path, exec:cmd).
	String() string
}

// ParseCheck parses a check spec: tcp://H:P (connect), udp://H:P (send an
// empty datagram; fails only on an ICMP refusal), http://H:P/PATH or
// https://… (GET, 2xx or 3xx passes), exec:CMD (/bin/sh -c CMD exits 0).
func ParseCheck(spec string) (Checker, error) {
	switch {
	case strings.HasPrefix(spec, "exec:"):
		cmd := strings.TrimSpace(strings.TrimPrefix(spec, "exec:"))
		if cmd == "" {
			return nil, fmt.Errorf("failed to parse check %q: empty command", spec)
		}
		return execCheck{spec: spec, cmd: cmd}, nil
	case strings.HasPrefix(spec, "http://"), strings.HasPrefix(spec, "https://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("failed to parse check %q: want http://host:port/path", spec)
		}
		return httpCheck{spec: spec, client: &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		}}, nil
	case strings.HasPrefix(spec, "tcp://"), strings.HasPrefix(spec, "udp://"):
		proto, addr, _ := strings.Cut(spec, "://")
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("failed to parse check %q: want %s://host:port", spec, proto)
		}
		if proto == "udp" {
			return udpCheck{spec: spec, addr: addr}, nil
		}
		return tcpCheck{spec: spec, addr: addr}, nil
	}
	return nil, fmt.Errorf("failed to parse check %q: want tcp://H:P, udp://H:P, http://H:P/PATH or exec:CMD", spec)
}

type tcpCheck struct{ spec, addr string }

func (c tcpCheck) String() string { return c.spec }

func (c tcpCheck) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

type udpCheck struct{ spec, addr string }

func (c udpCheck) String() string { return c.spec }

// Check sends an empty datagram (an empty line to statsd) and waits a
// little for an ICMP port-unreachable, which a connected UDP socket reports
// as a read error. Silence means healthy: UDP backends do not answer.
func (c udpCheck) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(nil); err != nil {
		return err
	}
	wait := 200 * time.Millisecond
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)/2 < wait {
		wait = time.Until(dl) / 2
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("udp %s: connection refused", c.addr)
	}
	return err // nil when the backend answered
}

type httpCheck struct {
	spec   string
	client *http.Client
}

func (c httpCheck) String() string { return c.spec }

func (c httpCheck) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.spec, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: status %s", c.spec, resp.Status)
	}
	return nil
}

type execCheck struct{ spec, cmd string }

func (c execCheck) String() string { return c.spec }

// Check runs the command in its own process group and kills the whole
// group when the deadline passes, so a hung grandchild cannot keep it.
func (c execCheck) Check(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.cmd)
	setProcessGroup(cmd)
	cmd.WaitDelay = 100 * time.Millisecond
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if ctx.Err() != nil {
			return fmt.Errorf("exec %q: timed out", c.cmd)
		}
		return fmt.Errorf("exec %q: %v: %s", c.cmd, err, msg)
	}
	return nil
}

// Health turns check results into a healthy/unhealthy state with rise and
// fall counts: Rise passes in a row make an unhealthy backend healthy, Fall
// failures in a row make a healthy one unhealthy. It starts unhealthy.
type Health struct {
	Rise, Fall int
	healthy    bool
	streak     int // consecutive results contradicting the state
}

// Observe records one result and reports the state after it and whether
// it changed.
func (h *Health) Observe(ok bool) (healthy, changed bool) {
	if ok == h.healthy {
		h.streak = 0
		return h.healthy, false
	}
	h.streak++
	need := max(h.Fall, 1)
	if !h.healthy {
		need = max(h.Rise, 1)
	}
	if h.streak >= need {
		h.healthy, h.streak = ok, 0
		return h.healthy, true
	}
	return h.healthy, false
}

// Healthy reports the current state.
func (h *Health) Healthy() bool { return h.healthy }
