// Package node assembles one controller process: the raft store, the agent
// ingest stream server and the API, on a gRPC listener (agents and API) and an
// HTTP listener (REST, OpenAPI, health, metrics). It owns every goroutine it
// starts and stops them when Run's context ends.
package node
