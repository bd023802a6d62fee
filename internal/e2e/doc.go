// Package e2e holds end-to-end tests that build the real binaries and run
// them as separate processes: a controller (raft on disk) and agents probing
// lab SMTP servers over real TLS, read back through the REST API.
package e2e
