//go:build windows

package winsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/eventlog"
	"golang.org/x/sys/windows/svc/mgr"
)

// stopGrace is how long the agent gets to flush and close its stream after
// an SCM stop; the SCM's own wait is longer (WaitHint).
const stopGrace = 20 * time.Second

// maxLogBytes bounds agent.log (plus one rotated agent.log.1).
const maxLogBytes = 10 << 20

func install(o InstallOptions, out io.Writer) error {
	if o.ConfigFile == "" {
		o.ConfigFile = o.Paths.ConfigFile
	}
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	for _, d := range []string{o.Paths.Dir, o.Paths.StateDir, o.Paths.LogDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("agent service: %w", err)
		}
	}
	if _, err := os.Stat(o.ConfigFile); errors.Is(err, os.ErrNotExist) {
		if len(o.Controllers) == 0 {
			return fmt.Errorf("agent service: %s does not exist: pass --controllers host:port (and --site) to write it", o.ConfigFile)
		}
		if err := os.WriteFile(o.ConfigFile, []byte(StarterConfig(o)), 0o640); err != nil {
			return fmt.Errorf("agent service: %w", err)
		}
		fmt.Fprintf(out, "wrote %s\n", o.ConfigFile)
	}
	if err := CheckConfig(o.ConfigFile); err != nil {
		return fmt.Errorf("agent service: the agent would not start with %s: %w", o.ConfigFile, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("agent service: connect to the Service Control Manager (run as Administrator): %w", err)
	}
	defer m.Disconnect()
	if s, err := m.OpenService(Name); err == nil {
		s.Close()
		return fmt.Errorf("agent service: %s is already installed (to upgrade, stop it and replace the executable; see docs/windows.md)", Name)
	}
	// Delayed start and the service SID are set one by one after creation
	// (not through mgr.Config, which gives up on the first refusal), so an
	// SCM that does not know one of them (Wine 8 answers "Invalid level" to
	// ChangeServiceConfig2 levels 3, 4 and 5) leaves a working service and a
	// warning.
	s, err := m.CreateService(Name, exe, mgr.Config{
		ServiceType: windows.SERVICE_WIN32_OWN_PROCESS, StartType: mgr.StartAutomatic,
		ErrorControl: mgr.ErrorNormal, DisplayName: DisplayName, Description: Description,
		ServiceStartName: o.Account, Password: o.Password,
	}, ServiceArgs(o.ConfigFile, o.Paths.LogFile)...)
	if err != nil {
		return fmt.Errorf("agent service: create: %w", err)
	}
	defer s.Close()
	// A service SID (NT SERVICE\mxprobe-agent) exists whatever the account,
	// so file rights can be granted to the service alone.
	sid := uint32(windows.SERVICE_SID_TYPE_UNRESTRICTED)
	if err := optional(out, "service SID (ChangeServiceConfig2 level 5)", changeConfig2(s, windows.SERVICE_CONFIG_SERVICE_SID_INFO, unsafe.Pointer(&sid))); err != nil {
		return err
	}
	if o.DelayedAuto {
		on := uint32(1)
		if err := optional(out, "delayed automatic start (ChangeServiceConfig2 level 3)", changeConfig2(s, windows.SERVICE_CONFIG_DELAYED_AUTO_START_INFO, unsafe.Pointer(&on))); err != nil {
			return err
		}
	}
	// Restart after 10 s, 30 s, then every 60 s; count failures per day.
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{
		{Type: mgr.ServiceRestart, Delay: 10 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 30 * time.Second},
		{Type: mgr.ServiceRestart, Delay: 60 * time.Second},
	}, 24*60*60); err != nil {
		return fmt.Errorf("agent service: recovery actions: %w", err)
	}
	// The agent exiting with an error (not only a crash) counts as a failure.
	if err := optional(out, "restart after a non-crash failure (ChangeServiceConfig2 level 4)", s.SetRecoveryActionsOnNonCrashFailures(true)); err != nil {
		return err
	}
	if err := eventlog.InstallAsEventCreate(Name, eventlog.Error|eventlog.Warning|eventlog.Info); err != nil {
		fmt.Fprintf(out, "warning: Event Log source %s: %v (logs still go to %s)\n", Name, err, o.Paths.LogFile)
	}
	// The service writes only its state and logs; everything else stays read-only to it.
	for _, d := range []string{o.Paths.StateDir, o.Paths.LogDir} {
		if b, err := exec.Command("icacls", d, "/grant", `NT SERVICE\`+Name+":(OI)(CI)M").CombinedOutput(); err != nil {
			return fmt.Errorf("agent service: grant %s on %s: %v: %s", Name, d, err, b)
		}
	}
	fmt.Fprintf(out, "installed %s (account %s, config %s); start it with: agent service start\n", Name, o.Account, o.ConfigFile)
	return nil
}

// changeConfig2 sets one ChangeServiceConfig2 level.
func changeConfig2(s *mgr.Service, level uint32, info unsafe.Pointer) error {
	return windows.ChangeServiceConfig2(s.Handle, level, (*byte)(info))
}

// optional turns an SCM's ERROR_INVALID_LEVEL for an optional setting into
// a warning; any other error stays an error.
func optional(out io.Writer, what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		fmt.Fprintf(out, "warning: this Service Control Manager does not support %s: %v; the service is installed without it\n", what, err)
		return nil
	}
	return fmt.Errorf("agent service: %s: %w", what, err)
}

func openService() (*mgr.Mgr, *mgr.Service, error) {
	m, err := mgr.Connect()
	if err != nil {
		return nil, nil, fmt.Errorf("agent service: connect to the Service Control Manager (run as Administrator): %w", err)
	}
	s, err := m.OpenService(Name)
	if err != nil {
		m.Disconnect()
		return nil, nil, fmt.Errorf("agent service: %s is not installed: %w", Name, err)
	}
	return m, s, nil
}

func uninstall(out io.Writer) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if st, err := s.Query(); err == nil && st.State != svc.Stopped {
		if err := waitStopped(s, 60*time.Second); err != nil {
			return err
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("agent service: delete: %w", err)
	}
	if err := eventlog.Remove(Name); err != nil {
		fmt.Fprintf(out, "warning: removing Event Log source: %v\n", err)
	}
	fmt.Fprintf(out, "removed %s (configuration, state and logs under %s are kept)\n", Name, DefaultPaths().Dir)
	return nil
}

func start(out io.Writer) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := s.Start(); errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
		// Start is idempotent: an automatic-start service may already have
		// been started by the SCM (at boot; under Wine, whenever the prefix
		// starts).
		fmt.Fprintf(out, "%s is already running\n", Name)
		return nil
	} else if err != nil {
		return fmt.Errorf("agent service: start: %w", err)
	}
	fmt.Fprintf(out, "started %s\n", Name)
	return nil
}

func stop(out io.Writer, timeout time.Duration) error {
	m, s, err := openService()
	if err != nil {
		return err
	}
	defer m.Disconnect()
	defer s.Close()
	if err := waitStopped(s, timeout); err != nil {
		return err
	}
	fmt.Fprintf(out, "stopped %s\n", Name)
	return nil
}

// waitStopped sends Stop (unless already stopping) and polls until Stopped.
func waitStopped(s *mgr.Service, timeout time.Duration) error {
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("agent service: query: %w", err)
	}
	if st.State != svc.Stopped && st.State != svc.StopPending {
		if st, err = s.Control(svc.Stop); err != nil {
			return fmt.Errorf("agent service: stop: %w", err)
		}
	}
	deadline := time.Now().Add(timeout)
	for st.State != svc.Stopped {
		if time.Now().After(deadline) {
			return fmt.Errorf("agent service: still %d after %s", st.State, timeout)
		}
		time.Sleep(300 * time.Millisecond)
		if st, err = s.Query(); err != nil {
			return fmt.Errorf("agent service: query: %w", err)
		}
	}
	return nil
}

// runService is `agent service run`: under the SCM (bySCM, or detected for
// services installed without --scm) it hosts the agent with its log going
// to agent.log and the Event Log; from a console it runs the agent in the
// foreground (for trying a configuration as the service would).
func runService(ctx context.Context, run Runner, configFile, logFile string, bySCM bool) error {
	isService := bySCM
	if !isService {
		detected, err := svc.IsWindowsService()
		if err != nil {
			return fmt.Errorf("agent service: %w", err)
		}
		isService = detected
	}
	if !isService {
		return run(ctx, configFile, os.Stderr)
	}
	elog, err := eventlog.Open(Name)
	if err != nil {
		elog = nil // source not installed: file only
	}
	var events EventSink
	if elog != nil {
		defer elog.Close()
		events = elog
	}
	var file io.Writer
	if err := os.MkdirAll(filepath.Dir(logFile), 0o750); err == nil {
		if rf, err := OpenRotating(logFile, maxLogBytes); err == nil {
			defer rf.Close()
			file = rf
		}
	}
	// The Event Log gets warnings and errors; the file gets every line.
	logOut := NewLogWriter(file, events, LevelWarning)
	h := &handler{run: func(ctx context.Context) error { return run(ctx, configFile, logOut) }, events: events}
	return svc.Run(Name, h)
}

type handler struct {
	run    func(context.Context) error
	events EventSink
}

func (h *handler) note(level Level, msg string) {
	if h.events == nil {
		return
	}
	if level == LevelError {
		_ = h.events.Error(EventError, msg)
	} else {
		_ = h.events.Info(EventInfo, msg)
	}
}

// Execute is called by svc.Run on the SCM's behalf.
func (h *handler) Execute(_ []string, req <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	stopCh := make(chan struct{})
	result := make(chan error, 1)
	go func() { result <- RunUntilStopped(h.run, stopCh, stopGrace) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	h.note(LevelInfo, Name+" started")
	for {
		select {
		case err := <-result:
			// The agent ended on its own: report a service-specific failure so
			// the SCM's recovery actions restart it.
			h.note(LevelError, fmt.Sprintf("%s stopped: %v", Name, err))
			return true, 1
		case c := <-req:
			switch c.Cmd {
			case svc.Interrogate:
				status <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32((stopGrace + 5*time.Second) / time.Millisecond)}
				close(stopCh)
				if err := <-result; err != nil {
					h.note(LevelError, fmt.Sprintf("%s stop: %v", Name, err))
					return true, 2
				}
				h.note(LevelInfo, Name+" stopped")
				return false, 0
			}
		}
	}
}
