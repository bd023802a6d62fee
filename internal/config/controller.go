package config

import "time"

// Controller is a controller node's configuration.
type Controller struct {
	NodeID    string `mapstructure:"node_id"`
	DataDir   string `mapstructure:"data_dir"`
	Bootstrap bool   `mapstructure:"bootstrap"`
	GRPC      struct {
		Listen    string `mapstructure:"listen"`
		Advertise string `mapstructure:"advertise"`
	} `mapstructure:"grpc"`
	HTTP struct {
		Listen string `mapstructure:"listen"`
	} `mapstructure:"http"`
	Raft struct {
		Listen    string `mapstructure:"listen"`
		Advertise string `mapstructure:"advertise"`
	} `mapstructure:"raft"`
	Plan struct {
		Interval     time.Duration `mapstructure:"interval"`
		Jitter       time.Duration `mapstructure:"jitter"`
		ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
		ProbeTargets []string      `mapstructure:"probe_targets"`
	} `mapstructure:"plan"`
	Log Log `mapstructure:"log"`
}

// Log configures logging for either binary.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// ControllerKeys documents every controller setting.
func ControllerKeys() []Key {
	return []Key{
		{Name: "node_id", Default: DefaultHostname(), Help: "Stable raft server id of this node (never reuse one for another node)."},
		{Name: "data_dir", Default: "./mxprobe-data", Help: "Directory for the raft log (raft.db) and snapshots."},
		{Name: "bootstrap", Default: false, Help: "Form a new single-node cluster if data_dir holds no raft state; ignored once state exists."},
		{Name: "grpc.listen", Default: ":7400", Help: "Address for gRPC: agent streams and the ControllerService API."},
		{Name: "grpc.advertise", Default: "", Help: "gRPC address agents are redirected to when this node leads (default: the bound address)."},
		{Name: "http.listen", Default: ":7401", Help: "Address for HTTP: REST/JSON API under /v1, /openapi.json, /healthz, /readyz, /metrics."},
		{Name: "raft.listen", Default: "127.0.0.1:7402", Help: "Address the raft transport binds."},
		{Name: "raft.advertise", Default: "", Help: "Routable raft address peers use (default raft.listen; 0.0.0.0 is rejected)."},
		{Name: "plan.interval", Default: 60 * time.Second, Help: "How often agents run their checks."},
		{Name: "plan.jitter", Default: 10 * time.Second, Help: "Random delay up to this added to each agent round."},
		{Name: "plan.probe_timeout", Default: 15 * time.Second, Help: "Deadline for one live SMTP probe."},
		{Name: "plan.probe_targets", Default: []string{}, Help: "Extra smtp://host:port targets every agent probes, comma-separated in env."},
		{Name: "log.level", Default: "info", Help: "debug, info, warn or error."},
		{Name: "log.format", Default: "text", Help: "text or json."},
	}
}
