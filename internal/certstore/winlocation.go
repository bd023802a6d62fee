package certstore

import (
	"fmt"
	"strings"
)

// SystemStoreLocation is the registry hive a Windows system store lives in.
type SystemStoreLocation int

const (
	// LocalMachine is CERT_SYSTEM_STORE_LOCAL_MACHINE (Cert:\LocalMachine),
	// where Exchange transport looks for its certificates.
	LocalMachine SystemStoreLocation = iota + 1
	// CurrentUser is CERT_SYSTEM_STORE_CURRENT_USER (Cert:\CurrentUser).
	CurrentUser
)

func (l SystemStoreLocation) String() string {
	switch l {
	case LocalMachine:
		return "LocalMachine"
	case CurrentUser:
		return "CurrentUser"
	}
	return fmt.Sprintf("SystemStoreLocation(%d)", int(l))
}

// WindowsLocation names a Windows system certificate store, e.g.
// LocalMachine\My.
type WindowsLocation struct {
	Location SystemStoreLocation
	// Store is the system store name ("My", "WebHosting", "Root", "CA" ...).
	Store string
}

func (w WindowsLocation) String() string { return w.Location.String() + `\` + w.Store }

// ParseWindowsLocation parses `LocalMachine\My`, `CurrentUser\My`, the
// PowerShell form `Cert:\LocalMachine\My`, and the same with forward
// slashes. The location is case-insensitive; the store name is kept as
// given (Windows store names are case-insensitive too). An empty store name
// defaults to "My".
func ParseWindowsLocation(s string) (WindowsLocation, error) {
	orig := s
	s = strings.TrimSpace(strings.ReplaceAll(s, "/", `\`))
	if len(s) >= 5 && strings.EqualFold(s[:5], `cert:`) {
		s = strings.TrimPrefix(s[5:], `\`)
	}
	loc, store, _ := strings.Cut(s, `\`)
	var w WindowsLocation
	switch strings.ToLower(loc) {
	case "localmachine", "local_machine", "hklm":
		w.Location = LocalMachine
	case "currentuser", "current_user", "hkcu":
		w.Location = CurrentUser
	default:
		return WindowsLocation{}, fmt.Errorf("%w: %q: location must be LocalMachine or CurrentUser", ErrBadLocation, orig)
	}
	store = strings.TrimSuffix(store, `\`)
	if store == "" {
		store = "My"
	}
	if strings.ContainsAny(store, `\`+"\x00") || len(store) > 256 {
		return WindowsLocation{}, fmt.Errorf("%w: %q: bad store name", ErrBadLocation, orig)
	}
	w.Store = store
	return w, nil
}
