package eventlog

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Binary XML tokens (the low 6 bits; 0x40 flags "more data": attributes
// on an element, another attribute, more value text).
const (
	tokEOF          = 0x00
	tokOpenStart    = 0x01
	tokCloseStart   = 0x02
	tokCloseEmpty   = 0x03
	tokEndElement   = 0x04
	tokValue        = 0x05
	tokAttribute    = 0x06
	tokCDATA        = 0x07
	tokCharRef      = 0x08
	tokEntityRef    = 0x09
	tokPITarget     = 0x0a
	tokPIData       = 0x0b
	tokTemplate     = 0x0c
	tokSubst        = 0x0d
	tokOptSubst     = 0x0e
	tokFragment     = 0x0f
	flagMore        = 0x40
	valBinXML       = 0x21
	maxSubstitution = 1024
	maxNameChars    = 1024
)

type tkind uint8

const (
	kElem tkind = iota
	kText
	kSubst
)

// tnode is a binary XML item: an element, text, or (inside a template
// definition) a substitution placeholder.
type tnode struct {
	kind     tkind
	name     string
	attrs    []tattr
	children []tnode
	text     string
	idx      int
}

type tattr struct {
	name  string
	value []tnode
}

type value struct {
	typ       byte
	off, size int
}

// decoder reads binary XML inside one chunk; every offset is relative to
// the chunk's start, as the format's own name and template offsets are.
type decoder struct {
	chunk     []byte
	templates map[uint32][]tnode
	building  map[uint32]bool
	nodes     int
	cost      int
	chunkCost int
	end       int
}

// maxCost bounds the bytes one record may make the decoder read or copy
// (values are referenced by offset, so a hostile record can name the same
// 64 KiB many times over); maxChunkCost bounds a whole chunk, whose up to
// ~2300 records could each spend maxCost (a real chunk needs a few MiB).
const (
	maxCost      = 4 << 20
	maxChunkCost = 32 << 20
)

// errChunkBudget: the chunk spent maxChunkCost; its other records are skipped.
var errChunkBudget = fmt.Errorf("%w: chunk needs more than %d bytes of decoding", ErrMalformed, maxChunkCost)

func (d *decoder) spend(n int) error {
	d.cost += n
	d.chunkCost += n
	if d.chunkCost > maxChunkCost {
		return errChunkBudget
	}
	if d.cost > maxCost {
		return fmt.Errorf("%w: record needs more than %d bytes of decoding", ErrMalformed, maxCost)
	}
	return nil
}

func (d *decoder) fail(pos int, what string) error {
	return fmt.Errorf("%w: %s at chunk offset %d", ErrMalformed, what, pos)
}

func (d *decoder) need(pos, n int) error {
	if pos < 0 || n < 0 || pos+n > len(d.chunk) {
		return d.fail(pos, errShort.Error())
	}
	return nil
}

func (d *decoder) u8(pos int) (byte, error) {
	if err := d.need(pos, 1); err != nil {
		return 0, err
	}
	return d.chunk[pos], nil
}

func (d *decoder) u16(pos int) (int, error) {
	if err := d.need(pos, 2); err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(d.chunk[pos:])), nil
}

func (d *decoder) u32(pos int) (uint32, error) {
	if err := d.need(pos, 4); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.chunk[pos:]), nil
}

func (d *decoder) utf16(pos, chars int) (string, error) {
	if err := d.need(pos, 2*chars); err != nil {
		return "", err
	}
	if err := d.spend(2 * chars); err != nil {
		return "", err
	}
	u := make([]uint16, chars)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(d.chunk[pos+2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func (d *decoder) count() error {
	d.nodes++
	if err := d.spend(16); err != nil {
		return err
	}
	if d.nodes > maxNodes {
		return fmt.Errorf("%w: more than %d binary XML nodes in one record", ErrMalformed, maxNodes)
	}
	return nil
}

// name reads the name at off; when off is pos the name is stored inline
// (its first use in the chunk) and pos moves past it.
func (d *decoder) name(off uint32, pos int) (string, int, error) {
	at := int(off)
	n, err := d.u16(at + 6)
	if err != nil {
		return "", pos, err
	}
	if n > maxNameChars {
		return "", pos, d.fail(at, "name too long")
	}
	s, err := d.utf16(at+8, n)
	if err != nil {
		return "", pos, err
	}
	if at == pos {
		pos += 8 + 2*n + 2
	}
	return s, pos, nil
}

// fragmentRoot decodes a record's binary XML and returns its <Event>.
func (d *decoder) fragmentRoot(pos int) (*node, error) {
	items, _, err := d.items(pos, d.end, 0, tokEOF)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it.kind == kElem {
			return toNode(it, 0), nil
		}
	}
	return nil, fmt.Errorf("%w: record without an element", ErrMalformed)
}

func toNode(t tnode, depth int) *node {
	n := &node{name: t.name}
	for _, a := range t.attrs {
		var b strings.Builder
		for _, v := range a.value {
			b.WriteString(v.text)
		}
		n.attrs = append(n.attrs, attr{a.name, b.String()})
	}
	if depth > maxDepth {
		return n
	}
	for _, c := range t.children {
		switch c.kind {
		case kElem:
			n.children = append(n.children, toNode(c, depth+1))
		case kText:
			if n.text.Len() < maxDataValueLen {
				n.text.WriteString(c.text)
			}
		}
	}
	return n
}

// items reads content tokens from pos until the stop token (consumed) or
// limit: an element's children (stop tokEndElement) or a fragment (stop
// tokEOF). Template instances are resolved in place.
func (d *decoder) items(pos, limit, depth int, stop byte) ([]tnode, int, error) {
	if depth > maxDepth {
		return nil, pos, fmt.Errorf("%w: binary XML nested deeper than %d", ErrMalformed, maxDepth)
	}
	var out []tnode
	for pos < limit {
		tok, err := d.u8(pos)
		if err != nil {
			return nil, pos, err
		}
		switch tok &^ flagMore {
		case stop:
			return out, pos + 1, nil
		case tokFragment:
			pos += 4
		case tokOpenStart:
			el, np, err := d.element(pos, depth+1)
			if err != nil {
				return nil, pos, err
			}
			out, pos = append(out, el), np
		case tokTemplate:
			got, np, err := d.template(pos, depth+1)
			if err != nil {
				return nil, pos, err
			}
			out, pos = append(out, got...), np
		case tokValue, tokSubst, tokOptSubst, tokCDATA, tokCharRef, tokEntityRef:
			v, np, err := d.valueToken(pos)
			if err != nil {
				return nil, pos, err
			}
			out, pos = append(out, v), np
		case tokPITarget:
			pos += 5
		case tokPIData:
			n, err := d.u16(pos + 1)
			if err != nil {
				return nil, pos, err
			}
			pos += 3 + 2*n
		default:
			return nil, pos, d.fail(pos, fmt.Sprintf("unexpected token 0x%02x", tok))
		}
		if err := d.count(); err != nil {
			return nil, pos, err
		}
	}
	if stop == tokEOF {
		return out, pos, nil // an embedded fragment may end with its value
	}
	return nil, pos, d.fail(pos, "element not closed")
}

// element reads an element from its open-start token.
func (d *decoder) element(pos, depth int) (tnode, int, error) {
	tok, _ := d.u8(pos)
	off, err := d.u32(pos + 7)
	if err != nil {
		return tnode{}, pos, err
	}
	name, np, err := d.name(off, pos+11)
	if err != nil {
		return tnode{}, pos, err
	}
	pos = np
	if tok&flagMore != 0 {
		pos += 4 // attribute list size
	}
	el := tnode{kind: kElem, name: name}
	for {
		t, err := d.u8(pos)
		if err != nil {
			return tnode{}, pos, err
		}
		switch t &^ flagMore {
		case tokAttribute:
			aoff, err := d.u32(pos + 1)
			if err != nil {
				return tnode{}, pos, err
			}
			an, np, err := d.name(aoff, pos+5)
			if err != nil {
				return tnode{}, pos, err
			}
			pos = np
			a := tattr{name: an}
			for {
				vt, err := d.u8(pos)
				if err != nil {
					return tnode{}, pos, err
				}
				if k := vt &^ flagMore; k != tokValue && k != tokSubst && k != tokOptSubst && k != tokCharRef && k != tokEntityRef {
					break
				}
				v, np, err := d.valueToken(pos)
				if err != nil {
					return tnode{}, pos, err
				}
				a.value, pos = append(a.value, v), np
				if err := d.count(); err != nil {
					return tnode{}, pos, err
				}
			}
			el.attrs = append(el.attrs, a)
		case tokCloseEmpty:
			return el, pos + 1, nil
		case tokCloseStart:
			kids, np, err := d.items(pos+1, len(d.chunk), depth, tokEndElement)
			if err != nil {
				return tnode{}, pos, err
			}
			el.children = kids
			return el, np, nil
		default:
			return tnode{}, pos, d.fail(pos, fmt.Sprintf("token 0x%02x in an element's start tag", t))
		}
	}
}

// xmlEntities are the entity references BinXML may carry.
var xmlEntities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'"}

// valueToken reads text, a character or entity reference, or a
// substitution placeholder.
func (d *decoder) valueToken(pos int) (tnode, int, error) {
	tok, _ := d.u8(pos)
	switch tok &^ flagMore {
	case tokValue:
		typ, err := d.u8(pos + 1)
		if err != nil {
			return tnode{}, pos, err
		}
		if typ != 0x01 {
			return tnode{}, pos, d.fail(pos, fmt.Sprintf("value of type 0x%02x", typ))
		}
		n, err := d.u16(pos + 2)
		if err != nil {
			return tnode{}, pos, err
		}
		s, err := d.utf16(pos+4, n)
		return tnode{kind: kText, text: s}, pos + 4 + 2*n, err
	case tokCDATA:
		n, err := d.u16(pos + 1)
		if err != nil {
			return tnode{}, pos, err
		}
		s, err := d.utf16(pos+3, n)
		return tnode{kind: kText, text: s}, pos + 3 + 2*n, err
	case tokCharRef:
		c, err := d.u16(pos + 1)
		return tnode{kind: kText, text: string(rune(c))}, pos + 3, err
	case tokEntityRef:
		off, err := d.u32(pos + 1)
		if err != nil {
			return tnode{}, pos, err
		}
		name, np, err := d.name(off, pos+5)
		return tnode{kind: kText, text: xmlEntities[name]}, np, err
	default: // substitution
		idx, err := d.u16(pos + 1)
		if err != nil {
			return tnode{}, pos, err
		}
		if _, err := d.u8(pos + 3); err != nil {
			return tnode{}, pos, err
		}
		return tnode{kind: kSubst, idx: idx}, pos + 4, nil
	}
}

// template reads a template instance: the definition (inline at its first
// use in the chunk, else by offset) and the substitution values after it,
// and returns the definition filled with them.
func (d *decoder) template(pos, depth int) ([]tnode, int, error) {
	defOff, err := d.u32(pos + 6)
	if err != nil {
		return nil, pos, err
	}
	pos += 10
	body, err := d.definition(defOff, depth)
	if err != nil {
		return nil, pos, err
	}
	if int(defOff) == pos {
		size, _ := d.u32(pos + 20)
		pos += 24 + int(size)
	}
	n, err := d.u32(pos)
	if err != nil {
		return nil, pos, err
	}
	if n > maxSubstitution {
		return nil, pos, d.fail(pos, fmt.Sprintf("%d substitution values", n))
	}
	vals := make([]value, n)
	at := pos + 4 + 4*int(n)
	for i := range vals {
		size, err := d.u16(pos + 4 + 4*i)
		if err != nil {
			return nil, pos, err
		}
		typ, _ := d.u8(pos + 6 + 4*i)
		vals[i] = value{typ: typ, off: at, size: size}
		at += size
	}
	if err := d.need(pos, at-pos); err != nil {
		return nil, pos, err
	}
	out, err := d.fill(body, vals, depth)
	return out, at, err
}

// definition parses (once per chunk) the template body at off.
func (d *decoder) definition(off uint32, depth int) ([]tnode, error) {
	if t, ok := d.templates[off]; ok {
		return t, nil
	}
	if d.building == nil {
		d.building = map[uint32]bool{}
	}
	if d.building[off] {
		return nil, d.fail(int(off), "template refers to itself")
	}
	d.building[off] = true
	defer delete(d.building, off)
	size, err := d.u32(int(off) + 20)
	if err != nil {
		return nil, err
	}
	start := int(off) + 24
	if err := d.need(start, int(size)); err != nil {
		return nil, err
	}
	body, _, err := d.items(start, start+int(size), depth, tokEOF)
	if err != nil {
		return nil, err
	}
	d.templates[off] = body
	return body, nil
}

// fill replaces substitution placeholders with values; a binary XML value
// (type 0x21, how EventData of classic events is stored) is decoded in place.
func (d *decoder) fill(items []tnode, vals []value, depth int) ([]tnode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%w: templates nested deeper than %d", ErrMalformed, maxDepth)
	}
	out := make([]tnode, 0, len(items))
	for _, it := range items {
		if err := d.count(); err != nil {
			return nil, err
		}
		switch it.kind {
		case kText:
			out = append(out, it)
		case kElem:
			el := tnode{kind: kElem, name: it.name}
			for _, a := range it.attrs {
				v, err := d.fill(a.value, vals, depth+1)
				if err != nil {
					return nil, err
				}
				el.attrs = append(el.attrs, tattr{a.name, v})
			}
			kids, err := d.fill(it.children, vals, depth+1)
			if err != nil {
				return nil, err
			}
			el.children = kids
			out = append(out, el)
		case kSubst:
			if it.idx >= len(vals) {
				continue
			}
			v := vals[it.idx]
			if v.typ == valBinXML {
				nested, _, err := d.items(v.off, v.off+v.size, depth+1, tokEOF)
				if err != nil {
					return nil, err
				}
				out = append(out, nested...)
				continue
			}
			s, err := d.valueString(v)
			if err != nil {
				return nil, err
			}
			out = append(out, tnode{kind: kText, text: s})
		}
	}
	return out, nil
}

// valueString renders a substitution value as EvtRender's XML does.
func (d *decoder) valueString(v value) (string, error) {
	if err := d.need(v.off, v.size); err != nil {
		return "", err
	}
	if err := d.spend(v.size); err != nil {
		return "", err
	}
	b := d.chunk[v.off : v.off+v.size]
	le := binary.LittleEndian
	fixed := func(n int) bool { return len(b) >= n }
	switch v.typ {
	case 0x00:
		return "", nil
	case 0x01:
		s, err := d.utf16(v.off, v.size/2)
		return strings.TrimRight(s, "\x00"), err
	case 0x02:
		return strings.TrimRight(string(b), "\x00"), nil
	case 0x03:
		if fixed(1) {
			return strconv.Itoa(int(int8(b[0]))), nil
		}
	case 0x04:
		if fixed(1) {
			return strconv.Itoa(int(b[0])), nil
		}
	case 0x05:
		if fixed(2) {
			return strconv.Itoa(int(int16(le.Uint16(b)))), nil
		}
	case 0x06:
		if fixed(2) {
			return strconv.Itoa(int(le.Uint16(b))), nil
		}
	case 0x07:
		if fixed(4) {
			return strconv.Itoa(int(int32(le.Uint32(b)))), nil
		}
	case 0x08:
		if fixed(4) {
			return strconv.FormatUint(uint64(le.Uint32(b)), 10), nil
		}
	case 0x09:
		if fixed(8) {
			return strconv.FormatInt(int64(le.Uint64(b)), 10), nil
		}
	case 0x0a:
		if fixed(8) {
			return strconv.FormatUint(le.Uint64(b), 10), nil
		}
	case 0x0b:
		if fixed(4) {
			return strconv.FormatFloat(float64(math.Float32frombits(le.Uint32(b))), 'g', -1, 32), nil
		}
	case 0x0c:
		if fixed(8) {
			return strconv.FormatFloat(math.Float64frombits(le.Uint64(b)), 'g', -1, 64), nil
		}
	case 0x0d:
		if fixed(4) {
			return strconv.FormatBool(le.Uint32(b) != 0), nil
		}
	case 0x0e:
		return strings.ToUpper(hex.EncodeToString(b)), nil
	case 0x0f:
		if fixed(16) {
			return fmt.Sprintf("{%08X-%04X-%04X-%X-%X}", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16]), nil
		}
	case 0x10, 0x14, 0x15:
		switch len(b) {
		case 4:
			return fmt.Sprintf("0x%x", le.Uint32(b)), nil
		case 8:
			return fmt.Sprintf("0x%x", le.Uint64(b)), nil
		}
	case 0x11:
		if fixed(8) {
			t := filetime(le.Uint64(b))
			if t.IsZero() {
				return "", nil
			}
			return t.Format(time.RFC3339Nano), nil
		}
	case 0x12:
		if fixed(16) {
			t := time.Date(int(le.Uint16(b)), time.Month(le.Uint16(b[2:])), int(le.Uint16(b[6:])), int(le.Uint16(b[8:])),
				int(le.Uint16(b[10:])), int(le.Uint16(b[12:])), int(le.Uint16(b[14:]))*int(time.Millisecond), time.UTC)
			return t.Format(time.RFC3339Nano), nil
		}
	case 0x13:
		return sidString(b), nil
	case 0x81:
		s, err := d.utf16(v.off, v.size/2)
		return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == 0 }), ","), err
	default:
		return strings.ToUpper(hex.EncodeToString(b)), nil
	}
	return "", d.fail(v.off, fmt.Sprintf("value of type 0x%02x and %d bytes", v.typ, v.size))
}

func sidString(b []byte) string {
	if len(b) < 8 || len(b) < 8+4*int(b[1]) {
		return strings.ToUpper(hex.EncodeToString(b))
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	s := fmt.Sprintf("S-%d-%d", b[0], auth)
	for i := 0; i < int(b[1]); i++ {
		s += "-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10)
	}
	return s
}
