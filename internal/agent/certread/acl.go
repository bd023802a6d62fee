package certread

import (
	"fmt"
	"strings"
)

// This file evaluates a private key's DACL for the Exchange transport
// account. It is platform-independent so it can be unit-tested anywhere;
// windows_syscall.go only turns a security descriptor into a KeyACL.

// Well-known SIDs used in key ACLs.
const (
	SIDNetworkService     = "S-1-5-20"
	SIDEveryone           = "S-1-1-0"
	SIDAuthenticatedUsers = "S-1-5-11"
	SIDBuiltinUsers       = "S-1-5-32-545"
	SIDService            = "S-1-5-6"
	SIDLocal              = "S-1-2-0"
	SIDThisOrganization   = "S-1-5-15"
	SIDLocalSystem        = "S-1-5-18"
	SIDAdministrators     = "S-1-5-32-544"
	// serviceSIDPrefix starts per-service SIDs (NT SERVICE\Name).
	serviceSIDPrefix = "S-1-5-80-"
)

// Access mask bits that grant read access to a key. CNG and CSP key
// containers accept generic rights; their files in MachineKeys carry
// FILE_GENERIC_READ, whose FILE_READ_DATA bit is the one that matters.
const (
	AccessGenericRead uint32 = 0x80000000
	AccessGenericAll  uint32 = 0x10000000
	AccessReadData    uint32 = 0x00000001
	keyReadBits              = AccessGenericRead | AccessGenericAll | AccessReadData
)

// Windows ACE types we evaluate; others (object, callback, audit) are
// ignored.
const (
	AceTypeAccessAllowed uint8 = 0
	AceTypeAccessDenied  uint8 = 1
	aceFlagInheritOnly   uint8 = 0x08
)

// ACE is one access control entry, already decoded.
type ACE struct {
	Type  uint8  // AceTypeAccessAllowed, AceTypeAccessDenied, or other
	Flags uint8  // ACE_HEADER.AceFlags
	Mask  uint32 // access mask
	SID   string // string SID, e.g. "S-1-5-20"
}

func (a ACE) String() string {
	kind := "allow"
	switch a.Type {
	case AceTypeAccessAllowed:
	case AceTypeAccessDenied:
		kind = "deny"
	default:
		kind = fmt.Sprintf("type%d", a.Type)
	}
	return fmt.Sprintf("%s %s 0x%08X", kind, a.SID, a.Mask)
}

// KeyACL is a key's discretionary ACL.
type KeyACL struct {
	// Null is true for a NULL (or absent) DACL, which grants everyone
	// full access. An empty, non-null DACL grants nothing.
	Null bool
	ACEs []ACE
}

// NetworkServiceTokenSIDs returns the SIDs present in the access token of
// a process running as NT AUTHORITY\NETWORK SERVICE (the Exchange transport
// services): the account itself and the groups Windows always adds for a
// service logon. Per-service SIDs (NT SERVICE\MSExchangeTransport) are
// deliberately not included: whether they are in the token depends on the
// service's SID type, so an ACE for one yields "unknown" (see
// EvaluateKeyRead). Returns a fresh slice.
func NetworkServiceTokenSIDs() []string {
	return []string{
		SIDNetworkService, SIDEveryone, SIDAuthenticatedUsers, SIDBuiltinUsers,
		SIDService, SIDLocal, SIDThisOrganization,
	}
}

// ReadDecision is the outcome of EvaluateKeyRead.
type ReadDecision int

const (
	// ReadUnknown: the ACL alone cannot decide (an ACE for a per-service SID
	// would grant it).
	ReadUnknown ReadDecision = iota
	// ReadAllowed: an allow ACE grants read to a SID in the token before any
	// deny ACE denies it.
	ReadAllowed
	// ReadDenied: a deny ACE matches first, or nothing grants read.
	ReadDenied
)

func (d ReadDecision) String() string {
	switch d {
	case ReadAllowed:
		return "allowed"
	case ReadDenied:
		return "denied"
	}
	return "unknown"
}

// Bool converts the decision for Certificate.TransportCanReadKey (nil when
// unknown).
func (d ReadDecision) Bool() *bool {
	switch d {
	case ReadAllowed:
		t := true
		return &t
	case ReadDenied:
		f := false
		return &f
	}
	return nil
}

// EvaluateKeyRead decides whether a process whose token holds tokenSIDs may
// read a key protected by acl, following Windows' AccessCheck order for a
// single right: ACEs are visited in order, inherit-only ACEs are skipped,
// the first matching deny ACE covering a read bit denies, the first
// matching allow ACE covering a read bit grants. A NULL DACL grants; an
// empty one denies. The reason names the deciding ACE, for KeyDetail.
func EvaluateKeyRead(acl KeyACL, tokenSIDs []string) (ReadDecision, string) {
	if acl.Null {
		return ReadAllowed, "the key has a NULL DACL (everyone has full access)"
	}
	inToken := make(map[string]bool, len(tokenSIDs))
	for _, s := range tokenSIDs {
		inToken[strings.ToUpper(s)] = true
	}
	var serviceGrant string
	for _, a := range acl.ACEs {
		if a.Flags&aceFlagInheritOnly != 0 || a.Mask&keyReadBits == 0 {
			continue
		}
		sid := strings.ToUpper(a.SID)
		if !inToken[sid] {
			if a.Type == AceTypeAccessAllowed && strings.HasPrefix(sid, serviceSIDPrefix) && serviceGrant == "" {
				serviceGrant = a.SID
			}
			continue
		}
		switch a.Type {
		case AceTypeAccessDenied:
			return ReadDenied, fmt.Sprintf("ACE %q denies read to %s", a.String(), wellKnownSIDName(a.SID))
		case AceTypeAccessAllowed:
			return ReadAllowed, fmt.Sprintf("ACE %q grants read to %s", a.String(), wellKnownSIDName(a.SID))
		}
	}
	if serviceGrant != "" {
		return ReadUnknown, fmt.Sprintf("only the per-service SID %s is granted read; it is in the transport token only if the service SID type allows it", serviceGrant)
	}
	return ReadDenied, "no ACE grants read to NETWORK SERVICE, Everyone, Authenticated Users or Users (run Enable-ExchangeCertificate -Services SMTP, or grant Read in Manage Private Keys)"
}

// wellKnownSIDName renders a SID with its account name when well known.
func wellKnownSIDName(sid string) string {
	names := map[string]string{
		SIDNetworkService:     `NT AUTHORITY\NETWORK SERVICE`,
		SIDEveryone:           "Everyone",
		SIDAuthenticatedUsers: `NT AUTHORITY\Authenticated Users`,
		SIDBuiltinUsers:       `BUILTIN\Users`,
		SIDService:            `NT AUTHORITY\SERVICE`,
		SIDLocal:              "LOCAL",
		SIDThisOrganization:   `NT AUTHORITY\This Organization`,
		SIDLocalSystem:        `NT AUTHORITY\SYSTEM`,
		SIDAdministrators:     `BUILTIN\Administrators`,
	}
	if n, ok := names[strings.ToUpper(sid)]; ok {
		return n + " (" + sid + ")"
	}
	return sid
}
