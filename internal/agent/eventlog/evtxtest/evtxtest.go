// Package evtxtest writes small but valid EVTX files for tests: the file
// header, 64 KiB chunks with their checksums, and records whose binary XML
// is laid out the way Windows lays out classic events (a template instance
// whose definition is inline at its first use in a chunk and referenced by
// offset afterwards, names inline at first use, System fields as typed
// substitution values, EventData as an embedded binary XML value).
//
// Windows' own writers are not available here (Wine 8's EvtExportLog is a
// stub), so the fixtures come from this writer; docs/wine.md says so.
package evtxtest

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"time"
	"unicode/utf16"

	"github.com/mxprobe/mxprobe/internal/agent/eventlog"
)

const (
	fileHeaderSize  = 4096
	chunkSize       = 65536
	chunkHeaderSize = 512
)

// Write writes events to path as an EVTX file.
func Write(path string, events []eventlog.Event) error {
	return os.WriteFile(path, Bytes(events), 0o600)
}

// Bytes returns events as an EVTX image. Each event's Qualifiers (the top
// 16 bits of a classic event ID) are those of an Error event.
func Bytes(events []eventlog.Event) []byte {
	var chunks [][]byte
	w := newChunk(1)
	id := uint64(1)
	for _, e := range events {
		rec := w.record(id, e)
		if rec == nil {
			chunks = append(chunks, w.finish())
			w = newChunk(id)
			rec = w.record(id, e)
		}
		id++
	}
	if w.records > 0 || len(chunks) == 0 {
		chunks = append(chunks, w.finish())
	}
	out := make([]byte, fileHeaderSize, fileHeaderSize+len(chunks)*chunkSize)
	copy(out, "ElfFile\x00")
	le := binary.LittleEndian
	le.PutUint64(out[8:], 0)
	le.PutUint64(out[16:], uint64(len(chunks)-1))
	le.PutUint64(out[24:], id)
	le.PutUint32(out[32:], 128)
	le.PutUint16(out[36:], 1)
	le.PutUint16(out[38:], 3)
	le.PutUint16(out[40:], fileHeaderSize)
	le.PutUint16(out[42:], uint16(len(chunks)))
	le.PutUint32(out[124:], crc32.ChecksumIEEE(out[:120]))
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

type chunk struct {
	b                []byte
	names            map[string]uint32
	template         uint32
	first, last      uint64
	records, lastOff int
}

func newChunk(first uint64) *chunk {
	c := &chunk{b: make([]byte, chunkHeaderSize, chunkSize), names: map[string]uint32{}, first: first}
	copy(c.b, "ElfChnk\x00")
	return c
}

func (c *chunk) finish() []byte {
	le := binary.LittleEndian
	h := c.b[:chunkHeaderSize]
	le.PutUint64(h[8:], c.first)
	le.PutUint64(h[16:], c.last)
	le.PutUint64(h[24:], c.first)
	le.PutUint64(h[32:], c.last)
	le.PutUint32(h[40:], 128)
	le.PutUint32(h[44:], uint32(c.lastOff))
	le.PutUint32(h[48:], uint32(len(c.b)))
	le.PutUint32(h[52:], crc32.ChecksumIEEE(c.b[chunkHeaderSize:]))
	crc := crc32.NewIEEE()
	crc.Write(h[:120])
	crc.Write(h[128:chunkHeaderSize])
	le.PutUint32(h[124:], crc.Sum32())
	out := make([]byte, chunkSize)
	copy(out, c.b)
	return out
}

func (c *chunk) u8(v byte)              { c.b = append(c.b, v) }
func (c *chunk) u16(v uint16)           { c.b = binary.LittleEndian.AppendUint16(c.b, v) }
func (c *chunk) u32(v uint32)           { c.b = binary.LittleEndian.AppendUint32(c.b, v) }
func (c *chunk) u64(v uint64)           { c.b = binary.LittleEndian.AppendUint64(c.b, v) }
func (c *chunk) put32(at int, v uint32) { binary.LittleEndian.PutUint32(c.b[at:], v) }

func (c *chunk) wstr(s string) {
	for _, u := range utf16.Encode([]rune(s)) {
		c.u16(u)
	}
}

// name writes a name reference, inline at its first use in the chunk.
func (c *chunk) name(s string) {
	if off, ok := c.names[s]; ok {
		c.u32(off)
		return
	}
	off := uint32(len(c.b) + 4)
	c.names[s] = off
	c.u32(off)
	c.u32(0) // next name in the hash bucket
	var h uint32
	u := utf16.Encode([]rune(s))
	for _, x := range u {
		h = h*65599 + uint32(x)
	}
	c.u16(uint16(h))
	c.u16(uint16(len(u)))
	c.wstr(s)
	c.u16(0)
}

// item is an element, a text, or a substitution placeholder.
type item any

type elem struct {
	name  string
	attrs []attr
	kids  []item
}

type attr struct {
	name string
	v    item
}

type subst struct {
	idx uint16
	typ byte
}

func (c *chunk) emit(it item) {
	switch v := it.(type) {
	case string:
		u := utf16.Encode([]rune(v))
		c.u8(0x05)
		c.u8(0x01)
		c.u16(uint16(len(u)))
		c.wstr(v)
	case subst:
		c.u8(0x0d)
		c.u16(v.idx)
		c.u8(v.typ)
	case elem:
		tok := byte(0x01)
		if len(v.attrs) > 0 {
			tok = 0x41
		}
		c.u8(tok)
		c.u16(0xffff)
		sizeAt := len(c.b)
		c.u32(0)
		c.name(v.name)
		listAt := -1
		if len(v.attrs) > 0 {
			listAt = len(c.b)
			c.u32(0)
		}
		for i, a := range v.attrs {
			t := byte(0x06)
			if i < len(v.attrs)-1 {
				t = 0x46
			}
			c.u8(t)
			c.name(a.name)
			c.emit(a.v)
		}
		if listAt >= 0 {
			c.put32(listAt, uint32(len(c.b)-listAt-4))
		}
		if len(v.kids) == 0 {
			c.u8(0x03)
		} else {
			c.u8(0x02)
			for _, k := range v.kids {
				c.emit(k)
			}
			c.u8(0x04)
		}
		c.put32(sizeAt, uint32(len(c.b)-sizeAt-4))
	}
}

// The substitution values of the event template, in index order.
const (
	sProvider = iota
	sQualifiers
	sID
	sLevel
	sTime
	sRecordID
	sChannel
	sComputer
	sEventData
	nValues
)

func eventTemplate() elem {
	return elem{name: "Event", attrs: []attr{{"xmlns", "http://schemas.microsoft.com/win/2004/08/events/event"}}, kids: []item{
		elem{name: "System", kids: []item{
			elem{name: "Provider", attrs: []attr{{"Name", subst{sProvider, 0x01}}}},
			elem{name: "EventID", attrs: []attr{{"Qualifiers", subst{sQualifiers, 0x06}}}, kids: []item{subst{sID, 0x06}}},
			elem{name: "Level", kids: []item{subst{sLevel, 0x04}}},
			elem{name: "TimeCreated", attrs: []attr{{"SystemTime", subst{sTime, 0x11}}}},
			elem{name: "EventRecordID", kids: []item{subst{sRecordID, 0x0a}}},
			elem{name: "Channel", kids: []item{subst{sChannel, 0x01}}},
			elem{name: "Computer", kids: []item{subst{sComputer, 0x01}}},
		}},
		subst{sEventData, 0x21},
	}}
}

// record appends one record, or returns nil when it does not fit.
func (c *chunk) record(id uint64, e eventlog.Event) []byte {
	save, saveTmpl := len(c.b), c.template
	start := len(c.b)
	c.u32(0x00002a2a)
	c.u32(0) // size
	c.u64(id)
	ts := e.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	c.u64(filetime(ts))
	c.u8(0x0f) // fragment header 1.1
	c.u8(1)
	c.u8(1)
	c.u8(0)
	c.u8(0x0c) // template instance
	c.u8(1)
	c.u32(0x4d585052) // template ID
	if c.template == 0 {
		c.template = uint32(len(c.b) + 4)
		c.u32(c.template)
		c.u32(0)                                 // next template
		c.b = append(c.b, "mxprobe-evtxtest"...) // GUID
		sizeAt := len(c.b)
		c.u32(0)
		bodyStart := len(c.b)
		c.u8(0x0f)
		c.u8(1)
		c.u8(1)
		c.u8(0)
		c.emit(eventTemplate())
		c.u8(0x00)
		c.put32(sizeAt, uint32(len(c.b)-bodyStart))
	} else {
		c.u32(c.template)
	}
	// Substitution array: descriptors, then the values back to back.
	c.u32(nValues)
	descAt := len(c.b)
	c.b = append(c.b, make([]byte, 4*nValues)...)
	level := e.Level
	if level == 0 {
		level = 2
	}
	vals := []func(){
		func() { c.wstr(e.Provider) },
		func() { c.u16(0xc000) },
		func() { c.u16(uint16(e.ID)) },
		func() { c.u8(level) },
		func() { c.u64(filetime(ts)) },
		func() { c.u64(id) },
		func() { c.wstr(e.Channel) },
		func() { c.wstr(e.Computer) },
		func() { c.eventData(e) },
	}
	types := []byte{0x01, 0x06, 0x06, 0x04, 0x11, 0x0a, 0x01, 0x01, 0x21}
	for i, f := range vals {
		at := len(c.b)
		f()
		binary.LittleEndian.PutUint16(c.b[descAt+4*i:], uint16(len(c.b)-at))
		c.b[descAt+4*i+2] = types[i]
	}
	c.u8(0x00) // end of fragment
	size := len(c.b) - start + 4
	c.u32(uint32(size))
	c.put32(start+4, uint32(size))
	if len(c.b) > chunkSize {
		c.b = c.b[:save]
		for k, off := range c.names {
			if int(off) >= save {
				delete(c.names, k)
			}
		}
		c.template = saveTmpl
		return nil
	}
	if c.records == 0 {
		c.first = id
	}
	c.records++
	c.last, c.lastOff = id, start
	return c.b[start:]
}

// eventData writes <EventData><Data Name=..>v</Data>...</EventData> as an
// embedded binary XML fragment.
func (c *chunk) eventData(e eventlog.Event) {
	c.u8(0x0f)
	c.u8(1)
	c.u8(1)
	c.u8(0)
	ed := elem{name: "EventData"}
	for i, d := range e.Data {
		el := elem{name: "Data", kids: []item{d}}
		if i < len(e.DataNames) && e.DataNames[i] != "" {
			el.attrs = []attr{{"Name", e.DataNames[i]}}
		}
		if d == "" {
			el.kids = nil
		}
		ed.kids = append(ed.kids, el)
	}
	c.emit(ed)
	c.u8(0x00)
}

func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}
