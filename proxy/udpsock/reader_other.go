//go:build !linux

package udpsock

const (
	batchSupported = false
	// bufExtra is one spare byte past bufSize: a datagram that fills it is
	// longer than bufSize, which tells truncation without MSG_TRUNC.
	bufExtra = 1
)

type sysReader struct{}

func (s *sysReader) init(*Reader) {}

func (s *sysReader) read(r *Reader) (int, error) {
	n, err := r.uc.Read(r.bufs[0])
	if err != nil {
		return 0, err
	}
	t := n > r.bufSize
	r.trunc[0] = t
	if t {
		r.truncated.Add(1)
		n = r.bufSize
	}
	r.views[0] = r.bufs[0][:n]
	return 1, nil
}
