// Package certstore models the contents of a certificate store for
// mxprobe's Exchange STARTTLS diagnosis and parses certificate and key files.
//
// The seed incident: Cert:\LocalMachine\My held two certificates with the
// same issuer and subject, one without a private key; transport picked the
// keyless one and outbound TLS failed with NoCredentials, while
// Get-ExchangeCertificate (which hides keyless certificates) looked fine.
// So every reader reports every certificate, keyless or not, with an
// honest account of its private key.
//
// This package is the model both roles share (Certificate, Contents,
// KeyStatus) and the parsers that build it from files: PEM (certificates,
// PKCS#8/PKCS#1/SEC 1 keys, PKCS#7), DER certificates and keys, PKCS#7
// bundles (.p7b) and PKCS#12 (.pfx/.p12). ReadFiles and ReadData read a
// renewal's files (on the server, or uploaded to the controller); OpenDir
// reads a directory tree (the pemdir: store: depth Options.MaxDepth,
// default 8; dot-entries skipped; file symlinks followed, directory
// symlinks not). Content decides the format; the extension only decides
// whether an unrecognisable file is a Problem (.pem/.crt/.cer/.der/.key/
// .pfx/...) or silently ignored (README, scripts). The agent's other store
// readers (snapshot:, Export-Clixml, windows: through crypt32, opened by
// URI) are internal/agent/certread; this package links no agent code.
//
// # Key status
//
// Keys are matched to certificates by public key, never by file name.
// HasPrivateKey means the store associates a key with the certificate
// (Windows: CERT_KEY_PROV_INFO_PROP_ID; pemdir: a key file with the same
// public key, or a key stored in the same file/PFX as the certificate).
// Key says whether that key can be used: KeyUsable, KeyUnusable (with
// KeyDetail: Windows error code, corrupt key, encrypted key next to the
// certificate, PFX key that does not match its certificate), KeyAbsent, or
// KeyUnknown. For pemdir, KeyUnknown is used instead of KeyAbsent when some
// key material in the directory could not be read (a PFX whose password is
// not configured, an encrypted key file): that file may hold the key, and
// saying "absent" would be a guess. See assemble.go for the exact rules.
//
// On Windows, the key is also acquired silently
// (CryptAcquireCertificatePrivateKey, SILENT|PREFER_NCRYPT) and its DACL is
// evaluated for the transport account, NETWORK SERVICE (internal/agent/
// certread): TransportCanReadKey is true/false, or nil when unknown.
//
// # Robustness
//
// Bad input never crashes and never aborts a scan: each unreadable file
// becomes a Problem whose Err wraps a sentinel (ErrMalformed,
// ErrFileTooLarge, ErrPFXPassword, ErrEncryptedKey, ...), and the other
// files are still read. Memory is bounded: files over Options.MaxFileBytes
// (16 MiB) are flagged, not read; at most Options.MaxFiles files are
// examined; only certificates and public keys are retained, private key
// material is dropped right after parsing. PKCS#12 files asking for more
// than Options.MaxPFXIterations KDF iterations are refused (ErrPFXSuspicious)
// because the decoder has no limit of its own. Passwords are never logged or
// put in errors. Reads honour context cancellation.
//
// Results are deterministic: certificates are sorted by thumbprint
// (upper-case SHA-1 of the DER, as Windows prints it), duplicates (same
// DER in several files) are merged with every file listed in Sources, and
// problems are sorted by source.
package certstore
