//go:build !unix

package wsapi

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: here every data frame goes through the writer
// loop's writes, which wait.
func rawConn(net.Conn) syscall.RawConn { return nil }

func writeNow(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
