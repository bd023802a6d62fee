package eventlog

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
)

const (
	maxDepth    = 32
	maxNodes    = 20000
	maxXMLBytes = 1 << 20
)

// ParseXML parses one event as EvtRender(EvtRenderEventXml) renders it.
func ParseXML(b []byte) (Event, error) {
	if len(b) > maxXMLBytes {
		return Event{}, fmt.Errorf("%w: rendered event of %d bytes", ErrMalformed, len(b))
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []*node
	var root *node
	nodes := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes++
			if len(stack) >= maxDepth || nodes > maxNodes {
				return Event{}, fmt.Errorf("%w: XML too deep or too large", ErrMalformed)
			}
			n := &node{name: t.Name.Local}
			for _, a := range t.Attr {
				n.attrs = append(n.attrs, attr{a.Name.Local, a.Value})
			}
			if len(stack) == 0 {
				if root != nil {
					return Event{}, fmt.Errorf("%w: more than one root element", ErrMalformed)
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			if len(stack) > 0 {
				if n := stack[len(stack)-1]; n.text.Len() < maxDataValueLen {
					n.text.Write(t)
				}
			}
		}
	}
	return eventFromTree(root)
}
