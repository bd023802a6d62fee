package helmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestMain removes the lab images the container tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	labImages.remove()
	os.Exit(code)
}

// imageSet builds the compose lab's images (scripts/build-images.sh
// --images-only) once per test binary, for every container test. The build
// has its own bound, generous because it compiles three binaries on a
// machine that may be loaded; the scenarios' own deadlines start after it,
// so a slow build never eats a scenario's time.
type imageSet struct {
	once sync.Once
	tag  string
	err  error
}

var labImages imageSet

func (s *imageSet) build(t *testing.T) string {
	t.Helper()
	s.once.Do(func() {
		s.tag = fmt.Sprintf("lab%d", os.Getpid())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		start := time.Now()
		cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "scripts", "build-images.sh"), "--images-only")
		cmd.Dir, cmd.Env = RepoRoot(), append(cleanEnv(), "TAG="+s.tag)
		if out, err := cmd.CombinedOutput(); err != nil {
			s.err = fmt.Errorf("scripts/build-images.sh --images-only: %w\n%s", err, tail(string(out), 3000))
			return
		}
		t.Logf("lab images %s built in %s", s.tag, time.Since(start).Round(time.Second))
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.tag
}

func (s *imageSet) remove() {
	if s.tag == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = exec.CommandContext(ctx, "docker", "rmi", "mxprobe-controller:"+s.tag, "mxprobe-agent:"+s.tag, "mxprobe-mxlab:"+s.tag).Run()
}
