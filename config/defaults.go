package config

import "reflect"

// FillZero copies into *dst every field of def whose value in *dst is the
// zero value, descending into nested (including embedded) structs. It is how
// sections decoded into maps or arrays of tables, which TOML decoding leaves
// zero, get their defaults. A field whose zero value is meaningful must be a
// pointer (nil = unset) to keep that meaning.
func FillZero[T any](dst *T, def T) {
	fillZero(reflect.ValueOf(dst).Elem(), reflect.ValueOf(def))
}

func fillZero(dst, def reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		f := dst.Field(i)
		if !f.CanSet() {
			continue
		}
		d := def.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeOf(Duration{}) {
			fillZero(f, d)
			continue
		}
		if f.IsZero() && !d.IsZero() {
			f.Set(d)
		}
	}
}
