package hashring

import "strconv"

// fnv1a_ch has the ring shapes of carbon_ch (see carbon_ch.go) with other
// ring keys and positions:
//
// carbon-c-relay (consistent-hash.c): ring key "i-HOST:PORT" for a member
// without instance, "i-INSTANCE" with one (the instance replaces host and
// port, so a new host can take over an old one's share); position and key
// position fold16(FNV-1a 32) with carbon-c-relay's signed-char FNV: on x86,
// where the deployed relays run, bytes >= 0x80 are sign-extended before the
// XOR, which changes every non-ASCII key's position (fnv.go). Ties sort by
// host (strcmp) then port. Duplicate instance names give identical points:
// the first member (by host, port) takes them all.
//
// carbon >= 1.1.2 (hashing.py): ring key "i-INSTANCE" only; the host is
// ignored, and a member without instance would hash as "i-None" like every
// other such member, so carbon's fnv1a_ch needs an instance on every member
// (New refuses the list otherwise). Standard (unsigned) FNV-1a 32; positions
// bumped +1 while taken, in config order.
//
// Hash returns the 16-bit position.

// appendCCRFNV1aKey appends carbon-c-relay's fnv1a_ch ring key.
func appendCCRFNV1aKey(buf []byte, host string, port int, inst string, r int) []byte {
	buf = strconv.AppendInt(buf, int64(r), 10)
	buf = append(buf, '-')
	if inst != "" {
		return append(buf, inst...)
	}
	buf = append(buf, host...)
	buf = append(buf, ':')
	return strconv.AppendUint(buf, uint64(uint32(port)), 10)
}

// appendPyFNV1aKey appends carbon's fnv1a_ch ring key "%d-%s" % (i, instance).
func appendPyFNV1aKey(buf []byte, inst string, r int) []byte {
	buf = strconv.AppendInt(buf, int64(r), 10)
	buf = append(buf, '-')
	if inst == "" {
		return append(buf, "None"...)
	}
	return append(buf, inst...)
}
