package clixml_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mxprobe/mxprobe/internal/agent/clixml"
	"github.com/mxprobe/mxprobe/internal/agent/clixml/clixmltest"
)

func sample() string {
	return clixmltest.Document(clixmltest.ReceiveConnector{Server: "E19", Name: "Default Frontend E19", Enabled: true, Fqdn: "mail.contoso.com",
		Bindings: []string{"0.0.0.0:25", "[::]:25"}, AuthMechanism: "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer", AuthMechanismValue: 31,
		TransportRole: "FrontendTransport"}.Obj())
}

func TestEncodings(t *testing.T) {
	doc := sample()
	for name, data := range map[string][]byte{
		"utf-16le bom": clixmltest.UTF16LE(doc),
		"utf-8 bom":    clixmltest.UTF8BOM(doc),
		"utf-8":        []byte(doc),
		"utf-16le":     clixmltest.UTF16LE(doc)[2:],
		"xml decl":     []byte("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n" + doc),
	} {
		if !clixml.Is(data) {
			t.Errorf("%s: not recognised", name)
			continue
		}
		vs, err := clixml.DecodeBytes(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs := clixml.Records(vs)
		if len(rs) != 1 || !rs[0].HasType("ReceiveConnector") || rs[0].Str() != `E19\Default Frontend E19` {
			t.Fatalf("%s: %+v", name, rs)
		}
		j := rs[0].JSON()
		if j["AuthMechanism"] != "Tls, Integrated, BasicAuth, BasicAuthRequireTLS, ExchangeServer" || j["Fqdn"] != "mail.contoso.com" || j["Enabled"] != true || j["TlsCertificateName"] != nil {
			t.Errorf("%s: %v", name, j)
		}
		b, ok := j["Bindings"].([]any)
		if !ok || len(b) != 2 || b[0] != "0.0.0.0:25" || b[1] != "[::]:25" {
			t.Errorf("%s: bindings %v", name, j["Bindings"])
		}
		if ae := rs[0].Prop("AuthMechanism"); !ae.IsEnum() || ae.Inner == nil || ae.Inner.Int != 31 {
			t.Errorf("%s: enum %+v", name, ae)
		}
	}
}

func TestEscapesRefsAndTypes(t *testing.T) {
	doc := `<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">
  <Obj RefId="0"><TN RefId="0"><T>Deserialized.Thing</T><T>System.Object</T></TN><ToString>a_x000D__x000A_b _x005F_x0041_ _xD83D__xDE00_</ToString>
    <Props><S N="Name">x&lt;y</S><Obj N="Self" RefId="1"><TNRef RefId="0" /><ToString>inner</ToString></Obj><Ref N="Again" RefId="1" />
      <DT N="When">2019-05-02T06:32:14.1234567+02:00</DT><I64 N="Big">-9007199254740993</I64><Db N="F">0.5</Db><SS N="Secret">0123abcd</SS>
      <Obj N="Map" RefId="2"><TN RefId="1"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">k</S><I32 N="Value">7</I32></En></DCT></Obj>
    </Props></Obj>
  <S>plain string at top level</S>
</Objs>`
	vs, err := clixml.DecodeBytes([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[1].Str() != "plain string at top level" {
		t.Fatalf("%+v", vs)
	}
	v := vs[0]
	if v.Str() != "a\r\nb _x0041_ \U0001F600" {
		t.Errorf("ToString %q", v.Str())
	}
	if v.Prop("name").Str() != "x<y" || v.Prop("Again") != v.Prop("Self") || !v.Prop("Self").HasType("Thing") {
		t.Errorf("props %+v", v.Props)
	}
	if v.Prop("When").Time.Year() != 2019 || v.Prop("Big").Int != -9007199254740993 || v.Prop("F").Float != 0.5 || v.Prop("Secret").Str() != "" {
		t.Errorf("primitives %+v", v.Props)
	}
	if m, ok := v.JSON()["Map"].(map[string]any); !ok || m["k"] != int64(7) {
		t.Errorf("dictionary %v", v.JSON()["Map"])
	}
}

func TestRefusesBadInput(t *testing.T) {
	for name, data := range map[string]string{
		"json":        `{"SendConnectors":[]}`,
		"other xml":   `<root/>`,
		"truncated":   sample()[:200],
		"unknown ref": `<Objs><Obj RefId="0"><Props><Ref N="x" RefId="9"/></Props></Obj></Objs>`,
		"bad bool":    `<Objs><B>maybe</B></Objs>`,
		"bad base64":  `<Objs><BA>!!!</BA></Objs>`,
		"latin-1":     "<Objs><S>\xe9</S></Objs>",
	} {
		_, err := clixml.DecodeBytes([]byte(data))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !errors.Is(err, clixml.ErrNotCLIXML) && !errors.Is(err, clixml.ErrInvalid) {
			t.Errorf("%s: %v wraps neither sentinel", name, err)
		}
	}
	deep := strings.Repeat(`<Obj RefId="0"><Props>`, 100) + strings.Repeat(`</Props></Obj>`, 100)
	if _, err := clixml.DecodeBytes([]byte("<Objs>" + deep + "</Objs>")); !errors.Is(err, clixml.ErrInvalid) {
		t.Errorf("deep nesting: %v", err)
	}
	if _, err := clixml.Decode(bytes.NewReader(make([]byte, 2*clixml.MaxBytes+10))); !errors.Is(err, clixml.ErrInvalid) {
		t.Errorf("oversized: %v", err)
	}
}

// References that share and cycle render bounded.
func TestReferenceBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`<Objs><Obj RefId="0"><Props><S N="leaf">x</S></Props></Obj>`)
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, `<Obj RefId="%d"><Props><Ref N="a" RefId="%d"/><Ref N="b" RefId="%d"/><Ref N="self" RefId="%d"/></Props></Obj>`, i, i-1, i-1, i)
	}
	b.WriteString(`</Objs>`)
	vs, err := clixml.DecodeBytes([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	rs := clixml.Records(vs)
	if _, err := json.Marshal(rs[len(rs)-1].JSON()); err != nil {
		t.Fatal(err)
	}
}
