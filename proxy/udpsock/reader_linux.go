package udpsock

import (
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	batchSupported = true
	bufExtra       = 0 // msg_flags carries MSG_TRUNC
)

// mmsghdr is struct mmsghdr. Go pads it to the alignment of Msghdr, as C
// does: 64 bytes on 64-bit systems, 32 on 32-bit ones.
type mmsghdr struct {
	Hdr unix.Msghdr
	Len uint32
}

// sysReader holds the recvmmsg arguments, built once: the kernel writes
// the length and flags of each datagram into hdrs.
type sysReader struct {
	rc   syscall.RawConn
	hdrs []mmsghdr
	iovs []unix.Iovec
	recv func(fd uintptr) bool // s.recvmmsg, bound once so Read does not allocate

	n     int
	errno syscall.Errno
	rcErr error
}

func (s *sysReader) init(r *Reader) {
	s.rc, s.rcErr = r.uc.SyscallConn()
	s.hdrs = make([]mmsghdr, r.batch)
	s.iovs = make([]unix.Iovec, r.batch)
	for i := range s.hdrs {
		s.iovs[i].Base = unsafe.SliceData(r.bufs[i])
		s.iovs[i].SetLen(len(r.bufs[i]))
		s.hdrs[i].Hdr.Iov = &s.iovs[i]
		s.hdrs[i].Hdr.SetIovlen(1)
	}
	s.recv = s.recvmmsg
}

// recvmmsg is the syscall.RawConn read callback: it returns false when
// nothing is queued, so that the runtime poller waits for the socket to be
// readable (or closed) and calls it again.
func (s *sysReader) recvmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(unsafe.SliceData(s.hdrs))), uintptr(len(s.hdrs)),
			unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			s.n, s.errno = int(n), 0
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.n, s.errno = 0, e
			return true
		}
	}
}

func (s *sysReader) read(r *Reader) (int, error) {
	if s.rcErr != nil {
		return 0, s.rcErr
	}
	if err := s.rc.Read(s.recv); err != nil {
		return 0, err // a *net.OpError wrapping net.ErrClosed once closed
	}
	if s.errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Source: r.uc.LocalAddr(),
			Err: os.NewSyscallError("recvmmsg", s.errno)}
	}
	for i := range s.n {
		h := &s.hdrs[i]
		t := h.Hdr.Flags&unix.MSG_TRUNC != 0
		r.trunc[i] = t
		if t {
			r.truncated.Add(1)
		}
		r.views[i] = r.bufs[i][:min(int(h.Len), r.bufSize)]
	}
	return s.n, nil
}
