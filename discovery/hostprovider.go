package discovery

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// hostProvider hands the ZooKeeper client its servers, resolving names on
// the client's connect goroutine rather than in Connect. go-zookeeper's
// default provider resolves every name once, inside Connect, and makes
// Connect fail when any one of them does not resolve: DNS down while the
// relay starts, or one ensemble member gone from DNS, would leave
// discovery and the registrar without ZooKeeper for the life of the
// process.
//
// Like the default provider, it expands each name to all its addresses and
// tries them in a shuffled order, one pass at a time (the client waits a
// second between passes). A name that does not resolve stays in the list
// as written, so its dial fails like an unreachable server's. The names are
// resolved again after every pass that found no server, so servers that
// moved to new addresses are followed.
type hostProvider struct {
	// lookup resolves a host name; nil means net.DefaultResolver.
	lookup func(ctx context.Context, host string) ([]string, error)

	mu         sync.Mutex
	servers    []string // as configured (host:port)
	addrs      []string // the current pass's addresses
	curr, last int
}

var _ zk.HostProvider = (*hostProvider)(nil)

const hostLookupTimeout = 3 * time.Second

// Init keeps the servers; it resolves nothing and never fails.
func (hp *hostProvider) Init(servers []string) error {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.servers = append([]string(nil), servers...)
	hp.addrs = nil
	hp.curr, hp.last = -1, -1
	return nil
}

// Len returns the number of addresses of the current pass (of servers
// before the first Next).
func (hp *hostProvider) Len() int {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hp.addrs == nil {
		return len(hp.servers)
	}
	return len(hp.addrs)
}

// Next returns the next address; retryStart is true when a whole pass
// since the last connection has failed (the names are then resolved anew).
func (hp *hostProvider) Next() (server string, retryStart bool) {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	if hp.addrs == nil {
		hp.resolveLocked()
	}
	hp.curr = (hp.curr + 1) % len(hp.addrs)
	retryStart = hp.curr == hp.last
	if hp.last == -1 {
		hp.last = 0
	}
	if retryStart {
		hp.resolveLocked()
		hp.curr, hp.last = 0, 0
	}
	return hp.addrs[hp.curr], retryStart
}

// Connected records that the current address worked.
func (hp *hostProvider) Connected() {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.last = hp.curr
}

func (hp *hostProvider) resolveLocked() {
	lookup := hp.lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupHost
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostLookupTimeout)
	defer cancel()
	addrs := make([]string, 0, len(hp.servers))
	for _, s := range hp.servers {
		host, port, err := net.SplitHostPort(s)
		if err != nil || net.ParseIP(host) != nil {
			addrs = append(addrs, s)
			continue
		}
		ips, err := lookup(ctx, host)
		if err != nil || len(ips) == 0 {
			addrs = append(addrs, s) // its dial fails and is retried
			continue
		}
		for _, ip := range ips {
			addrs = append(addrs, net.JoinHostPort(ip, port))
		}
	}
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	hp.addrs = addrs
}
