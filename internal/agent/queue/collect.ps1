# mxprobe Get-Queue collector (internal/agent/queue), run after the prelude
# of internal/agent/powershell by Windows PowerShell 5.1 (3.0 at least). It
# runs Get-Queue on the local server and emits the mxprobe queue envelope
# (docs/queue-format.md). The queue objects are Get-Queue | Select-Object
# ... | ConvertTo-Json -Depth 3 output, one level deeper inside the envelope
# (hence -Depth 4). Identity is written as its display string (SERVER\RowId)
# rather than as a QueueIdentity object.
try {
  MxUseExchange 'Get-Queue'
  $queues = @(Get-Queue | Select-Object @{Name = 'Identity'; Expression = { [string]$_.Identity }},NextHopDomain,DeliveryType,Status,MessageCount,LastError,LastRetryTime,NextRetryTime,NextHopConnector,TlsPolicy)
  $out = [ordered]@{
    format = 'mxprobe-queue/1'
    server = [string]$env:COMPUTERNAME
    collected = [DateTime]::UtcNow.ToString('o')
    queues = $queues
  }
  MxEmit (ConvertTo-Json -InputObject $out -Depth 4 -Compress)
  exit 0
} catch {
  MxFail ([string]$_.Exception.Message)
}
