package auth

import "strings"

// Scopes an API token may carry. admin implies write implies read.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// ValidScope reports whether s is a known scope.
func ValidScope(s string) bool { return s == ScopeRead || s == ScopeWrite || s == ScopeAdmin }

// grants reports whether a token with scopes may do what need requires.
func grants(scopes []string, need string) bool {
	rank := map[string]int{ScopeRead: 1, ScopeWrite: 2, ScopeAdmin: 3}
	for _, s := range scopes {
		if rank[s] >= rank[need] {
			return true
		}
	}
	return false
}

// requirement is what a gRPC method needs.
type requirement int

const (
	needNothing requirement = iota
	needAgentCert
	needClusterCert
	needRead
	needWrite
	needAdmin
)

// methodNeeds maps a full gRPC method name to its requirement. Unknown
// methods need admin (deny by default).
func methodNeeds(full string) requirement {
	switch full {
	case "/mxprobe.v1.AgentService/Connect", "/mxprobe.v1.AgentService/Renew":
		return needAgentCert
	case "/mxprobe.v1.AgentService/Enroll":
		return needNothing
	}
	switch {
	case strings.HasPrefix(full, "/mxprobe.v1.ClusterService/"):
		return needClusterCert
	case strings.HasPrefix(full, "/mxprobe.v1.AuthService/"):
		return needAdmin
	case strings.HasPrefix(full, "/mxprobe.v1.ControllerService/"):
		m := full[strings.LastIndexByte(full, '/')+1:]
		switch {
		case strings.HasPrefix(m, "List"), strings.HasPrefix(m, "Get"), m == "PreflightCertificate":
			// PreflightCertificate changes nothing: its body is the
			// certificate to simulate.
			return needRead
		case m == "JoinCluster" || m == "RemovePeer" || m == "TransferLeadership":
			return needAdmin
		default:
			return needWrite
		}
	case strings.HasPrefix(full, "/grpc.health.v1.Health/"):
		return needNothing
	}
	return needAdmin
}
