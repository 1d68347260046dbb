package discovery

import (
	"sync"

	"github.com/go-zookeeper/zk"
)

// hostProvider hands the ZooKeeper client the servers as configured and
// leaves name resolution to each dial. go-zookeeper's default provider
// resolves every name once, inside Connect, and makes Connect fail when
// any one of them does not resolve: DNS down while the relay starts, or one
// ensemble member gone from DNS, would leave discovery and the registrar
// without ZooKeeper for the life of the process. Resolving at dial time
// turns that into an unreachable server, retried like any other, and
// follows servers that move to new addresses.
//
// Rotation is the default provider's: one pass over the servers (shuffled
// by Connect), then the client waits a second before the next pass.
type hostProvider struct {
	mu         sync.Mutex
	servers    []string
	curr, last int
}

var _ zk.HostProvider = (*hostProvider)(nil)

// Init keeps the servers; it never fails.
func (hp *hostProvider) Init(servers []string) error {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.servers = append([]string(nil), servers...)
	hp.curr, hp.last = -1, -1
	return nil
}

// Len returns the number of servers.
func (hp *hostProvider) Len() int {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	return len(hp.servers)
}

// Next returns the next server; retryStart is true when a whole pass since
// the last connection has failed.
func (hp *hostProvider) Next() (server string, retryStart bool) {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.curr = (hp.curr + 1) % len(hp.servers)
	retryStart = hp.curr == hp.last
	if hp.last == -1 {
		hp.last = 0
	}
	return hp.servers[hp.curr], retryStart
}

// Connected records that the current server worked.
func (hp *hostProvider) Connected() {
	hp.mu.Lock()
	defer hp.mu.Unlock()
	hp.last = hp.curr
}
