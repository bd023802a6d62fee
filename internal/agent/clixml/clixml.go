// Package clixml decodes PowerShell CLIXML, the format Export-Clixml writes
// (schema http://schemas.microsoft.com/powershell/2004/04, MS-PSRP section
// 2.2.5): a list of serialized objects with their type names, ToString,
// adapted properties (Props) and extended members (MS), lists, dictionaries
// and primitives. It is how Exchange admins hand data over: exports of
// Get-ChildItem Cert:\LocalMachine\My, Get-ExchangeCertificate,
// Get-SendConnector, Get-ReceiveConnector and Get-TransportService.
//
// Decode detects the encoding (UTF-16 LE with or without a BOM, as Windows
// PowerShell 5.1 writes it; UTF-8 with or without a BOM, as PowerShell 7
// and re-saved files have it), resolves <Ref> and <TNRef>, unescapes _xHHHH_
// sequences, and bounds input size, nesting and node count: a hostile file is
// refused, never a crash or unbounded memory.
package clixml

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits.
const (
	MaxBytes = 64 << 20 // decoded document
	maxDepth = 64
	maxNodes = 2_000_000
)

// Errors.
var (
	// ErrNotCLIXML: the document is not a CLIXML export (no <Objs> root).
	ErrNotCLIXML = errors.New("clixml: not a PowerShell CLIXML document")
	// ErrInvalid: the document is CLIXML but malformed or over a limit.
	ErrInvalid = errors.New("clixml: invalid document")
)

// Kind is the kind of a Value.
type Kind uint8

// Kinds.
const (
	Nil Kind = iota
	String
	Bool
	Int
	Float
	Bytes
	Time
	Object // an <Obj>: Types, ToString, Props, Items or Dict
)

// Value is one decoded value.
type Value struct {
	Kind Kind
	// Text is the value's text: the string, the number as written, the
	// date as written, base64 for Bytes; an Object's ToString.
	Text  string
	Bool  bool
	Int   int64
	Float float64
	Bytes []byte
	Time  time.Time

	// Types are the .NET type names, most derived first (Object only).
	Types []string
	// Props holds the adapted properties then the extended members (MS),
	// in document order.
	Props []Prop
	// Items are the elements of a list (LST, IE, STK, QUE).
	Items []*Value
	// IsList is set for an Object that carried a list (even empty).
	IsList bool
	// Dict holds DCT entries.
	Dict []Entry
	// Inner is the primitive an enum or a wrapped primitive carries (an
	// <Obj> holding <I32>31</I32> besides its ToString).
	Inner *Value
}

// Prop is a named property.
type Prop struct {
	Name  string
	Value *Value
}

// Entry is a dictionary entry.
type Entry struct{ Key, Value *Value }

// Prop returns the property named name (case-insensitive, first match), or nil.
func (v *Value) Prop(name string) *Value {
	if v == nil {
		return nil
	}
	for _, p := range v.Props {
		if strings.EqualFold(p.Name, name) {
			return p.Value
		}
	}
	return nil
}

// HasType reports whether one of v's type names equals name or ends with
// "."+name.
func (v *Value) HasType(name string) bool {
	if v == nil {
		return false
	}
	for _, t := range v.Types {
		if strings.EqualFold(t, name) || strings.HasSuffix(strings.ToLower(t), "."+strings.ToLower(name)) {
			return true
		}
	}
	return false
}

// IsEnum reports whether v is a serialized enum (System.Enum among its types).
func (v *Value) IsEnum() bool { return v != nil && v.HasType("System.Enum") }

// Str is v's text form ("" for nil and Nil).
func (v *Value) Str() string {
	if v == nil {
		return ""
	}
	return v.Text
}

// Is reports whether data looks like CLIXML (after decoding its encoding).
func Is(data []byte) bool {
	s, err := decodeText(data)
	if err != nil {
		return false
	}
	return hasObjsRoot(s)
}

func hasObjsRoot(s string) bool {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<?xml") {
		if i := strings.Index(s, "?>"); i >= 0 {
			s = strings.TrimSpace(s[i+2:])
		}
	}
	return strings.HasPrefix(s, "<Objs")
}

// decodeText turns the bytes of a file into text, detecting UTF-16/UTF-8.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return utf16Text(data[2:], binary.LittleEndian)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return utf16Text(data[2:], binary.BigEndian)
	case len(data) >= 2 && data[0] == '<' && data[1] == 0:
		return utf16Text(data, binary.LittleEndian)
	case len(data) >= 2 && data[0] == 0 && data[1] == '<':
		return utf16Text(data, binary.BigEndian)
	}
	if !utf8.Valid(data) {
		return "", fmt.Errorf("%w: neither UTF-8 nor UTF-16 with a byte order mark", ErrInvalid)
	}
	return string(data), nil
}

func utf16Text(b []byte, order binary.ByteOrder) (string, error) {
	if len(b)%2 != 0 {
		b = b[:len(b)-1]
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = order.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

// Decode reads a whole CLIXML document and returns its top-level values.
func Decode(r io.Reader) ([]*Value, error) {
	data, err := io.ReadAll(io.LimitReader(r, 2*MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("clixml: read: %w", err)
	}
	if len(data) > 2*MaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, 2*MaxBytes)
	}
	return DecodeBytes(data)
}

// DecodeBytes is Decode over a byte slice.
func DecodeBytes(data []byte) ([]*Value, error) {
	text, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	if len(text) > MaxBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxBytes)
	}
	if !hasObjsRoot(text) {
		return nil, ErrNotCLIXML
	}
	d := &decoder{x: xml.NewDecoder(strings.NewReader(text)), refs: map[string]*Value{}, types: map[string][]string{}}
	d.x.Strict = true
	d.x.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil } // already decoded
	out, err := d.document()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

type decoder struct {
	x     *xml.Decoder
	refs  map[string]*Value
	types map[string][]string
	nodes int
}

func (d *decoder) next() (xml.Token, error) {
	tok, err := d.x.Token()
	if err != nil {
		return nil, err
	}
	return tok, nil
}

func (d *decoder) document() ([]*Value, error) {
	for {
		tok, err := d.next()
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "Objs" {
				return nil, fmt.Errorf("root element %s, want Objs", se.Name.Local)
			}
			ps, err := d.children(0)
			if err != nil {
				return nil, err
			}
			var out []*Value
			for _, p := range ps {
				out = append(out, p.Value)
			}
			return out, nil
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// value decodes the element se (already consumed) and returns it with its
// N attribute.
func (d *decoder) value(se xml.StartElement, depth int) (*Value, string, error) {
	if depth > maxDepth {
		return nil, "", fmt.Errorf("nesting deeper than %d", maxDepth)
	}
	d.nodes++
	if d.nodes > maxNodes {
		return nil, "", fmt.Errorf("more than %d values", maxNodes)
	}
	name := attr(se, "N")
	switch se.Name.Local {
	case "Obj":
		v, err := d.object(se, depth)
		return v, name, err
	case "Ref":
		id := attr(se, "RefId")
		if err := d.x.Skip(); err != nil {
			return nil, "", err
		}
		v, ok := d.refs[id]
		if !ok {
			return nil, "", fmt.Errorf("Ref to unknown RefId %q", id)
		}
		return v, name, nil
	case "Nil":
		if err := d.x.Skip(); err != nil {
			return nil, "", err
		}
		return &Value{Kind: Nil}, name, nil
	}
	text, err := d.text()
	if err != nil {
		return nil, "", err
	}
	v, err := primitive(se.Name.Local, text)
	return v, name, err
}

// text reads character data up to the end of the current element.
func (d *decoder) text() (string, error) {
	var b strings.Builder
	for {
		tok, err := d.next()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len()+len(t) > MaxBytes {
				return "", errors.New("text too long")
			}
			b.Write(t)
		case xml.StartElement:
			return "", fmt.Errorf("unexpected <%s> inside a primitive", t.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

func primitive(tag, raw string) (*Value, error) {
	switch tag {
	case "S", "G", "URI", "Version", "XD", "SBK", "TS", "C", "PR", "SS":
		s := Unescape(raw)
		if tag == "C" { // a char, as its UTF-16 code
			if n, err := strconv.Atoi(strings.TrimSpace(raw)); err == nil && n >= 0 && n < 0x110000 {
				s = string(rune(n))
			}
		}
		if tag == "SS" {
			s = "" // a SecureString: never kept
		}
		return &Value{Kind: String, Text: s}, nil
	case "B":
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("<B>%q: %w", clip(raw), err)
		}
		return &Value{Kind: Bool, Bool: b, Text: strconv.FormatBool(b)}, nil
	case "By", "SB", "U16", "I16", "U32", "I32", "U64", "I64":
		s := strings.TrimSpace(raw)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			u, uerr := strconv.ParseUint(s, 10, 64)
			if uerr != nil {
				return nil, fmt.Errorf("<%s>%q: %w", tag, clip(raw), err)
			}
			return &Value{Kind: Float, Float: float64(u), Text: s}, nil
		}
		return &Value{Kind: Int, Int: n, Text: s}, nil
	case "Sg", "Db", "D":
		s := strings.TrimSpace(raw)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("<%s>%q: %w", tag, clip(raw), err)
		}
		return &Value{Kind: Float, Float: f, Text: s}, nil
	case "DT":
		s := strings.TrimSpace(raw)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			// Unspecified-kind DateTimes have no offset.
			if t, err = time.Parse("2006-01-02T15:04:05.9999999", s); err != nil {
				return nil, fmt.Errorf("<DT>%q: %w", clip(raw), err)
			}
		}
		return &Value{Kind: Time, Time: t, Text: s}, nil
	case "BA":
		s := strings.Join(strings.Fields(raw), "")
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("<BA>: %w", err)
		}
		return &Value{Kind: Bytes, Bytes: b, Text: s}, nil
	}
	// Unknown element: keep its text, so newer serializers do not break
	// older readers.
	return &Value{Kind: String, Text: Unescape(raw)}, nil
}

func (d *decoder) object(se xml.StartElement, depth int) (*Value, error) {
	v := &Value{Kind: Object}
	if id := attr(se, "RefId"); id != "" {
		d.refs[id] = v
	}
	err := d.elements(func(t xml.StartElement) error {
		switch t.Name.Local {
		case "TN":
			id := attr(t, "RefId")
			names, err := d.typeNames()
			if err != nil {
				return err
			}
			v.Types = names
			if id != "" {
				d.types[id] = names
			}
		case "TNRef":
			names, ok := d.types[attr(t, "RefId")]
			if !ok {
				return fmt.Errorf("TNRef to unknown RefId %q", attr(t, "RefId"))
			}
			v.Types = names
			if err := d.x.Skip(); err != nil {
				return err
			}
		case "ToString":
			s, err := d.text()
			if err != nil {
				return err
			}
			v.Text = Unescape(s)
		case "Props", "MS":
			if err := d.members(v, depth); err != nil {
				return err
			}
		case "LST", "IE", "STK", "QUE":
			v.IsList = true
			items, err := d.children(depth)
			if err != nil {
				return err
			}
			for _, it := range items {
				v.Items = append(v.Items, it.Value)
			}
		case "DCT":
			if err := d.dict(v, depth); err != nil {
				return err
			}
		default:
			inner, _, err := d.value(t, depth+1)
			if err != nil {
				return err
			}
			v.Inner = inner
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// elements reads up to the end of the current element, handing each child
// element's start to start, which must consume the child.
func (d *decoder) elements(start func(xml.StartElement) error) error {
	for {
		tok, err := d.next()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := start(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

func (d *decoder) typeNames() ([]string, error) {
	var out []string
	err := d.elements(func(t xml.StartElement) error {
		if t.Name.Local != "T" {
			return fmt.Errorf("unexpected <%s> in TN", t.Name.Local)
		}
		s, err := d.text()
		if err != nil {
			return err
		}
		if len(out) < 64 {
			out = append(out, Unescape(s))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// children decodes the values inside the current element.
func (d *decoder) children(depth int) ([]Prop, error) {
	var out []Prop
	err := d.elements(func(t xml.StartElement) error {
		v, name, err := d.value(t, depth+1)
		if err != nil {
			return err
		}
		out = append(out, Prop{Name: Unescape(name), Value: v})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (d *decoder) members(v *Value, depth int) error {
	ps, err := d.children(depth)
	if err != nil {
		return err
	}
	v.Props = append(v.Props, ps...)
	return nil
}

func (d *decoder) dict(v *Value, depth int) error {
	return d.elements(func(t xml.StartElement) error {
		if t.Name.Local != "En" {
			return fmt.Errorf("unexpected <%s> in DCT", t.Name.Local)
		}
		ps, err := d.children(depth + 1)
		if err != nil {
			return err
		}
		var e Entry
		for _, p := range ps {
			switch p.Name {
			case "Key":
				e.Key = p.Value
			case "Value":
				e.Value = p.Value
			}
		}
		if e.Key != nil {
			v.Dict = append(v.Dict, e)
		}
		return nil
	})
}

// Unescape decodes CLIXML's _xHHHH_ escapes (UTF-16 code units, surrogate
// pairs as two escapes); _x005F_ is a literal underscore.
func Unescape(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if n, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				units = append(units, uint16(n))
				i += 7
				continue
			}
		}
		flush()
		r, size := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += size
	}
	flush()
	return b.String()
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
