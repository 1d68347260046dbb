package proxy

import (
	"go.uber.org/zap"

	"ringrelay/sinks"
	"ringrelay/sinks/cassandra"
	"ringrelay/sinks/file"
	"ringrelay/sinks/memory"
	"ringrelay/sinks/mysql"
)

// The kinds' own config structs, under names that can be embedded side by
// side in SinkConfig (each package calls its struct Config).
type (
	// MemoryConfig is kind "memory"'s keys (sinks/memory).
	MemoryConfig = memory.Config
	// FileConfig is kind "file"'s keys (sinks/file).
	FileConfig = file.Config
	// MySQLConfig is kind "mysql"'s keys (sinks/mysql).
	MySQLConfig = mysql.Config
	// CassandraConfig is kind "cassandra"'s keys (sinks/cassandra).
	CassandraConfig = cassandra.Config
)

// sinkKindConfigs embeds each kind's own keys; they sit directly in the
// [sinks.NAME] section.
type sinkKindConfigs struct {
	MemoryConfig
	FileConfig
	MySQLConfig
	CassandraConfig
}

func sinkKindDefaults() sinkKindConfigs {
	return sinkKindConfigs{MemoryConfig: memory.DefaultConfig(), FileConfig: file.DefaultConfig(),
		MySQLConfig: mysql.DefaultConfig(), CassandraConfig: cassandra.DefaultConfig()}
}

// sinkKinds are the kinds of sink, by the name kind = "..." gives.
var sinkKinds = map[string]sinkKind{
	"memory": {
		keys:     tomlKeys(memory.Config{}),
		validate: func(c SinkConfig) error { return c.MemoryConfig.Validate() },
		open: func(name string, c SinkConfig, log *zap.Logger) (sinks.Sink, error) {
			return memory.Open(name, c.MemoryConfig, c.retentions(), log)
		},
		readable: true,
	},
	"file": {
		keys:     tomlKeys(file.Config{}),
		validate: func(c SinkConfig) error { return c.FileConfig.Validate() },
		open: func(name string, c SinkConfig, log *zap.Logger) (sinks.Sink, error) {
			return file.Open(name, c.FileConfig, c.retentions(), c.asyncConfig(), log)
		},
	},
	"mysql": {
		keys:     tomlKeys(mysql.Config{}),
		validate: func(c SinkConfig) error { return c.MySQLConfig.Validate() },
		open: func(name string, c SinkConfig, log *zap.Logger) (sinks.Sink, error) {
			return mysql.Open(name, c.MySQLConfig, c.retentions(), c.asyncConfig(), log)
		},
		readable: true,
	},
	"cassandra": {
		keys:     tomlKeys(cassandra.Config{}),
		validate: func(c SinkConfig) error { return c.CassandraConfig.Validate() },
		open: func(name string, c SinkConfig, log *zap.Logger) (sinks.Sink, error) {
			return cassandra.Open(name, c.CassandraConfig, c.retentions(), c.asyncConfig(), log)
		},
		readable: true,
	},
}
