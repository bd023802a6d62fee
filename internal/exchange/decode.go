package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// This file holds a small path-tracking JSON reader. It exists because the
// inventory format must accept what PowerShell's ConvertTo-Json emits for
// Exchange objects (enums as ints or strings, multi-valued properties as
// arrays of strings or of objects, single values where an array is expected)
// while still rejecting wrong types with an error that names the field
// (for example `SendConnectors[2].RequireTLS`). encoding/json cannot annotate
// errors returned from custom UnmarshalJSON methods with the field path.

// jnode is one JSON value and the path that led to it.
type jnode struct {
	path string
	raw  json.RawMessage
}

// jobject is a decoded JSON object with case-insensitive key lookup, because
// PowerShell property names are case-insensitive and hand-written files vary.
type jobject struct {
	path   string
	fields map[string]json.RawMessage // keys lower-cased
}

func (n jnode) kind() byte {
	b := bytes.TrimLeft(n.raw, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func kindName(k byte) string {
	switch k {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case 0:
		return "nothing"
	default:
		return "number"
	}
}

func (n jnode) isNull() bool { k := n.kind(); return k == 'n' || k == 0 }

func (n jnode) typeErr(want string) error {
	return fmt.Errorf("%w: %s: expected %s, got %s", ErrInvalidConfig, n.path, want, kindName(n.kind()))
}

func (n jnode) object() (jobject, error) {
	if n.kind() != '{' {
		return jobject{}, n.typeErr("object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(n.raw, &m); err != nil {
		return jobject{}, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, n.path, err)
	}
	o := jobject{path: n.path, fields: make(map[string]json.RawMessage, len(m))}
	for k, v := range m {
		o.fields[strings.ToLower(k)] = v
	}
	return o, nil
}

// str returns a JSON string; null gives "".
func (n jnode) str() (string, error) {
	switch n.kind() {
	case 'n', 0:
		return "", nil
	case '"':
		var s string
		if err := json.Unmarshal(n.raw, &s); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrInvalidConfig, n.path, err)
		}
		return s, nil
	}
	return "", n.typeErr("string")
}

// boolean accepts true/false, null (def), and the strings "True"/"False"
// (some exporters stringify everything).
func (n jnode) boolean(def bool) (bool, error) {
	switch n.kind() {
	case 'n', 0:
		return def, nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(n.raw, &b); err != nil {
			return false, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, n.path, err)
		}
		return b, nil
	case '"':
		s, err := n.str()
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "$true":
			return true, nil
		case "false", "$false", "":
			return false, nil
		}
		return false, fmt.Errorf("%w: %s: expected boolean, got string %q", ErrInvalidConfig, n.path, s)
	}
	return false, n.typeErr("boolean")
}

// integer accepts a JSON number (integral) or a numeric string.
func (n jnode) integer() (int64, bool, error) {
	switch n.kind() {
	case 'n', 0:
		return 0, false, nil
	case '"':
		s, err := n.str()
		if err != nil {
			return 0, false, err
		}
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%w: %s: expected integer, got string %q", ErrInvalidConfig, n.path, s)
		}
		return v, true, nil
	case '{', '[', 't', 'f':
		return 0, false, n.typeErr("integer")
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(n.raw)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %s: expected integer, got %s", ErrInvalidConfig, n.path, strings.TrimSpace(string(n.raw)))
	}
	return v, true, nil
}

// list returns the elements of an array. null gives no elements; a single
// non-array value is treated as a one-element list (ConvertTo-Json unrolls
// one-element collections); the Windows PowerShell 5.1 wrapper
// {"value":[...],"Count":n} is unwrapped.
func (n jnode) list() ([]jnode, error) {
	switch n.kind() {
	case 'n', 0:
		return nil, nil
	case '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(n.raw, &raws); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalidConfig, n.path, err)
		}
		out := make([]jnode, 0, len(raws))
		for i, r := range raws {
			out = append(out, jnode{path: fmt.Sprintf("%s[%d]", n.path, i), raw: r})
		}
		return out, nil
	case '{':
		o, err := n.object()
		if err != nil {
			return nil, err
		}
		if v, ok := o.get("value"); ok && v.kind() == '[' {
			if _, hasCount := o.fields["count"]; hasCount && len(o.fields) == 2 {
				return v.list()
			}
		}
	}
	return []jnode{n}, nil
}

func (o jobject) get(key string) (jnode, bool) {
	raw, ok := o.fields[strings.ToLower(key)]
	if !ok {
		return jnode{path: o.child(key)}, false
	}
	return jnode{path: o.child(key), raw: raw}, true
}

func (o jobject) child(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// firstOf returns the first present, non-null field among keys.
func (o jobject) firstOf(keys ...string) (jnode, bool) {
	for _, k := range keys {
		if n, ok := o.get(k); ok && !n.isNull() {
			return n, true
		}
	}
	return jnode{}, false
}

// text reads the field key with read when it is present and not null;
// otherwise it is "".
func (o jobject) text(key string, read func(jnode) (string, error)) (string, error) {
	n, ok := o.firstOf(key)
	if !ok {
		return "", nil
	}
	return read(n)
}

func (o jobject) str(key string) (string, error) {
	n, _ := o.get(key)
	s, err := n.str()
	return strings.TrimSpace(s), err
}

func (o jobject) boolean(key string, def bool) (bool, error) {
	n, _ := o.get(key)
	return n.boolean(def)
}
