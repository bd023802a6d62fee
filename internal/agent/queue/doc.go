// Package queue parses Exchange Get-Queue output and its LastError text.
//
// Input (queue.go) is `Get-Queue | ConvertTo-Json` output or the mxprobe
// queue file format documented in docs/queue-format.md: one object, an
// array, or an envelope with "queues". Decoding is lenient field by field:
// Status may be an integer (QueueStatus enum: 0 None, 1 Active, 2 Ready,
// 3 Retry, 4 Suspended, 5 Connecting), a name in any case, or a PowerShell
// wrapper object {"value": ...}; dates may be "\/Date(ms)\/" (Windows
// PowerShell 5.1) or RFC 3339 (PowerShell 7); UTF-16 with BOM (what
// Out-File writes by default in PowerShell 5.1) is decoded. Array elements
// that are not queue objects are skipped and counted. Input is capped at
// MaxInputBytes.
//
// LastError (lasterror.go) is `[{LED=...};{MSG=...};{FQDN=...};{IP=...};
// {LRT=...}]`. Values may contain ';', '=', '->', brackets and braces, so a
// group boundary is only `}` ; `{KEY=` (spaces allowed around ';') with KEY
// a known key or a short upper-case identifier. LED is split on "->" into a
// cause chain, outermost first; each link's leading SMTP reply (code and
// RFC 3463 enhanced code) and any replies quoted inside it (`responded
// with: "421 4.2.1 Unable to connect."`) are extracted. Text without groups
// is treated as a single LED. ParseLastError never fails.
//
// Classification (classify.go) matches those replies (code, enhanced code,
// and where needed a case-insensitive text fragment) against the failure
// catalog signatures and reports which matched, and whether the failure is
// TLS-related and/or a connection failure.
//
// Collection (collect.go, collect.ps1) runs Get-Queue through the Exchange
// Management Shell on Windows with package powershell, the collector engine
// the exchange package uses too: the script loads the snap-in and emits the
// envelope, and CollectQueues returns that JSON for ParseBytes, bounded in
// time and size. Elsewhere the error wraps powershell.ErrUnsupported.
package queue
