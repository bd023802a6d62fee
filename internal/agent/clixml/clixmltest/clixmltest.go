// Package clixmltest writes CLIXML documents the way Export-Clixml does
// (RefIds, TN/TNRef type name tables, Props and MS, enums with their
// value, multi-valued properties as LST, _xHHHH_ escapes), in UTF-16 LE
// with a BOM (Windows PowerShell 5.1) or UTF-8 with a BOM, and builds the
// objects Exchange's cmdlets serialize, for tests of the readers. Nothing
// here is copied from real exports; the shapes follow the CLIXML schema
// (MS-PSRP 2.2.5) and the property names of the Exchange cmdlets.
package clixmltest

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Node is one serialized value.
type Node struct {
	tag      string // S, B, I32, I64, DT, BA, Nil, Obj
	name     string
	text     string
	types    []string
	toString string
	props    []*Node
	ms       []*Node
	items    []*Node // LST
	list     bool
	inner    *Node // enum value
}

// S is a string property.
func S(name, v string) *Node { return &Node{tag: "S", name: name, text: v} }

// B is a boolean property.
func B(name string, v bool) *Node { return &Node{tag: "B", name: name, text: fmt.Sprint(v)} }

// I32 is an int property.
func I32(name string, v int) *Node { return &Node{tag: "I32", name: name, text: fmt.Sprint(v)} }

// DT is a DateTime property (text as Export-Clixml writes it).
func DT(name, v string) *Node { return &Node{tag: "DT", name: name, text: v} }

// BA is a byte array property.
func BA(name string, b []byte) *Node {
	return &Node{tag: "BA", name: name, text: base64.StdEncoding.EncodeToString(b)}
}

// Nil is a null property.
func Nil(name string) *Node { return &Node{tag: "Nil", name: name} }

// Obj is an object (name "" at top level).
func Obj(name string, types []string, toString string, props []*Node, ms ...*Node) *Node {
	return &Node{tag: "Obj", name: name, types: types, toString: toString, props: props, ms: ms}
}

// Enum is an enum value as Exchange objects serialize them.
func Enum(name, typ, toString string, value int) *Node {
	return &Node{tag: "Obj", name: name, types: []string{typ, "System.Enum", "System.ValueType", "System.Object"}, toString: toString,
		inner: &Node{tag: "I32", text: fmt.Sprint(value)}}
}

// List is a multi-valued property of items.
func List(name, elemType string, items ...*Node) *Node {
	return &Node{tag: "Obj", name: name, list: true, items: items, types: []string{
		"Microsoft.Exchange.Data.MultiValuedProperty`1[[" + elemType + ", Microsoft.Exchange.Data, Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]",
		"Microsoft.Exchange.Data.MultiValuedPropertyBase", "System.Object"}}
}

// Value is an Exchange value type serialized with its ToString and an
// opaque SerializationData blob (Fqdn, SmtpDomain, IPBinding, ADObjectId...).
func Value(name, typ, toString string, props ...*Node) *Node {
	return Obj(name, []string{typ, "System.Object"}, toString, props, BA("SerializationData", []byte("\x00\x01\x00\x00\x00\xff\xff\xff\xff"+toString)))
}

// Document renders top-level objects as an Export-Clixml document.
func Document(objs ...*Node) string {
	w := &writer{typeIDs: map[string]int{}}
	w.b.WriteString("<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">\r\n")
	for _, o := range objs {
		w.node(o, 1)
	}
	w.b.WriteString("</Objs>")
	return w.b.String()
}

type writer struct {
	b       strings.Builder
	refs    int
	typeIDs map[string]int
}

func (w *writer) node(n *Node, depth int) {
	ind := strings.Repeat("  ", depth)
	nameAttr := ""
	if n.name != "" {
		nameAttr = fmt.Sprintf(" N=\"%s\"", esc(n.name))
	}
	switch n.tag {
	case "Nil":
		fmt.Fprintf(&w.b, "%s<Nil%s />\r\n", ind, nameAttr)
		return
	case "Obj":
	default:
		fmt.Fprintf(&w.b, "%s<%s%s>%s</%s>\r\n", ind, n.tag, nameAttr, esc(n.text), n.tag)
		return
	}
	fmt.Fprintf(&w.b, "%s<Obj%s RefId=\"%d\">\r\n", ind, nameAttr, w.refs)
	w.refs++
	if len(n.types) > 0 {
		key := strings.Join(n.types, "\x00")
		if id, ok := w.typeIDs[key]; ok {
			fmt.Fprintf(&w.b, "%s  <TNRef RefId=\"%d\" />\r\n", ind, id)
		} else {
			id := len(w.typeIDs)
			w.typeIDs[key] = id
			fmt.Fprintf(&w.b, "%s  <TN RefId=\"%d\">\r\n", ind, id)
			for _, t := range n.types {
				fmt.Fprintf(&w.b, "%s    <T>%s</T>\r\n", ind, esc(t))
			}
			fmt.Fprintf(&w.b, "%s  </TN>\r\n", ind)
		}
	}
	if n.toString != "" {
		fmt.Fprintf(&w.b, "%s  <ToString>%s</ToString>\r\n", ind, esc(n.toString))
	}
	if n.inner != nil {
		w.node(n.inner, depth+1)
	}
	if n.list {
		fmt.Fprintf(&w.b, "%s  <LST>\r\n", ind)
		for _, it := range n.items {
			w.node(it, depth+2)
		}
		fmt.Fprintf(&w.b, "%s  </LST>\r\n", ind)
	}
	for _, sec := range []struct {
		tag   string
		nodes []*Node
	}{{"Props", n.props}, {"MS", n.ms}} {
		if len(sec.nodes) == 0 {
			continue
		}
		fmt.Fprintf(&w.b, "%s  <%s>\r\n", ind, sec.tag)
		for _, p := range sec.nodes {
			w.node(p, depth+2)
		}
		fmt.Fprintf(&w.b, "%s  </%s>\r\n", ind, sec.tag)
	}
	fmt.Fprintf(&w.b, "%s</Obj>\r\n", ind)
}

// esc escapes XML and, as PowerShell does, control characters as _xHHHH_
// (and a literal "_x" as _x005F_x).
func esc(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' && strings.HasPrefix(s[i:], "_x"):
			b.WriteString("_x005F_")
		case r < 0x20:
			fmt.Fprintf(&b, "_x%04X_", r)
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// UTF16LE encodes a document as Windows PowerShell 5.1's Export-Clixml
// writes it: UTF-16 little-endian with a byte order mark.
func UTF16LE(doc string) []byte {
	var b bytes.Buffer
	b.Write([]byte{0xFF, 0xFE})
	for _, u := range utf16.Encode([]rune(doc)) {
		_ = binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

// UTF8BOM encodes a document as UTF-8 with a byte order mark (a re-saved
// export, or Export-Clixml -Encoding UTF8 on Windows PowerShell).
func UTF8BOM(doc string) []byte { return append([]byte{0xEF, 0xBB, 0xBF}, doc...) }
