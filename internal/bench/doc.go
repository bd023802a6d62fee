// Package bench measures the controller cluster at fleet scale:
// three controller processes with raft data on disk (fsync on), simulated
// agents streaming over real gRPC, and figures read from the outside
// (acks, /proc RSS). cmd/mxbench prints them.
package bench
