package eventlog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// node is an XML element as both decoders produce it.
type node struct {
	name     string
	attrs    []attr
	children []*node
	text     strings.Builder
}

type attr struct{ name, value string }

func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if strings.EqualFold(a.name, name) {
			return a.value
		}
	}
	return ""
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

func (n *node) textOf(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text.String())
	}
	return ""
}

// leaves appends the text of every leaf under n, with its Name attribute
// or element name.
func (n *node) leaves(data, names *[]string, depth int) {
	if depth > maxDepth || len(*data) >= maxDataValues {
		return
	}
	if len(n.children) == 0 {
		*data = append(*data, clip(n.text.String()))
		*names = append(*names, n.name)
		return
	}
	for _, c := range n.children {
		c.leaves(data, names, depth+1)
	}
}

func clip(s string) string {
	if len(s) > maxDataValueLen {
		return s[:maxDataValueLen]
	}
	return s
}

// eventFromTree maps an <Event> element to an Event.
func eventFromTree(root *node) (Event, error) {
	if root == nil || !strings.EqualFold(root.name, "Event") {
		return Event{}, fmt.Errorf("%w: no <Event> element", ErrMalformed)
	}
	sys := root.child("System")
	if sys == nil {
		return Event{}, fmt.Errorf("%w: no <System> element", ErrMalformed)
	}
	var e Event
	if p := sys.child("Provider"); p != nil {
		e.Provider = p.attr("Name")
		if e.Provider == "" {
			e.Provider = p.attr("EventSourceName")
		}
	}
	id, err := strconv.ParseUint(sys.textOf("EventID"), 10, 32)
	if err != nil {
		return Event{}, fmt.Errorf("%w: EventID %q", ErrMalformed, sys.textOf("EventID"))
	}
	// Classic providers put the severity and facility in the top 16 bits
	// of the ID (Qualifiers); the ID the admin sees is the low 16.
	e.ID = uint32(id) & 0xffff
	if lv, err := strconv.ParseUint(sys.textOf("Level"), 10, 8); err == nil {
		e.Level = uint8(lv)
	}
	if tc := sys.child("TimeCreated"); tc != nil {
		if t, err := time.Parse(time.RFC3339Nano, tc.attr("SystemTime")); err == nil {
			e.Time = t.UTC()
		}
	}
	e.RecordID, _ = strconv.ParseUint(sys.textOf("EventRecordID"), 10, 64)
	e.Channel = sys.textOf("Channel")
	e.Computer = sys.textOf("Computer")
	if ed := root.child("EventData"); ed != nil {
		for _, d := range ed.children {
			if len(e.Data) >= maxDataValues {
				break
			}
			if strings.EqualFold(d.name, "Data") {
				e.Data = append(e.Data, clip(strings.TrimRight(d.text.String(), "\x00")))
				e.DataNames = append(e.DataNames, d.attr("Name"))
			}
		}
	} else if ud := root.child("UserData"); ud != nil {
		ud.leaves(&e.Data, &e.DataNames, 0)
	}
	return e, nil
}
