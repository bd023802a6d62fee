package config

import "time"

// Agent is an agent's configuration.
type Agent struct {
	AgentID      string        `mapstructure:"agent_id"`
	Site         string        `mapstructure:"site"`
	Hostname     string        `mapstructure:"hostname"`
	Roles        []string      `mapstructure:"roles"`
	Controllers  []string      `mapstructure:"controllers"`
	StateDir     string        `mapstructure:"state_dir"`
	CertStores   []string      `mapstructure:"cert_store"`
	Probes       []string      `mapstructure:"probe"`
	ExpectName   string        `mapstructure:"expect_name"`
	CAFile       string        `mapstructure:"ca_file"`
	ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
	EHLOName     string        `mapstructure:"ehlo_name"`
	Expiry       struct {
		Warning time.Duration `mapstructure:"warning"`
		Error   time.Duration `mapstructure:"error"`
	} `mapstructure:"expiry"`
	Interval time.Duration `mapstructure:"interval"`
	Log      Log           `mapstructure:"log"`
}

// AgentKeys documents every agent setting.
func AgentKeys() []Key {
	return []Key{
		{Name: "agent_id", Default: DefaultHostname(), Help: "Stable id of this agent (default: host name)."},
		{Name: "site", Default: "default", Help: "Site (datacenter, office) this agent's server belongs to."},
		{Name: "hostname", Default: DefaultHostname(), Help: "FQDN of the Exchange/MTA server this agent watches."},
		{Name: "roles", Default: []string{}, Help: "Roles of the server: edge, mailbox, mta (comma-separated in env)."},
		{Name: "controllers", Default: []string{"127.0.0.1:7400"}, Help: "gRPC addresses of controller nodes (agent run); the agent follows NotLeader redirects."},
		{Name: "state_dir", Default: "./mxprobe-agent", Help: "Directory for the agent's durable state (batch sequence)."},
		{Name: "cert_store", Default: []string{}, Help: "Certificate stores to scan, as URIs: pemdir:PATH, snapshot:FILE, windows:LocalMachine\\My (repeatable flag)."},
		{Name: "probe", Default: []string{}, Help: "SMTP endpoints to probe with STARTTLS, as smtp://host:port (repeatable flag)."},
		{Name: "expect_name", Default: "", Help: "Host name probed certificates must match (default: the probed host)."},
		{Name: "ca_file", Default: "", Help: "PEM bundle of CAs trusted when verifying probed certificates (default: system roots)."},
		{Name: "probe_timeout", Default: 15 * time.Second, Help: "Deadline for one live SMTP probe (the controller's plan overrides it in agent run)."},
		{Name: "ehlo_name", Default: "", Help: "Name sent in EHLO (default: hostname)."},
		{Name: "expiry.warning", Default: 30 * 24 * time.Hour, Help: "CERT_EXPIRING at warning severity inside this window."},
		{Name: "expiry.error", Default: 7 * 24 * time.Hour, Help: "CERT_EXPIRING at error severity inside this window."},
		{Name: "interval", Default: 60 * time.Second, Help: "Check interval used until a controller sends its plan."},
		{Name: "log.level", Default: "info", Help: "debug, info, warn or error."},
		{Name: "log.format", Default: "text", Help: "text or json."},
	}
}
