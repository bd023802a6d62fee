//go:build windows

package smtpprobe

import "syscall"

// peerGoneErrnos are the socket errors meaning the server went away:
// WSAECONNRESET, WSAECONNABORTED and the POSIX-style values Go may report.
func peerGoneErrnos() []error {
	return []error{syscall.Errno(10054), syscall.Errno(10053), syscall.ECONNRESET, syscall.EPIPE}
}
