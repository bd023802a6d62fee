package demo

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mxprobe/mxprobe/internal/agent/checks/checktest"
	"github.com/mxprobe/mxprobe/internal/exchange/exchangetest"
	"github.com/mxprobe/mxprobe/internal/lab"
)

// seedEvidence is what edge02 reads besides its certificate store: the whole
// chain of the seed incident, as Exchange writes it.
type seedEvidence struct {
	store     lab.SeedStore
	inventory string // exchange inventory file (connectors naming the duplicated identity)
	logs      string // protocol log directory (SmtpSend with NoCredentials)
	queues    string // Get-Queue export (the stuck queue to Exchange Online)
}

// seedQueueNextHop is the queue edge02 cannot deliver: Exchange Online.
const seedQueueNextHop = "tenant.mail.onmicrosoft.com"

// writeSeedEvidence writes edge02's evidence of the seed incident into dir:
// the store with the keyless duplicate, a send connector to Exchange Online
// whose TlsCertificateName names the duplicated identity, three send
// sessions in which SCHANNEL failed with NoCredentials for the keyless
// thumbprint, and the queue to Exchange Online in Retry with the 451 4.4.395
// ... 421 4.4.1 LastError transport shows for it.
func writeSeedEvidence(dir string, ca *lab.CA, host string) (seedEvidence, error) {
	var ev seedEvidence
	var err error
	if ev.store, err = lab.WriteSeedStore(filepath.Join(dir, "edge02-store"), ca, host); err != nil {
		return ev, fmt.Errorf("demo: seed store: %w", err)
	}
	inv := exchangetest.SeedConfig(ev.store.Good.Cert, ev.store.Good.Thumbprint)
	name := strings.ToUpper(strings.SplitN(host, ".", 2)[0])
	inv.Server.Name, inv.Server.Fqdn, inv.TransportService.Name = name, host, name
	for i := range inv.SendConnectors {
		inv.SendConnectors[i].Fqdn, inv.SendConnectors[i].SourceTransportServers = host, []string{name}
	}
	for i := range inv.ReceiveConnectors {
		rc := &inv.ReceiveConnectors[i]
		rc.Name, rc.Server, rc.Fqdn = "Default internal receive connector "+name, name, host
	}
	ev.inventory = filepath.Join(dir, "edge02-exchange-inventory.json")
	if err := checktest.WriteConfig(ev.inventory, inv); err != nil {
		return ev, fmt.Errorf("demo: seed inventory: %w", err)
	}
	ev.logs = filepath.Join(dir, "edge02-ProtocolLog")
	var sessions []checktest.Session
	for range 3 {
		sessions = append(sessions, checktest.Session{Connector: inv.SendConnectors[0].Name, SentThumbprint: ev.store.KeylessDuplicate.Thumbprint, Failure: "NoCredentials"})
	}
	if _, err := checktest.WriteFile(ev.logs, "SmtpSend/SEND20190502-1.log", checktest.SendLog(sessions...)); err != nil {
		return ev, fmt.Errorf("demo: seed protocol log: %w", err)
	}
	if ev.queues, err = checktest.WriteFile(dir, "edge02-queues.json", checktest.QueueJSON(name+`\3`, seedQueueNextHop, 17, checktest.SeedLastError)); err != nil {
		return ev, fmt.Errorf("demo: seed queue: %w", err)
	}
	return ev, nil
}
