package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// The admin servers' timeouts. A client gets readHeaderTimeout to send its
// request line and headers and readTimeout for the whole request with its
// body, however slowly it trickles them (slowloris). /debug/pprof/profile
// and /trace stream for their seconds= (30 s by default) before they
// answer, hence the long write timeout.
const (
	adminReadHeaderTimeout = 10 * time.Second
	adminReadTimeout       = 30 * time.Second
	adminWriteTimeout      = 2 * time.Minute
	adminIdleTimeout       = 2 * time.Minute
	adminMaxHeaderBytes    = 64 << 10
	// adminMaxForm bounds the body of a mutating request (a form of a
	// server and an instance).
	adminMaxForm = 64 << 10
)

// validate reports each bad key of the [admin] section through bad, as
// Config.validate does for the others. It reads token_file, so a file
// that is missing or empty is refused at start and on reload.
func (c AdminConfig) validate(bad func(path []string, format string, args ...any)) {
	at := func(key string) []string { return []string{"admin", key} }
	if c.Listen != "" {
		if err := checkHostPort(c.Listen); err != nil {
			bad(at("listen"), "%v", err)
		}
	}
	if c.MetricsListen != "" {
		if err := checkHostPort(c.MetricsListen); err != nil {
			bad(at("metrics_listen"), "%v", err)
		} else if _, port, _ := net.SplitHostPort(c.MetricsListen); c.MetricsListen == c.Listen && port != "0" {
			bad(at("metrics_listen"), "%q is also admin.listen; the metrics listener needs an address of its own", c.MetricsListen)
		}
	}
	switch {
	case c.Token != "" && c.TokenFile != "":
		bad(at("token_file"), "admin.token and admin.token_file are both set; set one of them")
	case c.Listen != "":
		if _, err := c.readToken(); err != nil {
			key := "token"
			if c.TokenFile != "" {
				key = "token_file"
			}
			bad(at(key), "%v", err)
		}
	}
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/@[]*? \t") {
			bad(at("allowed_hosts"), "entry %d %q: want a host name, without scheme, port or wildcard", i, h)
		}
	}
}

// readToken returns the bearer token ("" when none is set), reading
// token_file when that is set. The token is never part of an error.
func (c AdminConfig) readToken() (string, error) {
	tok := c.Token
	if c.TokenFile != "" {
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return "", fmt.Errorf("failed to read token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("token file %q is empty", c.TokenFile)
		}
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("the token contains white space or control characters; it must fit in an Authorization header")
	}
	return tok, nil
}

// checkHost says why a request's Host header is not to be trusted with a
// mutating request. A page that made its own name resolve to this relay
// (DNS rebinding) is same-origin in the browser's eyes, but its requests
// still carry that name as Host; an IP literal, localhost or a name the
// operator listed cannot be such a name.
func (c AdminConfig) checkHost(hostport string) error {
	if hostport == "" {
		return errors.New("missing Host header")
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	name := strings.TrimSuffix(host, ".")
	if strings.EqualFold(name, "localhost") {
		return nil
	}
	for _, h := range c.AllowedHosts {
		if strings.EqualFold(name, strings.TrimSuffix(h, ".")) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not an IP address, localhost or a name in admin.allowed_hosts (refused: DNS rebinding)", hostport)
}

// loopbackAddr says whether host:port can be reached only from this host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c AdminConfig) timeouts() (readHeader, read time.Duration) {
	readHeader, read = adminReadHeaderTimeout, adminReadTimeout
	if c.readHeaderTimeout > 0 {
		readHeader = c.readHeaderTimeout
	}
	if c.readTimeout > 0 {
		read = c.readTimeout
	}
	return readHeader, read
}
