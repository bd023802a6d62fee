// Package protolog parses Microsoft Exchange SMTP Send and Receive protocol
// logs (SENDyyyymmdd-n.log / RECVyyyymmdd-n.log under
// ...\ProtocolLog\SmtpSend and ...\ProtocolLog\SmtpReceive) into per-session
// summaries that explain STARTTLS outcomes: which certificate each side
// presented, whether STARTTLS was offered and issued, the TLS result
// ("TLS negotiation failed with error NoCredentials", "TLS protocol
// SP_PROT_TLS1_2_CLIENT negotiation succeeded ..."), and the SMTP replies
// that matter for diagnosis (454 4.7.5, 451 5.7.3, 421 4.4.2, ...).
//
// # Pipeline
//
//	bytes -> lineFeeder (lines.go) -> splitCSV (csv.go) -> rawRow (row.go)
//	      -> tracker (session.go) -> Session -> Summary
//
// Aggregating sessions over time (failure groups, certificates seen) is
// diagnose.LogWindow's job, not this package's.
//
// lineFeeder turns arbitrary chunks into lines with bounded memory: only a
// partial trailing line is buffered, and lines longer than MaxLineBytes
// (64 KiB by default) are skipped to their newline and counted in
// Stats.LongLines. splitCSV is a hand-written RFC 4180 splitter working on
// one line: fields alias the line buffer; only fields with doubled quotes are
// unescaped into a scratch buffer. A line with broken quoting, an unknown
// event or an empty session id is counted in Stats.BadRows and skipped; the
// rest of the input is unaffected. Nothing on the hot path allocates except
// the strings a Session keeps, which is what makes Parse run at several
// hundred MB/s on one core (see BenchmarkParse).
//
// # Fast path
//
// Files in the default column order take the fast path (quick.go): the
// columns up to the event are cut in one pass, routine rows of an open
// session stop after their session is found, the rest go to the tracker
// without a second split; it gives the full decode's Summary
// (TestQuickEqualsFull, FuzzQuickEqualsFull). A row of the common shape (a
// canonical time, a connector column seen before byte for byte, no quoted
// column up to the event) is cut by connCache: a word compare or two for
// the connector, then the commas of the 64 bytes after it gathered into
// one bitmap (read up to the line's capacity, masked to the line; eight
// bytes at a time where the capacity is short), which give the five short
// columns and mostly the ends of the data and the context too, kept as
// offsets (no slice stored per column; the row is built on fastRow's
// stack) (FuzzConnCache); any other by cutColumns (the commas
// eight bytes at a time from the line's start until a quote, then column
// by column).
// Routine rows are MAIL FROM, RCPT TO, DATA and the like, their replies
// once the code was seen, and '*' rows that are no certificate, TLS outcome
// or status row (inertInfo). Per row it also avoids:
//
//   - parsing the time: a timestamp in Exchange's own form
//     ("2019-05-02T06:32:10.118Z", checked eight bytes at a time by
//     canonicalTime, with a valid day of its month and seconds below 60)
//     orders as its bytes do, so a session keeps its earliest and latest as
//     bytes and parses them once when it is emitted, evicted or saved
//     (sessState.settle); any other time is parsed at its row, after the
//     lazy ones are folded in, and '*' rows parse theirs (certificate and
//     TLS outcome times);
//   - a map probe for the session: tracker.lookup keeps 256 open sessions
//     by a hash of the id's last eight bytes in front of the open map,
//     each compared by the id's length and first and last eight bytes
//     (idKey: exact for ids of up to sixteen bytes, FuzzIDKey);
//   - a map probe for repeated values: valueCache.strAt remembers what each
//     place in a session (a certificate field, the n-th capability, the TLS
//     outcome) held last time, before the value map.
//
// The full decode of the tests parses every time and goes to the maps
// alone, so the equivalence tests compare these shortcuts with the plain
// code.
//
// # Check view
//
// agent check feeds sessions straight into diagnose.LogWindow, which reads
// a part of each (CheckView, checkview.go: the path, the times, EHLO and
// STARTTLS, the capabilities, the TLS outcome, the 4xx/5xx replies and the
// certificate this server sent). Parser.CheckView emits that part only and
// spends less on what nothing reads: reply codes, files and the local
// endpoint are not kept, '*' rows are not timed, a reply below 400 that is
// not a banner still to be read or an EHLO reply being read is routine,
// and certificate fields other than the sent certificate's subject, issuer
// and thumbprint keep only whether they are there (a repeated field still
// starts a new certificate). TestCheckViewEqualsFull and
// FuzzCheckViewEqualsFull compare it with CheckView of the full decode;
// diagnose's TestWindowReadsCheckView and FuzzWindowReadsCheckView show
// that a window fed the view gives the findings of one fed whole sessions.
// On the generated send log the check view and connCache cut the
// instructions agent check executes by about 18% (cachegrind, 16 MiB of
// the log, five runs each: 388-402 million before, 307-325 million after);
// the offsets, the comma bitmap, word compares of times and ids and the
// workers' own line loop cut them by about another 17% (three runs each:
// 328-342 million before, 272-282 million after, about 16.5 instructions
// per byte; the garbage collector's share moves the totals by a few per
// cent from run to run); what is left is spread thin over cutting, the
// tracker's row work, the window, allocation and reading. The chunk
// merger (parallel.go) skips other sessions' rows in its rescan of
// continued sessions the same way: the columns up to the session cut
// (with its own connCache), one cached lookup.
//
// Header lines (#Software, #Version, #Log-Type, #Date, #Fields) are read per
// file. #Fields defines the column order; without it the documented default
// order (DefaultFields) is used. Direction comes from #Log-Type ("SMTP Send
// Protocol Log" / "SMTP Receive Protocol Log"), else from the file name
// (SEND/RECV prefix), else from an SmtpSend/SmtpReceive directory.
//
// # Sessions
//
// Rows are grouped by (direction, session-id); sessions may interleave and
// may continue in the next rotated file (ParseFiles and the Tailer process
// files in rotation order, see SortLogFiles). A session is emitted when its
// '-' row arrives (Closed=true) or when it is flushed early: input ended,
// the Tailer's idle timeout passed, or more than MaxOpenSessions were open
// (the least recently active quarter is flushed, counted in Stats.Evicted).
// Per-session lists (certificates, replies, capabilities, files) are capped
// and Session.Truncated records that something was dropped.
//
// On the send side '<' rows are the peer's replies and '>' rows our
// commands; on the receive side it is the reverse. EHLO capabilities are
// taken from the first EHLO reply: multi-row ("250-STARTTLS") on the send
// side, a single row ("250  host Hello [ip] SIZE 37748736 PIPELINING ...
// STARTTLS ... AUTH NTLM") on the receive side, which is split into
// capabilities using a keyword table (arguments such as "37748736" or
// "NTLM" stay attached to their keyword).
//
// TLS outcome and receive-side texts ("Client certificate chain validation
// status: 'EmptyCertificate'", "TlsDomainCapabilities='None';
// Status='NoRemoteCertificate'") are matched case-insensitively in both the
// data and the context column, because Exchange builds differ in which one
// they use.
//
// # Certificates
//
// The multi-row block starts with a row whose context is exactly "Sending
// certificate" (ours) or "Remote certificate" / "Received certificate"
// (peer's); following rows of the same session with context "Certificate
// subject", "Certificate issuer name", "Certificate serial number",
// "Certificate thumbprint" or "Certificate alternate names" fill it in. Any
// other row of that session ends the block. Field rows without a header row
// (or repeating a field) start a new certificate of unknown role.
//
// The condensed single-row form has context "Sending certificate Subject
// Issuer name Serial number Thumbprint Not before Not after Subject
// alternate names" and the values space-separated in data. Because DNs and
// dates contain spaces it is split heuristically (parseCondensedCert): the
// thumbprint is a 40-hex token preceded by an all-hex serial (preferring
// one followed by a date); subject and issuer are split at the first token
// that looks like an RDN start ("XX=") whose predecessor does not end in a
// comma and which is outside double quotes; after the thumbprint, tokens
// with a digit and '/', '-' or '.' start a date that absorbs following time
// and AM/PM tokens; the rest are the alternate names. Raw date strings are
// kept beside the parsed times. If no thumbprint is found the whole data is
// kept as Subject.
//
// # Tailing
//
// Tailer follows one or more directory trees. Each Poll scans for log files
// (FindLogFiles, bounded depth), reads only bytes appended since the last
// poll, feeds complete lines to a tracker that outlives polls, and flushes
// sessions idle longer than IdleTimeout (wall clock). A partial last line is
// buffered and not counted as consumed. A file is restarted from offset 0
// when it is truncated (size < offset) or replaced: within a process,
// os.SameFile on the cached FileInfo detects a new inode / file index; across
// restarts (and whenever size or mtime changed) a SHA-256 of the first up to
// 256 bytes is compared (Exchange's #Date header makes these unique per file,
// and Windows offers no inode in a portable way). State (per-file consumed
// offset at a line boundary, identity hash, header fields, and the open
// sessions themselves) is saved as JSON after each Poll via temp file +
// fsync + rename, so a restart resumes without losing half-finished
// sessions.
package protolog
