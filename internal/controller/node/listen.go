package node

import (
	"errors"
	"fmt"
	"syscall"
)

// ListenError: one of the node's listeners could not bind. Setting is the
// configuration key of the address (grpc.listen, http.listen, raft.listen),
// so a command line can say which flag moves it.
type ListenError struct {
	Setting, Addr string
	Err           error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("node: %s %s: %v", e.Setting, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// InUse reports whether the address is taken by another process.
func (e *ListenError) InUse() bool { return errors.Is(e.Err, syscall.EADDRINUSE) }
