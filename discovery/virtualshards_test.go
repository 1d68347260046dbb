package discovery

import (
	"testing"
	"time"
)

// A statsrelay shard map (proxy's murmur3_shard pools): a backend owns
// several shards, listed once per shard.
func TestMembershipVirtualShards(t *testing.T) {
	runStepsCfg(t, "static shard map keeps repeated servers in config order",
		MembershipConfig{Static: srvs("a:1", "a:1", "b:1", "a:1"), VirtualShards: true}, []step{
			{at: 0, snap: "static:a:1,static:a:1,static:b:1,static:a:1"},
			{at: time.Second, add: "a:1", expect: []string{"1s: static:a:1,static:a:1,static:b:1,static:a:1"}, snap: "static:a:1,static:a:1,static:b:1,static:a:1"},
			{at: 2 * time.Second, purge: "a:1", expect: []string{"2s: static:b:1"}},
		})
	runStepsCfg(t, "without virtual shards a repeated server is listed once",
		MembershipConfig{Static: srvs("a:1", "a:1", "b:1")}, []step{
			{at: 0, snap: "static:a:1,static:b:1"},
		})
	// With instance_from = "shard" the shard is the identity: a shard that
	// leaves while its backend keeps other shards is not a re-registration,
	// so it waits out the remove delay like any leaver.
	shards := PoolConfig{Debounce: dur(time.Second), RemoveDelay: dur(5 * time.Second), InstanceFrom: "shard"}
	runSteps(t, "a shard leaving a backend that keeps others stays in limbo", shards, nil, []step{
		{at: 0, zk: []string{"a:1=0", "b:1=1", "a:1=2"}, expect: []string{"0s: zookeeper:a:1=0,zookeeper:b:1=1,zookeeper:a:1=2"}},
		{at: time.Second, zk: []string{"a:1=0", "b:1=1"}},
		{at: 5999 * time.Millisecond},
		{at: 6 * time.Second, expect: []string{"6s: zookeeper:a:1=0,zookeeper:b:1=1"}},
	})
	runSteps(t, "a shard taken over by another backend is not kept in limbo", shards, nil, []step{
		{at: 0, zk: []string{"a:1=0", "b:1=1", "a:1=2"}, expect: []string{"0s: zookeeper:a:1=0,zookeeper:b:1=1,zookeeper:a:1=2"}},
		{at: time.Second, zk: []string{"a:1=0", "b:1=1", "b:1=2"}},
		{at: 2 * time.Second, expect: []string{"2s: zookeeper:a:1=0,zookeeper:b:1=1,zookeeper:b:1=2"}},
		{at: 10 * time.Second},
	})
}
