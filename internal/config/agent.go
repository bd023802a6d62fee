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
	// AckTimeout: how long a controller may leave Hello or a sent batch
	// unanswered before the agent leaves it.
	AckTimeout time.Duration `mapstructure:"ack_timeout"`
	// BatchesInFlight: batches sent before waiting for the oldest's ack.
	BatchesInFlight int `mapstructure:"batches_in_flight"`
	// ControllerCAFile verifies controllers; Insecure streams in plaintext.
	ControllerCAFile string        `mapstructure:"controller_ca_file"`
	Insecure         bool          `mapstructure:"insecure"`
	CertStores       []string      `mapstructure:"cert_store"`
	Probes           []string      `mapstructure:"probe"`
	ExpectName       string        `mapstructure:"expect_name"`
	CAFile           string        `mapstructure:"ca_file"`
	PFXPasswordFile  string        `mapstructure:"pfx_password_file"`
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
	MailDomains        []string      `mapstructure:"mail_domains"`
	DNSResolver        string        `mapstructure:"dns_resolver"`
	EventLog           bool          `mapstructure:"event_log"`
	EventLogFiles      []string      `mapstructure:"event_log_file"`
	EventLogWindow     time.Duration `mapstructure:"event_log_window"`
	Interval           time.Duration `mapstructure:"interval"`
	Log                Log           `mapstructure:"log"`
}

// AgentKeys documents every agent setting.
func AgentKeys() []Key {
	return []Key{
		{Name: "agent_id", Default: DefaultHostname(), Help: "Stable id of this agent (default: host name)."},
		{Name: "site", Default: "default", Help: "Site (datacenter, office) this agent's server belongs to."},
		{Name: "hostname", Default: DefaultHostname(), Help: "FQDN of the Exchange/MTA server this agent watches."},
		{Name: "roles", Default: []string{}, CommaList: true, Help: "Roles of the server: edge, mailbox, mta (comma-separated, or a repeated flag)."},
		{Name: "controllers", Default: []string{"127.0.0.1:7400"}, CommaList: true, Help: "gRPC addresses of controller nodes (agent run; comma-separated, or a repeated flag); the agent follows NotLeader redirects."},
		{Name: "ack_timeout", Default: 10 * time.Second, Help: "agent run: a controller that leaves Hello unanswered, or acknowledges nothing while batches are outstanding, for this long is left for the next address in controllers (a paused or overloaded node); the batches are sent again there and applied once."},
		{Name: "batches_in_flight", Default: 4, Help: "agent run: result batches sent to the controller before the agent waits for the oldest one's acknowledgement (a backlog after an outage is streamed this many at a time; the controller holds at most 16 per agent and acknowledges in order)."},
		{Name: "state_dir", Default: DefaultAgentStateDir(), Help: "Directory for the agent's durable state: the result spool (store-and-forward outbox), protocol-log offsets and the enrolled certificate. Default: %ProgramData%\\mxprobe\\state on Windows, else $XDG_STATE_HOME/mxprobe-agent when set, /var/lib/mxprobe-agent for root, ~/.local/state/mxprobe-agent for others; never the working directory."},
		{Name: "controller_ca_file", Default: "", Help: "CA (PEM) that signed the controllers' certificates (the cluster CA); required unless insecure."},
		{Name: "insecure", Default: false, Help: "Stream to the controller without TLS or client certificate (labs only; the controller must run insecure too)."},
		{Name: "spool_max_bytes", Default: 256 << 20, Help: "Bound of the durable result spool; when an outage fills it the oldest batches are dropped and reported as AGENT_SPOOL_LOSS."},
		{Name: "cert_store", Default: []string{}, Help: "Certificate stores to scan, as URIs: pemdir:PATH, snapshot:FILE, windows:LocalMachine\\My (repeatable flag)."},
		{Name: "probe", Default: []string{}, Help: "SMTP endpoints to probe with STARTTLS, as smtp://host:port (repeatable flag)."},
		{Name: "expect_name", Default: "", Help: "Host name probed certificates must match (default: the probed host)."},
		{Name: "ca_file", Default: "", Help: "PEM bundle of CAs trusted when verifying probed certificates (default: system roots)."},
		{Name: "pfx_password_file", Default: "", Help: "File holding the passwords of password-protected PFX/PKCS#12 files in cert_store (pemdir:), one per line, tried in order after MXPROBE_PFX_PASSWORD (environment only) and before the empty password. The passwords are never logged or reported; keep the file readable only by the agent's account."},
		{Name: "probe_timeout", Default: 15 * time.Second, Help: "Deadline for one live SMTP probe (the controller's plan overrides it in agent run)."},
		{Name: "ehlo_name", Default: "", Help: "Name sent in EHLO (default: hostname)."},
		{Name: "exchange_inventory", Default: "", Help: "Exchange connector inventory: a JSON file (docs/exchange-inventory.md), or \"collect\" to run the Exchange Management Shell (Windows). Needs cert_store (default on Windows: windows:LocalMachine\\My)."},
		{Name: "protocol_logs", Default: []string{}, Help: "SMTP protocol log directories (SmtpSend/SmtpReceive trees; repeatable flag). agent check parses them once; agent run tails them with offsets in state_dir."},
		{Name: "queue_file", Default: "", Help: "Get-Queue | ConvertTo-Json export to check for TLS failure signatures (docs/queue-format.md), or \"collect\" to run Get-Queue through the Exchange Management Shell (Windows)."},
		{Name: "probe_send_connector", Default: "", Help: "Probes present the client certificate this send connector would choose (needs exchange_inventory), to test mutual TLS the way the partner sees it."},
		{Name: "protocol_log_window", Default: 24 * time.Hour, Help: "agent run: a protocol-log failure not seen again for this long stops being a finding (a successful session on the same path clears it sooner); 0 keeps it until then."},
		{Name: "expiry.warning", Default: 30 * 24 * time.Hour, Help: "CERT_EXPIRING at warning severity inside this window."},
		{Name: "expiry.error", Default: 7 * 24 * time.Hour, Help: "CERT_EXPIRING at error severity inside this window."},
		{Name: "mail_domains", Default: []string{}, Help: "Accepted domains to check from outside (mail_domain check: MX, A/AAAA, DNSSEC, DANE TLSA against a live STARTTLS probe, MTA-STS, TLS-RPT record; docs/outside-in.md; repeatable flag)."},
		{Name: "dns_resolver", Default: "", Help: "Validating DNS resolver (host or host:port) for mail_domains; its AD bit decides DNSSEC status, and one that does not validate is reported as such (default: /etc/resolv.conf's first nameserver; required on Windows)."},
		{Name: "event_log", Default: false, Help: "Read Exchange transport events 12012-12016/12023/12024 and Schannel 36874/36887/36888 from this server's Event Log (Windows; docs/findings.md)."},
		{Name: "event_log_file", Default: []string{}, Help: "Exported .evtx files (Application and/or System log, e.g. wevtutil epl Application app.evtx) to read the same events from, on any OS (repeatable flag)."},
		{Name: "event_log_window", Default: 24 * time.Hour, Help: "Events older than this count no more: from now for the live log, from the newest such event for a file; 0 reads all."},
		{Name: "interval", Default: 60 * time.Second, Help: "Check interval used until a controller sends its plan."},
		{Name: "log.level", Default: "info", Help: "debug, info, warn or error."},
		{Name: "log.format", Default: "text", Help: "text or json."},
	}
}

// AgentRunOnlyKeys are the settings only agent run (and the service) uses:
// the controller connection, the spool and tailing state, the schedule.
var AgentRunOnlyKeys = []string{"controllers", "ack_timeout", "batches_in_flight", "controller_ca_file", "insecure", "spool_max_bytes", "state_dir", "interval", "protocol_log_window"}

// AgentCheckKeys are the flags of agent check: what it reads and probes,
// not how agent run streams.
func AgentCheckKeys() []Key { return Without(AgentKeys(), AgentRunOnlyKeys...) }

// AgentEnrollKeys are the flags of agent enroll.
func AgentEnrollKeys() []Key {
	return Only(AgentKeys(), "agent_id", "hostname", "controllers", "controller_ca_file", "state_dir", "log")
}

// AgentStatusKeys are the flags of agent status.
func AgentStatusKeys() []Key { return Only(AgentKeys(), "state_dir", "log") }
