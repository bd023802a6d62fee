package clixml

// Records flattens the top-level values of a document into the objects
// they hold: Export-Clixml writes one <Obj> per pipeline object, and
// Export-Clixml -InputObject $array one <Obj> carrying a list.
func Records(vs []*Value) []*Value {
	var out []*Value
	for _, v := range vs {
		if v == nil {
			continue
		}
		if v.Kind == Object && v.IsList && len(v.Props) == 0 {
			for _, it := range v.Items {
				if it != nil && it.Kind == Object {
					out = append(out, it)
				}
			}
			continue
		}
		if v.Kind == Object {
			out = append(out, v)
		}
	}
	return out
}

// JSON renders a record as the JSON-like value ConvertTo-Json would give
// for the same object at depth 1: its properties (adapted, then extended;
// the first of a name wins) with every nested object reduced to its
// ToString, except lists (arrays) and dictionaries (objects); enums become
// their names. Package exchange reads inventories in that shape.
//
// References (<Ref>) may share or even cycle: a value already being
// rendered on the current path renders as null, and the whole rendering is
// bounded (maxRendered values), so a hostile document of references cannot
// blow up.
func (v *Value) JSON() map[string]any {
	out := map[string]any{}
	if v == nil {
		return out
	}
	r := &renderer{path: map[*Value]bool{v: true}}
	for _, p := range v.Props {
		if _, ok := out[p.Name]; ok || p.Name == "" {
			continue
		}
		out[p.Name] = r.nested(p.Value, 0)
	}
	return out
}

const maxRendered = 100_000

type renderer struct {
	path map[*Value]bool
	n    int
}

func (r *renderer) nested(v *Value, depth int) any {
	r.n++
	if v == nil || depth > 32 || r.n > maxRendered || r.path[v] {
		return nil
	}
	if v.Kind == Object {
		r.path[v] = true
		defer delete(r.path, v)
	}
	switch v.Kind {
	case Nil:
		return nil
	case Bool:
		return v.Bool
	case Int:
		return v.Int
	case Float:
		return v.Float
	case String, Time, Bytes:
		return v.Text
	}
	switch {
	case v.IsList:
		items := make([]any, 0, len(v.Items))
		for _, it := range v.Items {
			items = append(items, r.nested(it, depth+1))
		}
		return items
	case len(v.Dict) > 0:
		m := map[string]any{}
		for _, e := range v.Dict {
			m[e.Key.Str()] = r.nested(e.Value, depth+1)
		}
		return m
	case v.Text != "":
		return v.Text
	case v.Inner != nil:
		return r.nested(v.Inner, depth+1)
	case len(v.Props) > 0:
		m := map[string]any{}
		for _, p := range v.Props {
			if _, ok := m[p.Name]; !ok {
				m[p.Name] = r.nested(p.Value, depth+1)
			}
		}
		return m
	}
	return nil
}
