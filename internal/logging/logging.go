// Package logging builds the logger of every ringrelay command (relay,
// serverset, serverset-register), so that their -log-level and
// -log-format mean the same and their lines look the same.
package logging

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New builds a command's one logger, writing to w: level is debug, info,
// warn or error; format is text (one line per entry: time, level, logger
// name, caller, message, then the fields as JSON, tab-separated) or json
// (one object per line). Stack traces are kept for DPanic and above
// (bugs), never for the errors an operator can cause and fix; sampling
// caps a flood of identical lines as zap's production preset does; a key
// given twice to an entry is written once (uniqueFields).
func New(w io.Writer, level, format string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad -log-level %q: want debug, info, warn or error", level)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapISO8601
	ec.EncodeDuration = zapcore.StringDurationEncoder
	var enc zapcore.Encoder
	switch format {
	case "text":
		enc = zapcore.NewConsoleEncoder(ec)
	case "json":
		enc = zapcore.NewJSONEncoder(ec)
	default:
		return nil, fmt.Errorf("bad -log-format %q: want text or json", format)
	}
	out := zapcore.Lock(zapcore.AddSync(w))
	core := zapcore.NewSamplerWithOptions(uniqueFields{Core: zapcore.NewCore(enc, out, lvl)}, time.Second, 100, 100)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.DPanicLevel), zap.ErrorOutput(out)), nil
}

func zapISO8601(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}

// uniqueFields keeps the first field of each key in an entry: components
// add their context (pool, backend) to loggers they are handed, which may
// carry it already, and zap would write the key twice. The first value is
// the one the outer component bound; it is already encoded in the core's
// context and cannot be replaced, so later ones are dropped.
type uniqueFields struct {
	zapcore.Core
	keys map[string]bool // keys bound by With; never mutated once shared
}

func (u uniqueFields) With(fields []zapcore.Field) zapcore.Core {
	fresh := u.fresh(fields)
	keys := make(map[string]bool, len(u.keys)+len(fresh))
	for k := range u.keys {
		keys[k] = true
	}
	for _, f := range fresh {
		keys[f.Key] = true
	}
	return uniqueFields{Core: u.Core.With(fresh), keys: keys}
}

func (u uniqueFields) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if u.Enabled(e.Level) {
		return ce.AddCore(e, u)
	}
	return ce
}

func (u uniqueFields) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return u.Core.Write(e, u.fresh(fields))
}

// fresh returns fields without those whose key is bound already or came
// earlier in fields. It allocates only when it drops one.
func (u uniqueFields) fresh(fields []zapcore.Field) []zapcore.Field {
	dup := func(i int) bool {
		if u.keys[fields[i].Key] {
			return true
		}
		for _, f := range fields[:i] {
			if f.Key == fields[i].Key {
				return true
			}
		}
		return false
	}
	for i := range fields {
		if dup(i) {
			out := append([]zapcore.Field(nil), fields[:i]...)
			for j := i + 1; j < len(fields); j++ {
				if !dup(j) {
					out = append(out, fields[j])
				}
			}
			return out
		}
	}
	return fields
}
