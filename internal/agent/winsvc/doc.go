// Package winsvc runs the agent as a Windows service: `agent service
// install|uninstall|start|stop` (golang.org/x/sys/windows/svc/mgr) and the
// service host that the Service Control Manager starts (`agent service run`),
// which runs the agent's loop until the SCM asks it to stop or the machine
// shuts down.
//
// Defaults, chosen for least privilege (docs/windows.md):
//   - account NT SERVICE\mxprobe-agent, a virtual account that is a plain
//     member of Users (no password to manage, no interactive logon);
//   - configuration %ProgramData%\mxprobe\agent.yaml, agent state in
//     %ProgramData%\mxprobe\state, log file %ProgramData%\mxprobe\logs\agent.log;
//   - every log line also goes to the Windows Event Log (source mxprobe-agent),
//     at the level slog gave it.
//
// The platform-neutral parts (paths, the starter config, the stop logic, log
// routing and rotation) are here and tested on Linux; the SCM calls live in
// service_windows.go, and other systems get a stub that says to use
// `agent run` under their own supervisor.
package winsvc
