package hashring

// FNV-1a, 32 and 64 bit, in two flavours:
//
//   - the standard one (bytes are unsigned), as Python carbon, libring and
//     jjneely/statsrelay compute it;
//   - carbon-c-relay's (fnv1a.h), which XORs each byte as a C `char`. On x86
//     (where the Debian package is built) char is signed, so a byte >= 0x80
//     is sign-extended before the XOR: 0xC3 is XORed as 0xFFFFFFC3 (32-bit)
//     or 0xFFFFFFFFFFFFFFC3 (64-bit). This changes the hash of every key with
//     a non-ASCII byte; we reproduce the x86 behaviour, because that is what
//     the deployed relays compute. (An ARM build of carbon-c-relay, where char
//     is unsigned, gives the standard values instead.)

const (
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
	fnv64Offset = 14695981039346656037
	fnv64Prime  = 1099511628211
)

// fnv1a32 is standard FNV-1a 32 over unsigned bytes.
func fnv1a32(b []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, c := range b {
		h = (h ^ uint32(c)) * fnv32Prime
	}
	return h
}

// fnv1a32SignExt is carbon-c-relay's FNV-1a 32: each byte is XORed as a
// signed char (x86), i.e. sign-extended to 32 bits.
func fnv1a32SignExt(b []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, c := range b {
		h = (h ^ uint32(int32(int8(c)))) * fnv32Prime
	}
	return h
}

// fnv1a64 is standard FNV-1a 64 over unsigned bytes.
func fnv1a64(b []byte) uint64 {
	h := uint64(fnv64Offset)
	for _, c := range b {
		h = (h ^ uint64(c)) * fnv64Prime
	}
	return h
}

// fnv1a64SignExt is carbon-c-relay's FNV-1a 64: each byte is XORed as a
// signed char (x86), i.e. sign-extended to 64 bits.
func fnv1a64SignExt(b []byte) uint64 {
	h := uint64(fnv64Offset)
	for _, c := range b {
		h = (h ^ uint64(int64(int8(c)))) * fnv64Prime
	}
	return h
}

// fold16 folds a 32-bit hash into 16 bits the way carbon-c-relay and carbon
// (>= 1.1.2) position fnv1a_ch ring entries: (h >> 16) ^ (h & 0xFFFF).
func fold16(h uint32) uint16 {
	return uint16((h >> 16) ^ (h & 0xFFFF))
}
