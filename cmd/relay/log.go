package main

import (
	"time"

	"go.uber.org/zap/zapcore"
)

func zapISO8601(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	enc.AppendString(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}
