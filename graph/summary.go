package graph

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SummaryRow describes one layer application of a model.
type SummaryRow struct {
	Index   int
	Name    string   // the layer's path, e.g. "conv1" or "block2/conv1"
	Kind    string   // layer type, e.g. "conv"
	Inputs  []string // the values it reads: "input", "input2" or layer paths
	Output  Shape    // per-sample output shape
	Weights int64    // learnable weights (non-bias parameters); 0 for a shared application
	Biases  int64    // learnable biases; 0 for a shared application
	MACs    int64    // multiply-accumulates per sample, forward pass
	Shared  bool     // the layer's weights are counted at an earlier application
}

// Params returns the row's parameter count, weights plus biases.
func (r SummaryRow) Params() int64 { return r.Weights + r.Biases }

// Summary tabulates a model layer by layer, with totals.
type Summary struct {
	Inputs  []Shape
	Outputs []string // the values the model returns
	Rows    []SummaryRow
	// Totals over all rows.
	Weights, Biases, MACs int64
	// State counts the values of the state tensors (ParamSpec.State, such
	// as batch normalisation's running statistics), which are not learnt.
	State int64
	chain bool // every layer reads the one before: no inputs column
}

// Params returns the total parameter count.
func (s Summary) Params() int64 { return s.Weights + s.Biases }

// Summary returns the model's layer table: every layer application with
// the values it reads, its output shape, its parameters (counted once when
// weights are shared) and its multiply-accumulates.
func (m *Model) Summary() Summary {
	s := Summary{Inputs: m.Inputs(), chain: len(m.inputs) == 1 && len(m.outputs) == 1}
	for _, v := range m.outputs {
		s.Outputs = append(s.Outputs, m.valueName(v))
	}
	for i, li := range m.Layers() {
		r := SummaryRow{Index: i, Name: li.Name, Kind: li.Layer.Kind(), Inputs: li.Inputs, Output: li.Out, Shared: li.Shared}
		if !li.Shared {
			for _, p := range li.Params {
				if p.Spec.State {
					s.State += int64(p.Value.Size())
					continue
				}
				if p.Spec.Bias {
					r.Biases += int64(p.Value.Size())
				} else {
					r.Weights += int64(p.Value.Size())
				}
			}
		}
		if mc, ok := li.Layer.(MACer); ok && len(li.In) > 0 {
			r.MACs = mc.MACs(li.In[0])
		}
		if n := m.layers[i]; len(n.in) != 1 || n.in[0] != n.out-1 {
			s.chain = false
		}
		s.Rows = append(s.Rows, r)
		s.Weights += r.Weights
		s.Biases += r.Biases
		s.MACs += r.MACs
	}
	if s.chain && len(m.outputs) == 1 && m.outputs[0] != len(m.values)-1 {
		s.chain = false
	}
	return s
}

// String renders the summary as an aligned text table: names left-aligned,
// numbers right-aligned, no trailing spaces.
func (s Summary) String() string {
	rows := [][]string{{"#", "layer", "output", "weights", "biases", "MACs"}}
	if !s.chain {
		rows[0] = append(rows[0], "inputs")
	}
	for i, in := range s.Inputs {
		name := "input"
		if i > 0 {
			name = fmt.Sprintf("input%d", i+1)
		}
		rows = append(rows, []string{"", name, fmt.Sprint(in), "", "", ""})
	}
	for _, r := range s.Rows {
		w, b := group(r.Weights), group(r.Biases)
		if r.Shared {
			w, b = "shared", "shared"
		}
		row := []string{fmt.Sprint(r.Index), r.Name, fmt.Sprint(r.Output), w, b, group(r.MACs)}
		if !s.chain {
			row = append(row, strings.Join(r.Inputs, ", "))
		}
		rows = append(rows, row)
	}
	rows = append(rows, []string{"", "total", "", group(s.Weights), group(s.Biases), group(s.MACs)})
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for c, cell := range r {
			width[c] = max(width[c], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		var line strings.Builder
		for c, cell := range r {
			pad := strings.Repeat(" ", width[c]-utf8.RuneCountInString(cell))
			if c > 0 {
				line.WriteString("  ")
			}
			if c == 1 || c == 6 {
				line.WriteString(cell + pad) // names left-aligned
			} else {
				line.WriteString(pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	if !s.chain {
		fmt.Fprintf(&b, "outputs: %s\n", strings.Join(s.Outputs, ", "))
	}
	fmt.Fprintf(&b, "parameters: %s\n", group(s.Params()))
	if s.State > 0 {
		fmt.Fprintf(&b, "state: %s values, not learnt\n", group(s.State))
	}
	return b.String()
}

// group formats n with thousands separators: 79400 → "79,400".
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
