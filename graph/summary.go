package graph

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SummaryRow describes one layer of a model.
type SummaryRow struct {
	Index   int
	Name    string // resolved layer name, e.g. "conv1"
	Kind    string // layer type, e.g. "conv"
	Output  Shape  // per-sample output shape
	Weights int64  // learnable weights (non-bias parameters)
	Biases  int64  // learnable biases
	MACs    int64  // multiply-accumulates per sample, forward pass
}

// Params returns the row's parameter count, weights plus biases.
func (r SummaryRow) Params() int64 { return r.Weights + r.Biases }

// Summary tabulates a model layer by layer, with totals.
type Summary struct {
	Input Shape
	Rows  []SummaryRow
	// Totals over all rows.
	Weights, Biases, MACs int64
}

// Params returns the total parameter count.
func (s Summary) Params() int64 { return s.Weights + s.Biases }

// Summary returns the model's layer table.
func (m *Model) Summary() Summary {
	s := Summary{Input: m.Input.Clone()}
	for i, l := range m.Layers {
		info := m.info[i]
		r := SummaryRow{Index: i, Name: info.name, Kind: l.Kind(), Output: info.out.Clone()}
		for _, j := range info.params {
			p := m.params[j]
			if p.Spec.Bias {
				r.Biases += int64(p.Value.Size())
			} else {
				r.Weights += int64(p.Value.Size())
			}
		}
		if mc, ok := l.(MACer); ok {
			r.MACs = mc.MACs(info.in)
		}
		s.Rows = append(s.Rows, r)
		s.Weights += r.Weights
		s.Biases += r.Biases
		s.MACs += r.MACs
	}
	return s
}

// String renders the summary as an aligned text table: names left-aligned,
// numbers right-aligned, no trailing spaces.
func (s Summary) String() string {
	rows := [][]string{{"#", "layer", "output", "weights", "biases", "MACs"}, {"", "input", fmt.Sprint(s.Input), "", "", ""}}
	for _, r := range s.Rows {
		rows = append(rows, []string{fmt.Sprint(r.Index), r.Name, fmt.Sprint(r.Output), group(r.Weights), group(r.Biases), group(r.MACs)})
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
			if c == 1 {
				line.WriteString(cell + pad) // names left-aligned
			} else {
				line.WriteString(pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "parameters: %s\n", group(s.Params()))
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
