// Package incident is the incident model shared by the correlation engine,
// the raft FSM and the API: identity (fingerprint, id), the lifecycle rules
// for human actions (acknowledge, resolve), ordering, and the list filter.
//
// Everything here is pure: no clocks (times are passed in), no randomness,
// no map iteration in output. The FSM calls Act inside Apply, so the same
// command yields the same incident on every replica.
package incident
