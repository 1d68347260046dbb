package main

import (
	"flag"
	"io"

	"go.uber.org/zap"

	"ringrelay/internal/logging"
)

// logFlags are -log-level and -log-format, which every relay subcommand
// takes: a process writes its log in one format, the one asked for.
type logFlags struct {
	level  *string
	format *string
}

func addLogFlags(fs *flag.FlagSet, defaultLevel string) logFlags {
	return logFlags{
		level:  fs.String("log-level", defaultLevel, "log level: debug, info, warn, error"),
		format: fs.String("log-format", "text", "log format: text (one line per entry, tab-separated, fields as JSON) or json (one JSON object per line)"),
	}
}

// logger builds the process's logger, writing to w (logging.New).
func (lf logFlags) logger(w io.Writer) (*zap.Logger, error) {
	return logging.New(w, *lf.level, *lf.format)
}
