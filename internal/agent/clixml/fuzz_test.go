package clixml_test

import (
	"encoding/json"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
)

// FuzzDecode: any bytes are refused or decoded; decoded records always
// render as JSON (what package exchange reads). Seeds: generated exports
// in both encodings; testdata/fuzz/FuzzDecode holds more.
func FuzzDecode(f *testing.F) {
	doc := sample()
	f.Add([]byte(doc))
	f.Add(clixmltest.UTF16LE(doc))
	f.Add(clixmltest.UTF8BOM(clixmltest.Document(clixmltest.TransportService{Name: "E19", InternalTransportCertificateThumbprint: "B79D"}.Obj())))
	f.Add([]byte(`<Objs><Obj RefId="0"><TN RefId="0"><T>a</T></TN><Props><Ref N="r" RefId="0"/></Props></Obj></Objs>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := clixml.DecodeBytes(data)
		if err != nil {
			return
		}
		for _, r := range clixml.Records(vs) {
			if _, err := json.Marshal(r.JSON()); err != nil {
				t.Fatalf("record does not marshal: %v", err)
			}
		}
	})
}
