package udpsock

import (
	"testing"
	"unsafe"
)

// TestMmsghdrLayout checks struct mmsghdr as the kernel reads it: a msghdr,
// then the u32 msg_len, padded to the msghdr's alignment.
func TestMmsghdrLayout(t *testing.T) {
	want := uintptr(32) // 28-byte msghdr + 4
	if unsafe.Sizeof(uintptr(0)) == 8 {
		want = 64 // 56-byte msghdr + 4 + 4 padding
	}
	var h mmsghdr
	if got := unsafe.Sizeof(h); got != want {
		t.Errorf("sizeof(mmsghdr) = %d, want %d", got, want)
	}
	if got := unsafe.Offsetof(h.Len); got != unsafe.Sizeof(h.Hdr) {
		t.Errorf("offsetof(msg_len) = %d, want %d", got, unsafe.Sizeof(h.Hdr))
	}
}
