// Package version carries the build's version, stamped at link time:
//
//	go build -ldflags "-X github.com/mxprobe/mxprobe/internal/version.Version=v1.2.3 \
//	  -X github.com/mxprobe/mxprobe/internal/version.Commit=$(git rev-parse HEAD) \
//	  -X github.com/mxprobe/mxprobe/internal/version.BuildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// What is not stamped comes from the module build info (the VCS revision
// and commit time Go records when building inside a checkout).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by -ldflags; empty means not stamped.
var (
	Version   = ""
	Commit    = ""
	BuildDate = ""
)

// String is the version, falling back to the VCS revision for dev builds.
func String() string {
	return describe(read()).version
}

// Long is what --version prints: version, commit and build date, each
// from the link-time stamp or the build info, or said to be unknown.
func Long() string {
	return describe(read()).long()
}

func read() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

type build struct {
	version, commit, date, dateKind, goVersion string
	modified                                   bool
}

func describe(bi *debug.BuildInfo) build {
	b := build{version: Version, commit: Commit, date: BuildDate, dateKind: "built", goVersion: runtime.Version()}
	var rev, vcsTime string
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				b.modified = s.Value == "true"
			}
		}
		if bi.GoVersion != "" {
			b.goVersion = bi.GoVersion
		}
		if b.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.version = bi.Main.Version // go install module@version
		}
	}
	if b.commit == "" {
		b.commit = rev
	}
	if b.date == "" && vcsTime != "" {
		b.date, b.dateKind = vcsTime, "committed"
	}
	if b.version == "" {
		b.version = "dev"
		if len(rev) >= 12 {
			b.version = "dev-" + rev[:12]
		}
	}
	return b
}

func (b build) long() string {
	parts := []string{b.version}
	switch {
	case b.commit == "":
		parts = append(parts, "commit unknown (not stamped, built without VCS information)")
	case b.modified:
		parts = append(parts, "commit "+b.commit+" with local changes")
	default:
		parts = append(parts, "commit "+b.commit)
	}
	if b.date == "" {
		parts = append(parts, "build date unknown (not stamped)")
	} else {
		parts = append(parts, b.dateKind+" "+b.date)
	}
	parts = append(parts, fmt.Sprintf("%s %s/%s", b.goVersion, runtime.GOOS, runtime.GOARCH))
	return strings.Join(parts, ", ")
}
