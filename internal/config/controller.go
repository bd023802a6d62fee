package config

import "time"

// Controller is a controller node's configuration.
type Controller struct {
	NodeID          string        `mapstructure:"node_id"`
	DataDir         string        `mapstructure:"data_dir"`
	DataDirLock     time.Duration `mapstructure:"data_dir_lock_timeout"`
	Bootstrap       bool          `mapstructure:"bootstrap"`
	BootstrapExpect int           `mapstructure:"bootstrap_expect"`
	RetryJoin       []string      `mapstructure:"retry_join"`
	GRPC            struct {
		Listen         string `mapstructure:"listen"`
		Advertise      string `mapstructure:"advertise"`
		AgentAdvertise string `mapstructure:"agent_advertise"`
	} `mapstructure:"grpc"`
	HTTP struct {
		Listen          string        `mapstructure:"listen"`
		MaxBodyBytes    int           `mapstructure:"max_body_bytes"`
		MaxRestoreBytes int           `mapstructure:"max_restore_bytes"`
		BodyTimeout     time.Duration `mapstructure:"body_timeout"`
	} `mapstructure:"http"`
	HTTPAdvertise string `mapstructure:"http_advertise"`
	TLSRPT        struct {
		Listen     string        `mapstructure:"listen"`
		StaleGrace time.Duration `mapstructure:"stale_grace"`
	} `mapstructure:"tlsrpt"`
	Raft struct {
		Listen            string        `mapstructure:"listen"`
		Advertise         string        `mapstructure:"advertise"`
		SnapshotThreshold int           `mapstructure:"snapshot_threshold"`
		DeadServerTimeout time.Duration `mapstructure:"dead_server_timeout"`
	} `mapstructure:"raft"`
	TLS struct {
		CertFile string `mapstructure:"cert_file"`
		KeyFile  string `mapstructure:"key_file"`
		CAFile   string `mapstructure:"ca_file"`
	} `mapstructure:"tls"`
	Insecure bool `mapstructure:"insecure"`
	AgentCA  struct {
		CertFile string        `mapstructure:"cert_file"`
		KeyFile  string        `mapstructure:"key_file"`
		CertTTL  time.Duration `mapstructure:"cert_ttl"`
	} `mapstructure:"agent_ca"`
	Auth struct {
		BootstrapToken string  `mapstructure:"bootstrap_token"`
		TokenRate      float64 `mapstructure:"token_rate"`
		AgentBatchRate float64 `mapstructure:"agent_batch_rate"`
		MetricsPublic  bool    `mapstructure:"metrics_public"`
	} `mapstructure:"auth"`
	// Correlation (internal/controller/correlate).
	Correlation struct {
		Interval              time.Duration `mapstructure:"interval"`
		OpenAfterObservations int           `mapstructure:"open_after_observations"`
		OpenAfter             time.Duration `mapstructure:"open_after"`
		ResolveAfterClean     int           `mapstructure:"resolve_after_clean"`
		ReopenWindow          time.Duration `mapstructure:"reopen_window"`
		SilentAfter           time.Duration `mapstructure:"silent_after"`
		Retention             time.Duration `mapstructure:"retention"`
	} `mapstructure:"correlation"`
	Plan struct {
		Interval     time.Duration `mapstructure:"interval"`
		Jitter       time.Duration `mapstructure:"jitter"`
		ProbeTimeout time.Duration `mapstructure:"probe_timeout"`
		ProbeTargets []string      `mapstructure:"probe_targets"`
	} `mapstructure:"plan"`
	// Notify (internal/controller/notify).
	Notify struct {
		AllowPrivate bool          `mapstructure:"allow_private"`
		ExternalURL  string        `mapstructure:"external_url"`
		RunbookURL   string        `mapstructure:"runbook_url"`
		Timeout      time.Duration `mapstructure:"timeout"`
		RetryFor     time.Duration `mapstructure:"retry_for"`
		MaxAttempts  int           `mapstructure:"max_attempts"`
		BackoffBase  time.Duration `mapstructure:"backoff_base"`
		BackoffMax   time.Duration `mapstructure:"backoff_max"`
		Webhook      struct {
			URL     string   `mapstructure:"url"`
			Secrets []string `mapstructure:"secrets"`
		} `mapstructure:"webhook"`
		PagerDuty struct {
			URL        string `mapstructure:"url"`
			RoutingKey string `mapstructure:"routing_key"`
		} `mapstructure:"pagerduty"`
		ServiceNow struct {
			URL             string `mapstructure:"url"`
			Username        string `mapstructure:"username"`
			Password        string `mapstructure:"password"`
			Source          string `mapstructure:"source"`
			Mode            string `mapstructure:"mode"`
			CloseCode       string `mapstructure:"close_code"`
			AssignmentGroup string `mapstructure:"assignment_group"`
		} `mapstructure:"servicenow"`
		Alertmanager struct {
			URL            string        `mapstructure:"url"`
			ResendInterval time.Duration `mapstructure:"resend_interval"`
			Labels         []string      `mapstructure:"labels"`
		} `mapstructure:"alertmanager"`
	} `mapstructure:"notify"`
	Debug struct {
		Pprof bool `mapstructure:"pprof"`
	} `mapstructure:"debug"`
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
		{Name: "data_dir", Default: "./mxprobe-data", Help: "Directory for the raft log (wal/; a raft.db an earlier version wrote is migrated into wal/ at start; raft.db on Windows) and snapshots."},
		{Name: "data_dir_lock_timeout", Default: 5 * time.Second, Help: "How long to wait for data_dir when another process holds it (a second controller started on it by mistake) before exiting with the holder's pid."},
		{Name: "bootstrap", Default: false, Help: "Form a new single-node cluster if data_dir holds no raft state; ignored once state exists."},
		{Name: "bootstrap_expect", Default: 0, Help: "Form a new cluster once this many nodes (3 or 5) found each other through retry_join; never re-bootstraps existing state. 0: off."},
		{Name: "retry_join", Default: []string{}, CommaList: true, Help: "gRPC addresses (DNS names or IPs, host:port) of other controller nodes to find and join, retried until it works (comma-separated, or a repeated flag)."},
		{Name: "grpc.listen", Default: ":7400", Help: "Address for gRPC: agent streams and the ControllerService API."},
		{Name: "grpc.advertise", Default: "", Help: "gRPC address other controller nodes (and agents, unless grpc.agent_advertise is set) use to reach this node (default: the bound address)."},
		{Name: "grpc.agent_advertise", Default: "", Help: "gRPC address (host:port, a name in this node's certificate) agents are redirected to when this node leads, when agents reach nodes by other names than the nodes use among themselves (e.g. agents outside Kubernetes); empty: grpc.advertise."},
		{Name: "tlsrpt.listen", Default: "", Help: "Address of the TLS-RPT receiver (POST /v1/tlsrpt, RFC 8460 reports from other mail systems; unauthenticated by design and bounded, nothing else served there; empty: off). Publish it as rua=https://HOST/v1/tlsrpt behind a proxy with a public certificate (docs/outside-in.md)."},
		{Name: "tlsrpt.stale_grace", Default: 48 * time.Hour, Help: "How late a policy domain's next daily TLS-RPT report may be: when none ended within 24 h plus this, the leader ages the domain's report findings to stale (kept as what was last known, at WARNING; never counted as clean) and older imports no longer change them. At least 1h. The leader's value governs the whole cluster (docs/outside-in.md#ageing)."},
		{Name: "http.listen", Default: ":7401", Help: "Address for HTTP: REST/JSON API under /v1, /openapi.json, /healthz, /readyz, /metrics."},
		{Name: "http.max_body_bytes", Default: 1 << 20, Help: "Largest request body on the HTTP port (bytes, at most 8 MiB), POST /v1/cluster/restore excepted; larger bodies are answered 413 unread. API routes read a body only after its token is verified (docs/security.md#request-bodies)."},
		{Name: "http.max_restore_bytes", Default: 1 << 30, Help: "Largest backup POST /v1/cluster/restore accepts (bytes); the upload is spooled to a file in data_dir, read only from an admin token on the leader, and must arrive within 15m."},
		{Name: "http.body_timeout", Default: 30 * time.Second, Help: "Time a client has to send a request body once its headers are in (headers themselves: 10s); a slower connection is closed."},
		{Name: "raft.listen", Default: "127.0.0.1:7402", Help: "Address the raft transport binds."},
		{Name: "raft.advertise", Default: "", Help: "Routable raft address peers use (default raft.listen; 0.0.0.0 is rejected)."},
		{Name: "raft.snapshot_threshold", Default: 8192, Help: "Raft log entries between snapshots."},
		{Name: "raft.dead_server_timeout", Default: time.Duration(0), Help: "The leader removes a voter it could not reach for this long, only while the remaining voters keep a healthy quorum. 0: never (remove with 'controller cluster remove-peer')."},
		{Name: "http_advertise", Default: "", Help: "HTTP address other nodes and clients use for this node (default: the bound address)."},
		{Name: "tls.cert_file", Default: "", Help: "Cluster certificate (PEM) this node presents on raft and node-to-node gRPC; with tls.key_file and tls.ca_file it enables mutual TLS between nodes."},
		{Name: "tls.key_file", Default: "", Help: "Private key (PEM) of tls.cert_file."},
		{Name: "tls.ca_file", Default: "", Help: "CA bundle (PEM) that signs every node's cluster certificate; peers without such a certificate are refused."},
		{Name: "insecure", Default: false, Help: "Run without TLS and without authentication (labs only). Without it the controller refuses to start unless tls.* and agent_ca.* are set."},
		{Name: "agent_ca.cert_file", Default: "", Help: "Agent CA certificate (PEM): signs agents' client certificates at enrollment and verifies them on every stream. Same files on every node."},
		{Name: "agent_ca.key_file", Default: "", Help: "Agent CA private key (PEM). Keep it only on controller nodes."},
		{Name: "agent_ca.cert_ttl", Default: 24 * time.Hour, Help: "Lifetime of agent certificates; agents renew at two thirds of it."},
		{Name: "auth.bootstrap_token", Default: "", NoFlag: true, Help: "An admin API credential (any long random string) for creating the first tokens; file or MXPROBE_AUTH_BOOTSTRAP_TOKEN only, never a flag. Never logged."},
		{Name: "auth.token_rate", Default: 50.0, Help: "API calls per second allowed per token (burst twice that); 0 or less: no limit."},
		{Name: "auth.agent_batch_rate", Default: 5.0, Help: "Result batches per second allowed per agent (burst four times that); batches beyond it are held back to that rate (a replaying agent is slowed, not cut; one needing over 5s of delay is refused); 0 or less: no limit."},
		{Name: "auth.metrics_public", Default: true, Help: "Serve /metrics without a token (Prometheus scraping); false requires a read-scope token."},
		{Name: "correlation.interval", Default: 250 * time.Millisecond, Help: "The leader runs a correlation round at most this often, when new entries were committed (and at least every 5s); a round that computed for d (its wait for raft to commit not counted) is followed by the next no sooner than 4d after it started, so correlation takes at most a quarter of a core on large fleets. A committed result that could open or reopen an incident (a check that starts failing or fails with other codes, or another observation of a PENDING incident) starts a round between ticks, no sooner than 2d after the previous one started."},
		{Name: "correlation.open_after_observations", Default: 2, Help: "Flapping damping: an incident opens once its findings were seen in this many newly committed results, or persisted for correlation.open_after."},
		{Name: "correlation.open_after", Default: 5 * time.Minute, Help: "Flapping damping: an incident also opens once its findings have persisted this long."},
		{Name: "correlation.resolve_after_clean", Default: 2, Help: "An open incident resolves after this many consecutive clean observations of the checks behind it."},
		{Name: "correlation.reopen_window", Default: 24 * time.Hour, Help: "A resolved incident whose findings return within this window reopens as the same incident (new sequence), not a new one."},
		{Name: "correlation.silent_after", Default: time.Duration(0), Help: "An agent not heard from for this long is silent (AGENT_SILENT for its site, its evidence marked stale). 0: three times plan.interval plus plan.jitter."},
		{Name: "correlation.retention", Default: 7 * 24 * time.Hour, Help: "Resolved incidents are dropped this long after resolution."},
		{Name: "plan.interval", Default: 60 * time.Second, Help: "How often agents run their checks."},
		{Name: "plan.jitter", Default: 10 * time.Second, Help: "Random delay up to this added to each agent round."},
		{Name: "plan.probe_timeout", Default: 15 * time.Second, Help: "Deadline for one live SMTP probe."},
		{Name: "plan.probe_targets", Default: []string{}, CommaList: true, Help: "Extra smtp://host:port targets every agent probes (comma-separated, or a repeated flag)."},
		{Name: "notify.allow_private", Default: false, Help: "Let notifications reach loopback, private and link-local addresses (SSRF guard off; labs only)."},
		{Name: "notify.external_url", Default: "", Help: "This controller's HTTP URL as receivers should link to it (e.g. https://mxprobe.contoso.com:7401): payloads link to the incident's dashboard page (/incidents/<id>) and API resource (/v1/incidents/<id>); empty: no links."},
		{Name: "notify.runbook_url", Default: "", Help: "Runbook link of every incident (Alertmanager runbook_url, PagerDuty link, webhook data.runbook_url): {code} is replaced by the cause's finding code, {code_lower} by it in lower case, e.g. https://wiki.contoso.com/mail/{code}; empty: no runbook link."},
		{Name: "notify.timeout", Default: 15 * time.Second, Help: "Deadline of one notification HTTP attempt."},
		{Name: "notify.retry_for", Default: 24 * time.Hour, Help: "How long after it was enqueued a delivery is retried on 429/5xx/network errors before it is FAILED (listed by the API, redeliverable). Attempts and the next attempt are replicated: a new leader keeps the schedule, and a target that answers again gets its waiting deliveries at once."},
		{Name: "notify.max_attempts", Default: 0, Help: "When positive, a delivery is FAILED after this many attempts even within notify.retry_for; 0: no limit."},
		{Name: "notify.backoff_base", Default: time.Second, Help: "First retry delay; doubles per attempt, with jitter; a longer Retry-After wins."},
		{Name: "notify.backoff_max", Default: 10 * time.Minute, Help: "Longest retry delay."},
		{Name: "notify.webhook.url", Default: "", Help: "Standard Webhooks v1 endpoint receiving incident.opened/updated/acknowledged/resolved; empty: off."},
		{Name: "notify.webhook.secrets", Default: []string{}, NoFlag: true, Help: "Signing secrets (whsec_ + base64); one signature per secret, so list old and new while rotating. File or env only. Never logged."},
		{Name: "notify.pagerduty.url", Default: "https://events.pagerduty.com/v2/enqueue", Help: "PagerDuty Events API v2 endpoint."},
		{Name: "notify.pagerduty.routing_key", Default: "", NoFlag: true, Help: "PagerDuty integration (routing) key; empty: PagerDuty off. File or env only. Never logged."},
		{Name: "notify.servicenow.url", Default: "", Help: "ServiceNow instance URL (https://acme.service-now.com) for Event Management (/api/global/em/jsonv2) or, with notify.servicenow.mode table, the Table API; empty: off."},
		{Name: "notify.servicenow.username", Default: "", Help: "ServiceNow user with the evt_mgmt_integration role."},
		{Name: "notify.servicenow.password", Default: "", NoFlag: true, Help: "Password of notify.servicenow.username. File or env only. Never logged."},
		{Name: "notify.servicenow.source", Default: "mxprobe", Help: "The source field of ServiceNow events."},
		{Name: "notify.servicenow.mode", Default: "event", Help: "event: Event Management (/api/global/em/jsonv2, message_key = fingerprint); table: Table API fallback, upserting incident records by correlation_id = fingerprint (/api/now/table/incident; the user needs read and write on the incident table, e.g. the itil role)."},
		{Name: "notify.servicenow.close_code", Default: "Solution provided", Help: "Table mode: close_code written when an incident resolves (a choice of the instance's incident.close_code)."},
		{Name: "notify.servicenow.assignment_group", Default: "", Help: "Table mode: assignment_group (name or sys_id) of the incidents mxprobe creates; empty: the instance's assignment rules decide."},
		{Name: "notify.alertmanager.url", Default: "", Help: "Alertmanager base URL (http://alertmanager:9093); incidents are posted to /api/v2/alerts; empty: off."},
		{Name: "notify.alertmanager.resend_interval", Default: 60 * time.Second, Help: "Active incidents are re-posted to Alertmanager this often; their endsAt is 4 intervals ahead, so Alertmanager resolves them itself if the controllers stop posting."},
		{Name: "notify.alertmanager.labels", Default: []string{}, Help: "Labels added to every alert, as name=value (e.g. cluster=prod-eu, so two mxprobe clusters feeding one Alertmanager keep distinct alerts); they may not replace mxprobe's own labels."},
		{Name: "debug.pprof", Default: false, Help: "Serve Go runtime profiles (CPU, heap, goroutines) under /debug/pprof/ on the HTTP port, admin token required; for diagnosing a node, off in normal operation."},
		{Name: "log.level", Default: "info", Help: "debug, info, warn or error."},
		{Name: "log.format", Default: "text", Help: "text or json."},
	}
}

// SnapshotThreshold is raft.snapshot_threshold.
func (c Controller) SnapshotThreshold() int { return c.Raft.SnapshotThreshold }
