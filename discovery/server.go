package discovery

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Server is one backend as the relay addresses it: how to reach it and the
// identity it has on a hash ring. Servers are values; two Servers with the
// same ID are the same ring member.
type Server struct {
	// Proto is "tcp", "udp" or "unix".
	Proto string
	// Host is the host name or IP as written (no brackets for IPv6); for
	// unix sockets it is the socket path.
	Host string
	// Port is 0 for unix sockets.
	Port int
	// Instance is the optional ring instance name (carbon's third field,
	// carbon-c-relay's "=instance").
	Instance string
	// Raw is the server as written in the config or HTTP request; for members
	// read from ZooKeeper it is the canonical String form.
	Raw string
}

// Addr is the dialable address: host:port, or the socket path.
func (s Server) Addr() string {
	if s.Proto == "unix" {
		return s.Host
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// ID is the ring identity: proto, address and instance.
func (s Server) ID() string {
	id := s.Proto + "://" + s.Addr()
	if s.Instance != "" {
		id += "=" + s.Instance
	}
	return id
}

// String is the canonical server string: host:port[=instance] for TCP, with
// a proto:// prefix for the others.
func (s Server) String() string {
	str := s.Addr()
	if s.Proto != "tcp" {
		str = s.Proto + "://" + str
	}
	if s.Instance != "" {
		str += "=" + s.Instance
	}
	return str
}

// Display is how the server is shown to operators and in `relay route`:
// exactly as written when it came from text, else the canonical form.
func (s Server) Display() string {
	if s.Raw != "" {
		return s.Raw
	}
	return s.String()
}

// ParseServer parses `[tcp://|udp://|unix://]host:port[=instance]` (IPv6
// hosts in brackets; for unix, the socket path instead of host:port). The
// instance may not be empty when '=' is given, and may not contain spaces.
func ParseServer(s string) (Server, error) {
	srv := Server{Proto: "tcp", Raw: s}
	rest := s
	if i := strings.Index(rest, "://"); i >= 0 {
		srv.Proto = rest[:i]
		rest = rest[i+3:]
		switch srv.Proto {
		case "tcp", "udp", "unix":
		default:
			return Server{}, fmt.Errorf("failed to parse server %q: unknown protocol %q (want tcp, udp or unix)", s, srv.Proto)
		}
	}
	if i := strings.LastIndexByte(rest, '='); i >= 0 {
		srv.Instance = rest[i+1:]
		rest = rest[:i]
		if srv.Instance == "" {
			return Server{}, fmt.Errorf("failed to parse server %q: empty instance after '='", s)
		}
		if strings.ContainsAny(srv.Instance, " \t\r\n,") {
			return Server{}, fmt.Errorf("failed to parse server %q: instance %q contains a space or comma", s, srv.Instance)
		}
	}
	if srv.Proto == "unix" {
		if rest == "" || strings.ContainsAny(rest, "\x00\n") {
			return Server{}, fmt.Errorf("failed to parse server %q: want unix:///path/to/socket", s)
		}
		srv.Host = rest
		return srv, nil
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return Server{}, fmt.Errorf("failed to parse server %q: want host:port: %v", s, err)
	}
	if host == "" || strings.ContainsAny(host, " \t\r\n,=/") {
		return Server{}, fmt.Errorf("failed to parse server %q: bad host %q", s, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return Server{}, fmt.Errorf("failed to parse server %q: port %q is not in 1..65535", s, port)
	}
	srv.Host, srv.Port = host, p
	return srv, nil
}
