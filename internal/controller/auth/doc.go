// Package auth decides who may call what on the controller's gRPC port
// (and, through the in-process gateway, its REST API):
//
//   - AgentService.Connect and Renew: a client certificate from the agent CA;
//     the agent's identity (id, site) comes from it, and revoked identities
//     are refused.
//   - AgentService.Enroll: anyone with TLS; the join token is checked by the
//     handler.
//   - ClusterService: the cluster certificate.
//   - ControllerService and AuthService: an API token (Authorization: Bearer)
//     with the scope the method needs (read, write, admin), or the bootstrap
//     admin token from configuration. Calls forwarded by another node carry
//     the original caller's token and are checked again.
//
// Tokens are mxp_<id>_<secret>; only SHA-256(secret) is stored (in raft), so
// a leaked snapshot yields no usable credential. Per-token and per-agent rate
// limits bound what one credential can cost. Insecure mode (dev/demo, or an
// explicit insecure setting) skips all of this and is labelled loudly.
package auth
