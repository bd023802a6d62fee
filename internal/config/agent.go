package config

import "time"

// Agent is an agent's configuration.
type Agent struct {
	AgentID       string   `mapstructure:"agent_id"`
	Site          string   `mapstructure:"site"`
	Hostname      string   `mapstructure:"hostname"`
	Roles         []string `mapstructure:"roles"`
	Controllers   []string `mapstructure:"controllers"`
	StateDir      string   `mapstructure:"state_dir"`
	SpoolMaxBytes int      `mapstructure:"spool_max_bytes"`
	// ControllerCAFile verifies controllers; Insecure streams in plaintext.
	ControllerCAFile string        `mapstructure:"controller_ca_file"`
	Insecure         bool          `mapstructure:"insecure"`
	CertStores       []string      `mapstructure:"cert_store"`
	Probes           []string      `mapstructure:"probe"`
	ExpectName       string        `mapstructure:"expect_name"`
	CAFile           string        `mapstructure:"ca_file"`
	ProbeTimeout     time.Duration `mapstructure:"probe_timeout"`
	EHLOName         string        `mapstructure:"ehlo_name"`
	Expiry           struct {
		Warning time.Duration `mapstructure:"warning"`
		Error   time.Duration `mapstructure:"error"`
	} `mapstructure:"expiry"`
	ExchangeInventory  string        `mapstructure:"exchange_inventory"`
	ProtocolLogs       []string      `mapstructure:"protocol_logs"`
	QueueFile          string        `mapstructure:"queue_file"`
	ProbeSendConnector string        `mapstructure:"probe_send_connector"`
	ProtocolLogWindow  time.Duration `mapstructure:"protocol_log_window"`
	Interval           time.Duration `mapstructure:"interval"`
	Log                Log           `mapstructure:"log"`
}

// AgentKeys documents every agent setting.
func AgentKeys() []Key {
	return []Key{
		{Name: "agent_id", Default: DefaultHostname(), Help: "Stable id of this agent (default: host name)."},
		{Name: "site", Default: "default", Help: "Site (datacenter, office) this agent's server belongs to."},
		{Name: "hostname", Default: DefaultHostname(), Help: "FQDN of the Exchange/MTA server this agent watches."},
		{Name: "roles", Default: []string{}, Help: "Roles of the server: edge, mailbox, mta (comma-separated in env)."},
		{Name: "controllers", Default: []string{"127.0.0.1:7400"}, Help: "gRPC addresses of controller nodes (agent run); the agent follows NotLeader redirects."},
		{Name: "state_dir", Default: "./mxprobe-agent", Help: "Directory for the agent's durable state: the result spool (store-and-forward outbox) and protocol-log offsets."},
		{Name: "controller_ca_file", Default: "", Help: "CA (PEM) that signed the controllers' certificates (the cluster CA); required unless insecure."},
		{Name: "insecure", Default: false, Help: "Stream to the controller without TLS or client certificate (labs only; the controller must run insecure too)."},
		{Name: "spool_max_bytes", Default: 256 << 20, Help: "Bound of the durable result spool; when an outage fills it the oldest batches are dropped and reported as AGENT_SPOOL_LOSS."},
		{Name: "cert_store", Default: []string{}, Help: "Certificate stores to scan, as URIs: pemdir:PATH, snapshot:FILE, windows:LocalMachine\\My (repeatable flag)."},
		{Name: "probe", Default: []string{}, Help: "SMTP endpoints to probe with STARTTLS, as smtp://host:port (repeatable flag)."},
		{Name: "expect_name", Default: "", Help: "Host name probed certificates must match (default: the probed host)."},
		{Name: "ca_file", Default: "", Help: "PEM bundle of CAs trusted when verifying probed certificates (default: system roots)."},
		{Name: "probe_timeout", Default: 15 * time.Second, Help: "Deadline for one live SMTP probe (the controller's plan overrides it in agent run)."},
		{Name: "ehlo_name", Default: "", Help: "Name sent in EHLO (default: hostname)."},
		{Name: "exchange_inventory", Default: "", Help: "Exchange connector inventory: a JSON file (docs/exchange-inventory.md), or \"collect\" to run the Exchange Management Shell (Windows). Needs cert_store (default on Windows: windows:LocalMachine\\My)."},
		{Name: "protocol_logs", Default: []string{}, Help: "SMTP protocol log directories (SmtpSend/SmtpReceive trees; repeatable flag). agent check parses them once; agent run tails them with offsets in state_dir."},
		{Name: "queue_file", Default: "", Help: "Get-Queue | ConvertTo-Json export to check for TLS failure signatures (docs/queue-format.md), or \"collect\" to run Get-Queue through the Exchange Management Shell (Windows)."},
		{Name: "probe_send_connector", Default: "", Help: "Probes present the client certificate this send connector would choose (needs exchange_inventory), to test mutual TLS the way the partner sees it."},
		{Name: "protocol_log_window", Default: 24 * time.Hour, Help: "agent run: a protocol-log failure not seen again for this long stops being a finding (a successful session on the same path clears it sooner); 0 keeps it until then."},
		{Name: "expiry.warning", Default: 30 * 24 * time.Hour, Help: "CERT_EXPIRING at warning severity inside this window."},
		{Name: "expiry.error", Default: 7 * 24 * time.Hour, Help: "CERT_EXPIRING at error severity inside this window."},
		{Name: "interval", Default: 60 * time.Second, Help: "Check interval used until a controller sends its plan."},
		{Name: "log.level", Default: "info", Help: "debug, info, warn or error."},
		{Name: "log.format", Default: "text", Help: "text or json."},
	}
}
