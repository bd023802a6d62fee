package winsvc

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxprobe/mxprobe/internal/config"
	"github.com/mxprobe/mxprobe/internal/tempdir"
)

func TestPathsUnderProgramData(t *testing.T) {
	p := PathsUnder(`C:\ProgramData\`)
	want := Paths{Dir: `C:\ProgramData\mxprobe`, ConfigFile: `C:\ProgramData\mxprobe\agent.yaml`, StateDir: `C:\ProgramData\mxprobe\state`,
		LogDir: `C:\ProgramData\mxprobe\logs`, LogFile: `C:\ProgramData\mxprobe\logs\agent.log`}
	if p != want {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
}

// The config install writes must be accepted by the agent's own loader, with
// Windows paths (backslashes, quotes) intact.
func TestStarterConfigLoads(t *testing.T) {
	o := InstallOptions{Paths: PathsUnder(`C:\ProgramData`), Controllers: []string{"mxprobe.corp.example:7400", "10.0.0.5:7400"}, Site: "O'Hare",
		ControllerCAFile: `C:\ProgramData\mxprobe\controllers-ca.pem`}
	file := filepath.Join(tempdir.New(t), "agent.yaml")
	if err := os.WriteFile(file, []byte(StarterConfig(o)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig(file); err != nil {
		t.Fatalf("%v\n%s", err, StarterConfig(o))
	}
	var c config.Agent
	if err := config.Load(config.AgentKeys(), file, nil, &c); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Controllers, o.Controllers) || c.Site != "O'Hare" || c.StateDir != `C:\ProgramData\mxprobe\state` ||
		!slices.Equal(c.CertStores, []string{`windows:LocalMachine\My`}) || c.ControllerCAFile != `C:\ProgramData\mxprobe\controllers-ca.pem` {
		t.Errorf("loaded %+v", c)
	}
}

func TestCheckConfigRefusesBadFiles(t *testing.T) {
	dir := tempdir.New(t)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("controllers: [a:1]\ncontroler: b\n"), 0o600)
	if err := CheckConfig(unknown); !errors.Is(err, config.ErrUnknownKey) {
		t.Errorf("unknown key: %v", err)
	}
	noTrust := filepath.Join(dir, "notrust.yaml")
	os.WriteFile(noTrust, []byte("controllers: [a:1]\n"), 0o600)
	if err := CheckConfig(noTrust); err == nil {
		t.Errorf("a config that neither trusts a controller CA nor is insecure was accepted")
	}
	if err := CheckConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Errorf("missing file accepted")
	}
}

func TestServiceArgsRoundTrip(t *testing.T) {
	// The SCM starts `agent.exe service run --config FILE --log-file FILE --scm`: the command tree
	// must parse exactly that.
	args := ServiceArgs(`C:\ProgramData\mxprobe\agent.yaml`, `C:\ProgramData\mxprobe\logs\agent.log`)
	cmd := Command(func(context.Context, string, io.Writer) error { return nil })
	sub, rest, err := cmd.Find(args[1:])
	if err != nil || sub.Name() != "run" {
		t.Fatalf("find %v: %v %v", args, sub, err)
	}
	if err := sub.ParseFlags(rest); err != nil {
		t.Fatal(err)
	}
	if f, _ := sub.Flags().GetString("config"); f != args[3] {
		t.Errorf("--config %q", f)
	}
	if f, _ := sub.Flags().GetString("log-file"); f != args[5] {
		t.Errorf("--log-file %q", f)
	}
	if scm, _ := sub.Flags().GetBool("scm"); !scm {
		t.Errorf("the SCM's command line does not say the SCM started it: %v", args)
	}
	var names []string
	for _, c := range cmd.Commands() {
		names = append(names, c.Name())
	}
	for _, n := range []string{"install", "uninstall", "start", "stop"} {
		if !slices.Contains(names, n) {
			t.Errorf("no %s subcommand in %v", n, names)
		}
	}
}

func TestStubSaysWhatToDo(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stub is for other systems")
	}
	cmd := Command(nil)
	cmd.SetArgs([]string{"start"})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	if err := cmd.Execute(); !errors.Is(err, ErrNotWindows) {
		t.Errorf("got %v", err)
	}
}

func TestRunUntilStopped(t *testing.T) {
	t.Run("stop cancels and waits", func(t *testing.T) {
		stop := make(chan struct{})
		exited := make(chan struct{})
		go func() { time.Sleep(20 * time.Millisecond); close(stop) }()
		err := RunUntilStopped(func(ctx context.Context) error {
			<-ctx.Done()
			close(exited)
			return ctx.Err()
		}, stop, time.Second)
		if err != nil {
			t.Errorf("clean stop returned %v", err)
		}
		select {
		case <-exited:
		default:
			t.Errorf("returned before the agent exited")
		}
	})
	t.Run("agent failure is reported", func(t *testing.T) {
		boom := errors.New("boom")
		if err := RunUntilStopped(func(context.Context) error { return boom }, make(chan struct{}), time.Second); !errors.Is(err, boom) {
			t.Errorf("got %v", err)
		}
		if err := RunUntilStopped(func(context.Context) error { return nil }, make(chan struct{}), time.Second); err == nil {
			t.Errorf("an agent that returns on its own must count as a failure (the SCM restarts it)")
		}
	})
	t.Run("stuck agent times out", func(t *testing.T) {
		stop := make(chan struct{})
		close(stop)
		release := make(chan struct{})
		defer close(release)
		err := RunUntilStopped(func(context.Context) error { <-release; return nil }, stop, 30*time.Millisecond)
		if !errors.Is(err, ErrStopTimeout) {
			t.Errorf("got %v", err)
		}
	})
}
