package graph

import (
	"fmt"
	"strings"
)

// Dot returns the model's layer graph in Graphviz DOT (render it with
// `dot -Tsvg`): a box per input and per layer application, labelled with
// its path, kind, output shape, parameters and MACs, and an edge from every
// value to each layer that reads it. Outputs are drawn with a double border.
func (m *Model) Dot() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n\trankdir=TB;\n\tnode [shape=box, fontname=\"Helvetica\"];\n", m.name)
	isOutput := map[int]bool{}
	for _, v := range m.outputs {
		isOutput[v] = true
	}
	style := func(v int) string {
		if isOutput[v] {
			return ", peripheries=2"
		}
		return ""
	}
	for i, in := range m.inputs {
		fmt.Fprintf(&b, "\tv%d [label=%q, style=rounded%s];\n", i, fmt.Sprintf("%s\n%v", m.valueName(i), in), style(i))
	}
	s := m.Summary()
	for i, n := range m.layers {
		r := s.Rows[i]
		params := group(r.Params())
		if r.Shared {
			params = "shared"
		}
		label := fmt.Sprintf("%s (%s)\n%v\nparams %s, MACs %s", n.name, r.Kind, r.Output, params, group(r.MACs))
		fmt.Fprintf(&b, "\tv%d [label=%q%s];\n", n.out, label, style(n.out))
		for _, v := range n.in {
			fmt.Fprintf(&b, "\tv%d -> v%d;\n", v, n.out)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
