// Package discovery decides which servers are in a pool: the server-string
// codec, the Finagle serverset member codec, the ZooKeeper watcher and
// registrar, and the membership policy that merges static servers, the
// serverset and the HTTP add/purge overlay. It knows nothing of rings or
// connections (it must not import proxy or hashring).
package discovery
