//go:build !windows

package smtpprobe

import "syscall"

// peerGoneErrnos are the socket errors meaning the server went away.
func peerGoneErrnos() []error {
	return []error{syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE}
}
