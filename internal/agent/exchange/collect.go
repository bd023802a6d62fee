package exchange

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/mxprobe/mxprobe/internal/agent/powershell"
)

// CollectOptions tunes Collect.
type CollectOptions struct {
	// PowerShell is the executable; default "powershell.exe" (Windows
	// PowerShell 5.1: the Exchange snap-in does not load in PowerShell 7).
	PowerShell string
	// Timeout bounds the whole run (loading the snap-in alone can take 30 s);
	// default 3 minutes. The caller's context still applies.
	Timeout time.Duration
	// MaxOutputBytes bounds what is read from the collector's stdout;
	// default 16 MiB.
	MaxOutputBytes int64
}

// Defaults for CollectOptions.
const (
	DefaultPowerShell     = "powershell.exe"
	DefaultCollectTimeout = 3 * time.Minute
	DefaultMaxOutputBytes = 16 << 20
	maxStderrBytes        = 64 << 10
)

func (o CollectOptions) withDefaults() CollectOptions {
	if o.PowerShell == "" {
		o.PowerShell = DefaultPowerShell
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultCollectTimeout
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	return o
}

// Markers around the collector's payload, so that banners or warnings the
// snap-in prints do not corrupt it.
const (
	collectorBegin = "MXPROBE-EXCHANGE-INVENTORY-BEGIN"
	collectorEnd   = "MXPROBE-EXCHANGE-INVENTORY-END"
)

// CollectorProperties lists, per cmdlet, the properties the collector script
// selects. It is the contract between the script and docs/exchange-inventory.md.
var CollectorProperties = map[string][]string{
	"Get-ExchangeServer": {"Name", "Fqdn", "AdminDisplayVersion", "ServerRole", "Edition", "IsEdgeServer"},
	"Get-TransportService": {"Name", "InternalTransportCertificateThumbprint",
		"SendProtocolLogPath", "ReceiveProtocolLogPath"},
	"Get-SendConnector": {"Name", "Identity", "Enabled", "TlsCertificateName", "Fqdn", "RequireTLS",
		"TlsAuthLevel", "TlsDomain", "CloudServicesMailEnabled", "DNSRoutingEnabled", "SmartHosts",
		"AddressSpaces", "SourceTransportServers", "ProtocolLoggingLevel"},
	"Get-ReceiveConnector": {"Name", "Identity", "Server", "Enabled", "Bindings", "TlsCertificateName",
		"Fqdn", "AuthMechanism", "TlsDomainCapabilities", "RequireTLS", "ProtocolLoggingLevel", "TransportRole"},
}

// collectorScript is run by Windows PowerShell 5.1 (3.0 at least:
// ConvertTo-Json and [ordered]). It loads the Exchange snap-in when the
// cmdlets are not already present, reads the local server's objects, converts
// every Exchange-specific type to its display string (TlsCertificateName ->
// "<I>..<S>..", enums -> names, Bindings -> "0.0.0.0:25", ...) and writes one
// JSON object, base64(UTF-8) between marker lines so console code pages and
// stray output cannot corrupt it. On failure it writes {"CollectorError": msg}
// the same way and exits 2.
const collectorScript = `$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
function MxEmit([string]$json) {
  $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
  [Console]::Out.WriteLine('` + collectorBegin + `')
  [Console]::Out.WriteLine($b64)
  [Console]::Out.WriteLine('` + collectorEnd + `')
  [Console]::Out.Flush()
}
function MxStr($v) { if ($null -eq $v) { return $null }; $s = [string]$v; if ($s -eq '') { return $null }; return $s }
function MxList($v) {
  $l = New-Object 'System.Collections.Generic.List[string]'
  if ($null -ne $v) { foreach ($x in $v) { if ($null -ne $x) { $s = [string]$x; if ($s -ne '') { $l.Add($s) } } } }
  return ,$l.ToArray()
}
function MxNames($v) {
  $l = New-Object 'System.Collections.Generic.List[string]'
  if ($null -ne $v) { foreach ($x in $v) { if ($null -ne $x) { if ($x.Name) { $l.Add([string]$x.Name) } else { $l.Add([string]$x) } } } }
  return ,$l.ToArray()
}
function MxName($v) { if ($null -eq $v) { return $null }; if ($v.Name) { return [string]$v.Name }; return MxStr $v }
function MxLogs($s) {
  if ($null -eq $s) { return $null }
  return [ordered]@{ Name = MxStr $s.Name; SendProtocolLogPath = MxStr $s.SendProtocolLogPath; ReceiveProtocolLogPath = MxStr $s.ReceiveProtocolLogPath }
}
function MxSend($c) {
  return [ordered]@{
    Name = MxStr $c.Name
    Identity = MxStr $c.Identity
    Enabled = [bool]$c.Enabled
    TlsCertificateName = MxStr $c.TlsCertificateName
    Fqdn = MxStr $c.Fqdn
    RequireTLS = [bool]$c.RequireTLS
    TlsAuthLevel = MxStr $c.TlsAuthLevel
    TlsDomain = MxStr $c.TlsDomain
    CloudServicesMailEnabled = [bool]$c.CloudServicesMailEnabled
    DNSRoutingEnabled = [bool]$c.DNSRoutingEnabled
    SmartHosts = MxList $c.SmartHosts
    AddressSpaces = MxList $c.AddressSpaces
    SourceTransportServers = MxNames $c.SourceTransportServers
    ProtocolLoggingLevel = MxStr $c.ProtocolLoggingLevel
  }
}
function MxRecv($c) {
  return [ordered]@{
    Name = MxStr $c.Name
    Identity = MxStr $c.Identity
    Server = MxName $c.Server
    Enabled = [bool]$c.Enabled
    Bindings = MxList $c.Bindings
    TlsCertificateName = MxStr $c.TlsCertificateName
    Fqdn = MxStr $c.Fqdn
    AuthMechanism = [string]$c.AuthMechanism
    TlsDomainCapabilities = MxList $c.TlsDomainCapabilities
    RequireTLS = [bool]$c.RequireTLS
    ProtocolLoggingLevel = MxStr $c.ProtocolLoggingLevel
    TransportRole = MxStr $c.TransportRole
  }
}
try {
  if (-not (Get-Command Get-SendConnector -ErrorAction SilentlyContinue)) {
    $loaded = $false
    foreach ($sn in @('Microsoft.Exchange.Management.PowerShell.SnapIn', 'Microsoft.Exchange.Management.PowerShell.E2010')) {
      if (Get-PSSnapin -Registered -Name $sn -ErrorAction SilentlyContinue) {
        Add-PSSnapin -Name $sn
        $loaded = $true
        break
      }
    }
    if (-not $loaded) { throw 'no Exchange Management Shell snap-in (Microsoft.Exchange.Management.PowerShell.SnapIn or .E2010) is registered on this computer' }
  }
  $me = $env:COMPUTERNAME
  $srv = Get-ExchangeServer -Identity $me
  if (Get-Command Get-TransportService -ErrorAction SilentlyContinue) { $ts = Get-TransportService -Identity $me } else { $ts = Get-TransportServer -Identity $me }
  $fe = $null
  $mbx = $null
  if (-not $srv.IsEdgeServer) {
    if (Get-Command Get-FrontendTransportService -ErrorAction SilentlyContinue) { try { $fe = Get-FrontendTransportService -Identity $me } catch { $fe = $null } }
    if (Get-Command Get-MailboxTransportService -ErrorAction SilentlyContinue) { try { $mbx = Get-MailboxTransportService -Identity $me } catch { $mbx = $null } }
  }
  $send = @(Get-SendConnector | ForEach-Object { MxSend $_ })
  $recv = @(Get-ReceiveConnector -Server $me | ForEach-Object { MxRecv $_ })
  $inv = [ordered]@{
    FormatVersion = 1
    Collector = 'mxprobe-powershell'
    CollectedAt = [DateTime]::UtcNow.ToString('o')
    ExchangeServer = [ordered]@{
      Name = MxStr $srv.Name
      Fqdn = MxStr $srv.Fqdn
      AdminDisplayVersion = MxStr $srv.AdminDisplayVersion
      ServerRole = MxStr $srv.ServerRole
      Edition = MxStr $srv.Edition
      IsEdgeServer = [bool]$srv.IsEdgeServer
    }
    TransportService = [ordered]@{
      Name = MxStr $ts.Name
      InternalTransportCertificateThumbprint = MxStr $ts.InternalTransportCertificateThumbprint
      SendProtocolLogPath = MxStr $ts.SendProtocolLogPath
      ReceiveProtocolLogPath = MxStr $ts.ReceiveProtocolLogPath
    }
    FrontendTransportService = MxLogs $fe
    MailboxTransportService = MxLogs $mbx
    SendConnectors = $send
    ReceiveConnectors = $recv
  }
  MxEmit ($inv | ConvertTo-Json -Depth 4 -Compress)
  exit 0
} catch {
  $msg = [string]$_.Exception.Message
  MxEmit ((New-Object PSObject -Property @{ CollectorError = $msg }) | ConvertTo-Json -Compress)
  exit 2
}
`

// CollectorScript returns the PowerShell collector script.
func CollectorScript() string { return collectorScript }

// EncodeCommand encodes a script for powershell.exe -EncodedCommand
// (base64 of UTF-16LE). -EncodedCommand avoids every quoting problem of
// passing a multi-line script with quotes through the Windows command line.
func EncodeCommand(script string) string { return powershell.EncodeCommand(script) }

// PowerShellArgs returns the arguments Collect passes to PowerShell.
func PowerShellArgs() []string {
	return []string{"-NoProfile", "-NonInteractive", "-NoLogo", "-EncodedCommand", EncodeCommand(collectorScript)}
}

// ParseCollectorOutput extracts the inventory from the collector's stdout.
// A {"CollectorError": ...} payload gives an error wrapping ErrCollectorFailed.
func ParseCollectorOutput(stdout []byte) (*Inventory, error) {
	s := string(stdout)
	b := strings.Index(s, collectorBegin)
	if b < 0 {
		return nil, fmt.Errorf("%w: no inventory in output (%d bytes)", ErrCollectorFailed, len(stdout))
	}
	rest := s[b+len(collectorBegin):]
	e := strings.Index(rest, collectorEnd)
	if e < 0 {
		return nil, fmt.Errorf("%w: inventory output truncated (no end marker)", ErrCollectorFailed)
	}
	payload := strings.Join(strings.Fields(rest[:e]), "")
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: inventory payload is not base64: %v", ErrCollectorFailed, err)
	}
	inv, err := LoadInventory(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("collector output: %w", err)
	}
	if inv.Collector == "" {
		inv.Collector = "mxprobe-powershell"
	}
	return inv, nil
}

// stdoutHasPayload reports whether the collector emitted its begin marker.
func stdoutHasPayload(b []byte) bool { return bytes.Contains(b, []byte(collectorBegin)) }
