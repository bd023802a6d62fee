// Package version carries the build's version, stamped at link time:
// go build -ldflags "-X github.com/mxprobe/mxprobe/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is set by -ldflags; empty means a development build.
var Version = ""

// String is the version, falling back to the VCS revision for dev builds.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
