// Package agentport serves agents on the controller's gRPC port with one
// goroutine per connection.
//
// Why it exists: grpc-go spends four goroutines (26 KiB of stacks) and about
// 20 KiB of transport state on every connection, so thousands of idle agent
// streams cost ~50 KiB live each. This package speaks just enough HTTP/2 and
// gRPC for the agent methods (AgentService.Connect and Renew) with:
//
//   - one goroutine per connection, which both reads frames and writes
//     replies; it parks shallowly in the frame loop between messages, so
//     the runtime shrinks its stack to 8 KiB;
//   - no per-connection read or write buffers: frame payloads and outgoing
//     frames use pooled buffers released after each frame;
//   - HPACK without a dynamic table (we advertise SETTINGS_HEADER_TABLE_SIZE
//     0 and never index what we send).
//
// Handlers are event driven: a stream's Session gets each request message
// in turn and returns the response, so no handler is on the stack while a
// connection is idle.
//
// Router finishes the TLS handshake on the shared port and sends connections
// presenting an agent certificate here and every other connection (nodes,
// API clients, enrollment) to grpc-go through Handshaken transport
// credentials. Without TLS there is no certificate to route by and the node
// serves everything with grpc-go.
//
// What the endpoint enforces: the client preface and SETTINGS within a
// deadline; frame size 16 KiB; header lists 16 KiB; four concurrent streams;
// receive flow control on the connection and on each stream; send flow
// control with a bounded queue (a peer that stops reading is dropped);
// message size limits; a budget for control frames that ask for work or a
// reply (PING unless we sent data since the last one, SETTINGS, PRIORITY,
// RST_STREAM, empty DATA or CONTINUATION, refused or failed calls) that
// ends floods with ENHANCE_YOUR_CALM.
// Every violation ends the connection with GOAWAY and the HTTP/2 error code.
// A malformed request (missing or repeated pseudo-headers, te other than
// trailers, a content-length its DATA does not match) has its stream reset
// with PROTOCOL_ERROR; a request that is not a gRPC call gets HTTP 405 or
// 415. The h2spec conformance suite runs against it in the tests.
package agentport
