// Package exchcollect is how the agent obtains a server's Exchange
// configuration (the model is internal/exchange): Collect runs collect.ps1
// through package powershell on the Exchange server (Windows only;
// elsewhere the error wraps powershell.ErrUnsupported), which every
// collector shares (the marker protocol, snap-in loading, timeout and
// output bound); LoadConfigFile reads what an admin exported instead, a
// JSON inventory (docs/exchange-inventory.md) or Export-Clixml files of
// the Exchange cmdlets (clixml.go). Every path ends in exchange.LoadConfig,
// so one decoder owns every field's meaning.
package exchcollect
