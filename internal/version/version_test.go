package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, c := range []struct {
		name                  string
		bi                    *debug.BuildInfo
		stamp                 [3]string
		wantVersion           string
		wantLong, wantLongNot []string
	}{
		{"from build info", vcs, [3]string{}, "dev-0123456789ab",
			[]string{"dev-0123456789ab, commit 0123456789abcdef0123456789abcdef01234567 with local changes, committed 2026-12-01T10:00:00Z, go1.99 "}, nil},
		{"stamped", vcs, [3]string{"v1.2.3", "feedface", "2026-12-02T00:00:00Z"}, "v1.2.3",
			[]string{"v1.2.3, commit feedface with local changes, built 2026-12-02T00:00:00Z"}, []string{"committed"}},
		{"nothing known", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, [3]string{}, "dev",
			[]string{"dev, commit unknown", "build date unknown"}, nil},
		{"go install module@version", &debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}}, [3]string{}, "v0.4.0", []string{"v0.4.0, commit unknown"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			Version, Commit, BuildDate = c.stamp[0], c.stamp[1], c.stamp[2]
			defer func() { Version, Commit, BuildDate = "", "", "" }()
			b := describe(c.bi)
			if b.version != c.wantVersion {
				t.Errorf("version %q, want %q", b.version, c.wantVersion)
			}
			long := b.long()
			for _, w := range c.wantLong {
				if !strings.Contains(long, w) {
					t.Errorf("long %q lacks %q", long, w)
				}
			}
			for _, w := range c.wantLongNot {
				if strings.Contains(long, w) {
					t.Errorf("long %q has %q", long, w)
				}
			}
		})
	}
}
