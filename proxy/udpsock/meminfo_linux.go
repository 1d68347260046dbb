package udpsock

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Indexes into the u32 array getsockopt(SO_MEMINFO) fills, from enum
// SK_MEMINFO_* of include/uapi/linux/sock_diag.h (not in x/sys/unix).
const (
	skMeminfoRmemAlloc = 0 // SK_MEMINFO_RMEM_ALLOC
	skMeminfoDrops     = 8 // SK_MEMINFO_DROPS
	skMeminfoVars      = 9 // SK_MEMINFO_VARS, the length of the array
)

// meminfo returns getsockopt(fd, SOL_SOCKET, SO_MEMINFO) (Linux ≥ 4.6).
// SO_MEMINFO is 55 on most architectures, 0x39 on sparc64: unix has it.
func meminfo(uc *net.UDPConn, need int) ([skMeminfoVars]uint32, error) {
	var mi [skMeminfoVars]uint32
	rc, err := uc.SyscallConn()
	if err != nil {
		return mi, err
	}
	size := uint32(unsafe.Sizeof(mi)) // socklen_t
	var errno syscall.Errno
	cerr := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall6(unix.SYS_GETSOCKOPT, fd,
			unix.SOL_SOCKET, unix.SO_MEMINFO,
			uintptr(unsafe.Pointer(&mi[0])), uintptr(unsafe.Pointer(&size)), 0)
	})
	if cerr != nil {
		return mi, cerr // wraps net.ErrClosed once closed
	}
	if errno != 0 {
		return mi, os.NewSyscallError("getsockopt(SO_MEMINFO)", errno)
	}
	if int(size) < (need+1)*4 {
		return mi, fmt.Errorf("getsockopt(SO_MEMINFO): kernel returned %d bytes, want %d", size, (need+1)*4)
	}
	return mi, nil
}

// Drops returns how many datagrams the kernel dropped on arrival at this
// socket: SK_MEMINFO_DROPS of SO_MEMINFO, the socket's sk_drops, the same
// counter as the drops column of /proc/net/udp and SO_RXQ_OVFL. For UDP it
// counts mostly datagrams refused because the receive buffer was full, but
// also those failing their checksum or dropped by a socket filter. It
// counts since the socket was made and is 32 bits wide in the kernel, so
// it wraps at 2³²; export deltas computed in uint32 if that matters.
func Drops(uc *net.UDPConn) (uint64, error) {
	mi, err := meminfo(uc, skMeminfoDrops)
	if err != nil {
		return 0, err
	}
	return uint64(mi[skMeminfoDrops]), nil
}

// Pending returns SK_MEMINFO_RMEM_ALLOC of SO_MEMINFO: the bytes of memory
// the datagrams queued on the socket are charged for, the figure the
// kernel compares with the receive buffer (SO_RCVBUF, which Linux sets to
// twice what SetReadBuffer asks) to decide a drop. It is the skb truesize,
// not the payload: each datagram costs several hundred bytes of overhead
// on top of its payload. UDP also releases the memory of read datagrams
// lazily, so while datagrams remain queued it may lag by up to a quarter
// of the buffer; it is back to 0 once the queue is empty.
//
// (ioctl SIOCINQ/FIONREAD is no substitute: for UDP it gives the payload
// size of the next datagram only.)
func Pending(uc *net.UDPConn) (int, error) {
	mi, err := meminfo(uc, skMeminfoRmemAlloc)
	if err != nil {
		return 0, err
	}
	return int(mi[skMeminfoRmemAlloc]), nil
}
