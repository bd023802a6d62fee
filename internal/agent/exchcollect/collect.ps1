# mxprobe Exchange configuration collector (internal/agent/exchcollect), run
# after the prelude of internal/agent/powershell by Windows PowerShell 5.1
# (3.0 at least: ConvertTo-Json and [ordered]). It reads the local server's
# Get-ExchangeServer, Get-TransportService (Get-TransportServer on 2010),
# front-end/mailbox transport log settings, Get-SendConnector and
# Get-ReceiveConnector, converts every Exchange-specific type to its display
# string (TlsCertificateName -> "<I>..<S>..", enums -> names, Bindings ->
# "0.0.0.0:25", ...) and emits one JSON object (docs/exchange-inventory.md).
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
  MxUseExchange 'Get-SendConnector'
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
  MxFail ([string]$_.Exception.Message)
}
