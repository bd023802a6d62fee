package exchcollect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/exchange"
)

// Export-Clixml inventories.
//
// Admins hand over Exchange configuration as Export-Clixml files:
// Get-SendConnector, Get-ReceiveConnector, Get-TransportService and
// Get-ExchangeServer each exported to a file, or piped together into one,
// optionally with Exchange Online's Get-InboundConnector (exported in
// Exchange Online PowerShell and added to the directory). LoadConfigFile accepts such a file, or a directory of them, in place of
// the JSON inventory. Objects are recognised by their .NET type names, or
// failing that by the properties only that cmdlet has, and turned into the
// JSON shape LoadConfig reads (nested Exchange values by their ToString:
// "<I>..<S>..", "0.0.0.0:25", "SMTP:*;1", enum names), so one decoder owns
// every field's meaning. Certificates in the same files are skipped here
// (the snapshot: certificate store reads them).

// LoadConfigFile reads an inventory document from path.
// It also reads Export-Clixml exports of the Exchange cmdlets: a file, or
// a directory of them (clixml.go).
func LoadConfigFile(path string) (*exchange.Config, error) {
	docs, paths, err := readInventoryFiles(path)
	if err != nil {
		return nil, err
	}
	if len(paths) == 1 && !IsCLIXML(docs[0]) {
		inv, err := exchange.LoadConfig(bytes.NewReader(docs[0]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return inv, nil
	}
	for i, d := range docs {
		if !IsCLIXML(d) {
			return nil, fmt.Errorf("%w: %s: %w (a directory inventory holds Export-Clixml files only)", exchange.ErrInvalidConfig, paths[i], errNotCLIXML)
		}
	}
	inv, err := LoadCLIXML(docs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return inv, nil
}

// maxCLIXMLFiles bounds a directory of exports.
const maxCLIXMLFiles = 64

// IsCLIXML reports whether data is an Export-Clixml document.
func IsCLIXML(data []byte) bool { return clixml.Is(data) }

// readInventoryFiles returns the documents at path: the file, or every
// *.xml / *.clixml file of a directory.
func readInventoryFiles(path string) ([][]byte, []string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("exchange: open inventory: %w", err)
	}
	var paths []string
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, nil, fmt.Errorf("exchange: open inventory: %w", err)
		}
		for _, e := range ents {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if e.Type().IsRegular() && (ext == ".xml" || ext == ".clixml") {
				paths = append(paths, filepath.Join(path, e.Name()))
			}
		}
		if len(paths) == 0 {
			return nil, nil, fmt.Errorf("%w: directory %s holds no .xml Export-Clixml file", exchange.ErrInvalidConfig, path)
		}
		if len(paths) > maxCLIXMLFiles {
			return nil, nil, fmt.Errorf("%w: directory %s holds more than %d .xml files", exchange.ErrInvalidConfig, path, maxCLIXMLFiles)
		}
	} else {
		paths = []string{path}
	}
	var docs [][]byte
	var total int64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("exchange: open inventory: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, exchange.MaxConfigBytes+1))
		_ = f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("exchange: read inventory %s: %w", p, err)
		}
		total += int64(len(b))
		if len(b) > exchange.MaxConfigBytes || total > 2*exchange.MaxConfigBytes {
			return nil, nil, fmt.Errorf("%w: %s: inventory larger than %d bytes", exchange.ErrInvalidConfig, p, exchange.MaxConfigBytes)
		}
		docs = append(docs, b)
	}
	return docs, paths, nil
}

// recordKind classifies one exported object.
func recordKind(v *clixml.Value) string {
	switch {
	case v.HasType("SmtpSendConnectorConfig") || v.HasType("SendConnector"):
		return "send"
	case v.HasType("ReceiveConnector"):
		return "receive"
	case v.HasType("TransportServerPresentationObject") || v.HasType("TransportServer") || v.HasType("TransportService"):
		return "transport"
	case v.HasType("ExchangeServer"):
		return "server"
	case v.HasType("TenantInboundConnector"):
		return "inbound"
	case v.Prop("RawData") != nil && (v.HasType("X509Certificate2") || v.HasType("ExchangeCertificate")):
		return "certificate"
	}
	// Select-Object or Deserialized.* copies: recognise by properties.
	switch {
	case v.Prop("InternalTransportCertificateThumbprint") != nil:
		return "transport"
	case v.Prop("AddressSpaces") != nil && v.Prop("SourceTransportServers") != nil:
		return "send"
	case v.Prop("Bindings") != nil && v.Prop("AuthMechanism") != nil:
		return "receive"
	case v.Prop("AdminDisplayVersion") != nil && v.Prop("ServerRole") != nil:
		return "server"
	case v.Prop("TlsSenderCertificateName") != nil && v.Prop("ConnectorType") != nil:
		return "inbound"
	case v.Prop("RawData") != nil:
		return "certificate"
	}
	return ""
}

// LoadCLIXML reads Export-Clixml documents of Exchange cmdlets into a
// Config (see the comment at the top of this file).
func LoadCLIXML(docs ...[]byte) (*exchange.Config, error) {
	root := map[string]any{"Collector": "Export-Clixml"}
	var send, recv, inbound []any
	var other []string
	for i, d := range docs {
		vs, err := clixml.DecodeBytes(d)
		if err != nil {
			return nil, fmt.Errorf("%w: document %d: %w", exchange.ErrInvalidConfig, i+1, err)
		}
		for _, v := range clixml.Records(vs) {
			switch recordKind(v) {
			case "send":
				send = append(send, v.JSON())
			case "receive":
				recv = append(recv, v.JSON())
			case "transport":
				if _, dup := root["TransportService"]; dup {
					return nil, fmt.Errorf("%w: more than one Get-TransportService object: export one server's", exchange.ErrInvalidConfig)
				}
				root["TransportService"] = v.JSON()
			case "server":
				if _, dup := root["ExchangeServer"]; dup {
					return nil, fmt.Errorf("%w: more than one Get-ExchangeServer object: export one server's (Get-ExchangeServer $env:COMPUTERNAME)", exchange.ErrInvalidConfig)
				}
				root["ExchangeServer"] = v.JSON()
			case "inbound":
				inbound = append(inbound, v.JSON())
			case "certificate":
			default:
				if len(v.Types) > 0 && !slices.Contains(other, v.Types[0]) && len(other) < 8 {
					other = append(other, v.Types[0])
				}
			}
		}
	}
	_, haveTS := root["TransportService"]
	if len(send) == 0 && len(recv) == 0 && !haveTS {
		msg := "no Get-SendConnector, Get-ReceiveConnector or Get-TransportService object"
		if len(other) > 0 {
			msg += " (found " + strings.Join(other, ", ") + ")"
		}
		return nil, fmt.Errorf("%w: Export-Clixml inventory: %s", exchange.ErrInvalidConfig, msg)
	}
	root["SendConnectors"], root["ReceiveConnectors"] = orEmpty(send), orEmpty(recv)
	if len(inbound) > 0 {
		root["InboundConnectors"] = inbound
	}
	if _, ok := root["ExchangeServer"]; !ok {
		if name := serverNameOf(root, recv); name != "" {
			root["ExchangeServer"] = map[string]any{"Name": name}
		}
	}
	data, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("exchange: Export-Clixml inventory: %w", err)
	}
	cfg, err := exchange.LoadConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("Export-Clixml inventory: %w", err)
	}
	cfg.Collector = "Export-Clixml"
	return cfg, nil
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

// serverNameOf names the server when Get-ExchangeServer was not exported:
// the transport service's name, else the receive connectors' server.
func serverNameOf(root map[string]any, recv []any) string {
	if ts, ok := root["TransportService"].(map[string]any); ok {
		if n, ok := ts["Name"].(string); ok && n != "" {
			return n
		}
	}
	for _, r := range recv {
		if m, ok := r.(map[string]any); ok {
			if n, ok := m["Server"].(string); ok && n != "" {
				return n
			}
		}
	}
	return ""
}

// errNotCLIXML reports a directory given as inventory whose files are not
// Export-Clixml documents.
var errNotCLIXML = errors.New("not an Export-Clixml document")
