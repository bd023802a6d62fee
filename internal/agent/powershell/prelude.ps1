# mxprobe collector prelude (internal/agent/powershell): prepended to every
# collector script. It fixes the error and output preferences, and defines
# how a script hands its payload back (MxEmit), reports a failure (MxFail)
# and loads the Exchange Management Shell snap-in (MxUseExchange).
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'
# MxEmit writes one JSON document as base64(UTF-8) between marker lines, so
# console code pages, banners and warnings around it cannot corrupt it.
function MxEmit([string]$json) {
  $b64 = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($json))
  [Console]::Out.WriteLine('MXPROBE-PAYLOAD-BEGIN')
  [Console]::Out.WriteLine($b64)
  [Console]::Out.WriteLine('MXPROBE-PAYLOAD-END')
  [Console]::Out.Flush()
}
# MxFail emits {"CollectorError": message} and exits 2.
function MxFail([string]$msg) {
  MxEmit ((New-Object PSObject -Property @{ CollectorError = $msg }) | ConvertTo-Json -Compress)
  exit 2
}
# MxUseExchange loads the Exchange snap-in unless $cmdlet already exists
# (Edge and 2013+: Microsoft.Exchange.Management.PowerShell.SnapIn; 2010: .E2010).
function MxUseExchange([string]$cmdlet) {
  if (Get-Command $cmdlet -ErrorAction SilentlyContinue) { return }
  foreach ($sn in @('Microsoft.Exchange.Management.PowerShell.SnapIn', 'Microsoft.Exchange.Management.PowerShell.E2010')) {
    if (Get-PSSnapin -Registered -Name $sn -ErrorAction SilentlyContinue) {
      Add-PSSnapin -Name $sn
      return
    }
  }
  throw 'no Exchange Management Shell snap-in (Microsoft.Exchange.Management.PowerShell.SnapIn or .E2010) is registered on this computer'
}
