// Package discovery decides which servers are in a pool: the server-string
// codec, the Finagle serverset member codec, the ZooKeeper watcher and
// registrar, and the membership policy that merges static servers, the
// serverset and the HTTP add/purge overlay. It knows nothing of rings or
// connections (it must not import proxy or hashring).
//
// Files:
//   - server.go: Server and ParseServer (the relay's server strings).
//   - member.go: MemberData (writer, byte-compatible with Finagle's Gson
//     codec) and ParseMember (lenient reader, as Finagle's Entry.scala).
//   - config.go: ZooKeeperConfig ([zookeeper]) and PoolConfig (the
//     discovery keys of [pools.NAME], embedded by proxy), PoolConfig.Select.
//   - membership.go: Membership, the per-pool policy (debounce, remove
//     delay, empty hold, last known good, static fallback, HTTP overlay).
//   - state.go: StateStore, the last-known-good membership on disk.
//   - watcher.go: Discovery, one ZooKeeper session following every pool's
//     serverset and feeding its Membership.
//   - check.go, registrar.go: health checks, rise/fall, and the Registrar
//     behind cmd/serverset-register.
//   - zkclient.go: the ZooKeeper client both sides use: a handshake time
//     limit, and a fresh client (new session, zxid forgotten) when the old
//     one cannot get a session back (a server restarted empty).
//   - hostprovider.go: the ZooKeeper server list, resolved at each dial so
//     that a name that does not resolve is retried, not fatal.
//   - metrics.go: NewMetrics (relay side); NewRegistrarMetrics is in
//     registrar.go.
//
// Choices where the spec (../shared/research/serversets-cadent.md §5) left
// room or where this package differs from it:
//   - A missing serverset path is an empty serverset; EmptyHold (default
//     30 s) is the grace of W1 before a ring is emptied.
//   - The first successful sync replaces the static servers at once (no
//     debounce); later changes use a fixed window from the first change
//     (not one that each change extends), so a removal reaches the ring at
//     most Debounce after it is seen.
//   - When several members announce one address, or (with instance_from)
//     one instance, the newest registration wins: a backend that
//     re-registered is the live one, the older node belongs to an expiring
//     session.
//   - Reconnect backoff is go-zookeeper's (one pass over the servers, then
//     1 s), not a jittered exponential one (E2); failed syncs back off
//     100 ms..10 s with jitter and retry at once on reconnect. A handshake
//     gets a third of the session timeout (ZooKeeper 3.8.0 can leave a
//     connection it refused unanswered while it starts: ZOOKEEPER-5051),
//     and after 2x the session timeout without a session and 3 failed
//     handshakes per server the client is replaced.
//   - With digest auth, members get all rights for the creator and read for
//     everyone. ZooKeeper checks delete rights on the parent, which is
//     created open as Finagle does, so the ACL guards a member's data and
//     ACL, not its deletion.
//   - The last-known-good membership is persisted (O2) when the relay has a
//     StateStore: a relay restarted while ZooKeeper is down starts on the
//     members it saved (source zookeeper_cache), else on its static servers.
package discovery
