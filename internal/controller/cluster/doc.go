// Package cluster turns single raft stores into a controller cluster:
// formation (bootstrap_expect + retry_join), join, node address registry,
// forwarding to the leader, and the leader's health loop over its peers.
//
// Formation follows Consul's approach. A node with no raft state asks every
// retry_join address for Info. If some node already belongs to a cluster
// with a known leader, it asks that node to Join it (followers forward the
// request to the leader, which adds a voter). Otherwise, once exactly
// bootstrap_expect nodes without state have found each other, each of them
// bootstraps raft with the same voter set (sorted by node id); raft treats
// identical bootstraps on every server as one. A node with raft state never
// bootstraps again.
//
// Agents that reach a follower are answered NotLeader with the leader's
// registered gRPC address rather than proxied: agents are cheap to redirect,
// a proxy would double every stream's connections and memory on followers,
// and acks must come from the node that commits anyway. API reads are
// linearizable by default: the leader confirms leadership with a quorum and
// waits until it applied everything committed before the read; a follower
// forwards the call to the leader. `stale=true` answers from local state.
package cluster
