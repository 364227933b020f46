//go:build unix

package wsapi

import (
	"net"
	"syscall"
)

// rawConn returns c's descriptor, for writes that do not wait, or nil.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNow writes what of b the socket takes at once, and returns how
// much that was: a non-blocking write(2) on the descriptor, which Go's
// network poller keeps non-blocking. A full socket takes nothing (0, nil).
func writeNow(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				return true // done: never wait for the socket here
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, werr
	}
	return n, nil
}
