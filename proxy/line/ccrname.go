package line

// CCRName appends to dst the graphite metric name as a running
// carbon-c-relay daemon (3.7.3, dispatcher.c) rewrites it before routing
// and forwarding, and returns the extended slice. It allocates nothing when
// dst has room for len(name) more bytes, and does not retain name.
//
// The daemon, byte by byte over the name (up to the first space or tab):
//   - '.' is dropped when nothing was written yet (leading dots) or when the
//     byte written last is '.' (".." collapses) or the tag mark ';';
//   - the first ';' marks the start of the tags: from there on every other
//     byte is copied as is (non-ASCII included), only the '.' rule above
//     still applies;
//   - before the tags, [A-Za-z0-9] and the default extra characters of its
//     -c option, "-_:#", are copied; every other byte becomes '_' (one per
//     byte, so a two-byte UTF-8 'é' becomes "__"); a NUL byte becomes '_'
//     anywhere;
//   - at the end of an untagged name one trailing '.' is removed.
//
// The daemon hashes the result up to its first ';' (tags are not hashed)
// and forwards all of it. When it would drop the line instead (the name is
// empty after the rewrite, e.g. "." or "..", or the name ends with the tag
// mark, e.g. "a;", whose following space the tag rule swallows), CCRName
// appends nothing. Only the daemon's default allowed characters are
// reproduced (no -c option); a name must not contain a newline.
func CCRName(dst, name []byte) []byte {
	start := len(dst)
	tag := -1 // index in dst of the tag mark ';'
loop:
	for _, c := range name {
		switch {
		case c == ' ' || c == '\t':
			break loop
		case c == '.':
			if n := len(dst); n > start && dst[n-1] != '.' && n-1 != tag {
				dst = append(dst, '.')
			}
		case c == ';' && tag < 0:
			tag = len(dst)
			dst = append(dst, ';')
		case c != 0 && (tag >= 0 || ccrAllowed(c)):
			dst = append(dst, c)
		default:
			dst = append(dst, '_')
		}
	}
	n := len(dst)
	switch {
	case n == start:
		return dst
	case tag >= 0:
		if tag == n-1 {
			return dst[:start]
		}
	case dst[n-1] == '.':
		dst = dst[:n-1]
	}
	return dst
}

// ccrAllowed reports whether carbon-c-relay copies c into a metric path
// unchanged: [A-Za-z0-9] and its default -c set "-_:#".
func ccrAllowed(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == ':' || c == '#'
}
