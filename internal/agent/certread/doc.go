// Package certread is how the agent reads certificate stores; what it reads
// is modelled by internal/certstore (Certificate, Contents, KeyStatus),
// whose parsers it uses.
//
// Open(uri, opts) dispatches on the scheme:
//
//   - pemdir:PATH reads a directory tree of certificate and key files
//     (certstore.OpenDir).
//   - snapshot:FILE reads a JSON inventory written by WriteSnapshot
//     (docs/snapshot-format.md), so a store captured on a Windows server is
//     diagnosed anywhere. Thumbprints are re-verified against the DER. It
//     also reads what admins export on the server with Export-Clixml
//     (clixml.go).
//   - windows:LocalMachine\My (or CurrentUser\..., any store name) opens a
//     system store read-only through crypt32 (windows.go,
//     windows_syscall.go). On other platforms Open returns ErrUnsupported.
//
// On Windows, each key is also acquired silently
// (CryptAcquireCertificatePrivateKey, SILENT|PREFER_NCRYPT) and its DACL is
// evaluated for the transport account, NETWORK SERVICE (acl.go, testable on
// any OS): TransportCanReadKey is true/false, or nil when unknown.
// OpenWindowsSigner signs with a store key through CNG (the agent's own
// certificate, enrolled in the machine store).
//
// Bad input never crashes and never aborts a read: an unreadable entry is a
// certstore.Problem whose Err wraps a sentinel (ErrBadSnapshot,
// ErrThumbprintMismatch, certstore.ErrMalformed, ...).
package certread
