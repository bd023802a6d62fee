// Package eventlog reads the Windows events that tell why Exchange TLS
// fails: MSExchangeTransport / MSExchangeFrontEndTransport 12012, 12013,
// 12014, 12015, 12016, 12023, 12024 (Application log) and Schannel 36874,
// 36887, 36888 (System log).
//
// Two sources sit behind one small interface, Source:
//
//   - Live (Windows only): the Event Log service through wevtapi.dll
//     (EvtQuery with a structured XML query over both channels, EvtNext,
//     EvtRender as XML), each rendered event parsed by ParseXML.
//   - File (any OS): an exported .evtx file (wevtutil epl, Event Viewer's
//     "Save All Events As", or a copy of Application.evtx / System.evtx),
//     decoded by this package's own EVTX reader (evtx.go, binxml.go).
//     No maintained EVTX module resolves from the Go module proxy here, and
//     the one that does (github.com/0xrawsec/golang-evtx, last released 2021)
//     panics inside its own goroutines on malformed input, which would take
//     the agent down; the reader here reads one 64 KiB chunk at a time,
//     bounds every offset, depth and node count, and turns damage into
//     counted, skipped records.
//
// Memory is the in-memory twin for tests. Every source returns the same
// Event values, filtered by Query (which events, since when, how many), so
// the diagnosis (internal/agent/diagnose) never knows where they came from.
//
// Events carry what the record holds: provider, event ID, time, computer
// and the insertion strings (EventData/Data, in order, with their Name
// attribute where the provider sets one). Neither source renders the
// message text (that needs the provider's message DLL, absent from an
// exported file's host), so rules read the insertion strings.
package eventlog
