package main

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
)

// box is a rectangle of input pixels, rows R0…R1 and columns C0…C1
// inclusive; Empty when no pixel is in it.
type box struct {
	R0    int  `json:"row_first"`
	R1    int  `json:"row_last"`
	C0    int  `json:"col_first"`
	C1    int  `json:"col_last"`
	Empty bool `json:"empty"`
}

func (b box) String() string {
	if b.Empty {
		return "none"
	}
	return fmt.Sprintf("rows %d–%d, cols %d–%d", b.R0, b.R1, b.C0, b.C1)
}

// fieldBox returns the input pixels in the field of unit (i, j) of a layer,
// clipped to the h×w image.
func fieldBox(f cnn.ReceptiveField, i, j, h, w int) box {
	r0, c0 := f.Start[0]+i*f.Jump[0], f.Start[1]+j*f.Jump[1]
	b := box{R0: max(r0, 0), R1: min(r0+f.Size[0], h) - 1, C0: max(c0, 0), C1: min(c0+f.Size[1], w) - 1}
	b.Empty = b.R0 > b.R1 || b.C0 > b.C1
	return b
}

// contains reports whether pixel (r, c) lies in b.
func (b box) contains(r, c int) bool {
	return !b.Empty && r >= b.R0 && r <= b.R1 && c >= b.C0 && c <= b.C1
}

// influence is what perturbing single pixels did to one unit of a layer.
type influence struct {
	Unit    [2]int `json:"unit"`             // map position probed (0, 0 once mixed)
	Changed int    `json:"pixels_changing"`  // pixels whose flip changed the unit in some map
	Box     box    `json:"box"`              // bounding box of those pixels
	Outside int    `json:"outside_computed"` // of those, how many lie outside the computed field
}

// probe flips each input pixel of x (v → 1 − v), one at a time, runs m on
// all the copies at once, and reports, for each listed layer, which pixels
// change the units at map position unit[k] (any map), or any unit at all
// for layers whose positions are mixed.
func probe(m *graph.Model, x plane, layers []int, units [][2]int, fields []cnn.ReceptiveField) ([]influence, error) {
	n := x.H*x.W + 1
	batch := make([]float32, 0, n*len(x.V))
	batch = append(batch, x.V...)
	for p := range x.V {
		batch = append(batch, x.V...)
		batch[len(batch)-len(x.V)+p] = 1 - x.V[p]
	}
	acts, err := activations(m, batch, n, layers...)
	if err != nil {
		return nil, errors.Wrap(err, "probing receptive fields")
	}
	out := make([]influence, len(layers))
	for k, l := range layers {
		shape := m.Layers()[l].Out
		size := shape.TotalSize()
		f := fields[l]
		var watch []int // indices, within one sample, of the watched units
		if f.Mixed || len(shape) != 3 {
			for u := range size {
				watch = append(watch, u)
			}
		} else {
			for c := range shape[0] {
				watch = append(watch, (c*shape[1]+units[k][0])*shape[2]+units[k][1])
			}
		}
		in := influence{Unit: units[k], Box: box{R0: x.H, C0: x.W, R1: -1, C1: -1, Empty: true}}
		want := fieldBox(f, units[k][0], units[k][1], x.H, x.W)
		base := acts[k][:size]
		for p := range x.V {
			got := acts[k][(p+1)*size : (p+2)*size]
			changed := false
			for _, u := range watch {
				if got[u] != base[u] {
					changed = true
					break
				}
			}
			if !changed {
				continue
			}
			r, c := p/x.W, p%x.W
			in.Changed++
			in.Box = box{R0: min(in.Box.R0, r), R1: max(in.Box.R1, r), C0: min(in.Box.C0, c), C1: max(in.Box.C1, c)}
			if !want.contains(r, c) {
				in.Outside++
			}
		}
		out[k] = in
	}
	return out, nil
}

// fieldRow is one row of section 6's table.
type fieldRow struct {
	cnn.ReceptiveField
	Computed  box        `json:"computed_box"`
	Fraction  float64    `json:"fraction_of_image"`
	Influence *influence `json:"measured,omitempty"`
}

// reportFields writes section 6: the receptive fields of the trained
// LeNet's layers, computed by cnn.ReceptiveFields and checked by flipping
// pixels of a test digit.
func reportFields(r *report, m *graph.Model, test *datasets.Set, digit int) ([]fieldRow, error) {
	fs, err := cnn.ReceptiveFields(m)
	if err != nil {
		return nil, err
	}
	h, w := m.Inputs()[0][1], m.Inputs()[0][2]
	size := m.Inputs()[0].TotalSize()
	x := plane{V: test.X[digit*size : (digit+1)*size], H: h, W: w}

	// Probe the centre unit of every conv and pool layer, and the first
	// layer that mixes all positions.
	var layers []int
	var units [][2]int
	mixedSeen := false
	for i, f := range fs {
		switch {
		case f.Kind == "conv" || f.Kind == "pool":
			layers = append(layers, i)
			units = append(units, [2]int{f.Output[1] / 2, f.Output[2] / 2})
		case f.Mixed && !mixedSeen:
			mixedSeen = true
			layers = append(layers, i)
			units = append(units, [2]int{})
		}
	}
	infl, err := probe(m, x, layers, units, fs)
	if err != nil {
		return nil, err
	}
	rows := make([]fieldRow, len(fs))
	for i, f := range fs {
		rows[i] = fieldRow{ReceptiveField: f}
		u := [2]int{}
		for k, l := range layers {
			if l == i {
				rows[i].Influence = &infl[k]
				u = units[k]
			}
		}
		rows[i].Computed = fieldBox(f, u[0], u[1], h, w)
		if !rows[i].Computed.Empty {
			b := rows[i].Computed
			rows[i].Fraction = float64((b.R1-b.R0+1)*(b.C1-b.C0+1)) / float64(h*w)
		}
	}

	r.section("6. Sparse interactions: receptive fields")
	r.para("**Lecture (slides 6, 7, 16, 17).** Each hidden neuron sees only a 5×5 region of the input (its receptive " +
		"field); through the deep architecture the fields of later neurons grow to many or all input pixels.")
	r.para("**Retina.** `cnn.ReceptiveFields` on LeNet, from the layer windows (r' = r + (k−1)·jump, jump' = jump·stride). "+
		"Size, jump and start are in input pixels (rows × columns); start is the top-left pixel of unit (0, 0)'s field. "+
		"To check the computation, each of the %d pixels of test digit #%d was flipped (v → 1 − v) in turn and the "+
		"trained LeNet run on all %d copies: *measured* is the box of pixels whose flip changed the unit at the centre "+
		"of the map (in any of its maps; for dense1, any unit), and *outside* counts those that lie outside the "+
		"computed field of that unit.", size, digit, size+1)
	var tab [][]string
	for _, row := range rows {
		f := row.ReceptiveField
		field, jump, start := fmt.Sprintf("%d×%d", f.Size[0], f.Size[1]), fmt.Sprintf("%d×%d", f.Jump[0], f.Jump[1]),
			fmt.Sprintf("(%d, %d)", f.Start[0], f.Start[1])
		switch {
		case f.Mixed && f.Global:
			field, jump, start = fmt.Sprintf("whole %d×%d image", f.Size[0], f.Size[1]), "–", "–"
		case f.Mixed:
			field, jump, start = fmt.Sprintf("%d×%d of the image", f.Size[0], f.Size[1]), "–", "–"
		case f.Flat:
			field += " (per element)"
		}
		probed, computed, measured, outside := "", "", "", ""
		if in := row.Influence; in != nil {
			probed = fmt.Sprintf("(%d, %d)", in.Unit[0], in.Unit[1])
			if f.Mixed {
				probed = "all"
			}
			computed = row.Computed.String()
			measured = fmt.Sprintf("%s (%d px)", in.Box, in.Changed)
			outside = fmt.Sprint(in.Outside)
		}
		tab = append(tab, []string{f.Name, fmt.Sprint(f.Output), field, jump, start, pct(row.Fraction),
			probed, computed, measured, outside})
	}
	r.table([]string{"layer", "output", "field", "jump", "start", "of image", "unit", "computed field of unit",
		"measured", "outside"}, tab)

	var first, lastMap *fieldRow // the first conv layer, the last feature map
	outside := 0
	for i := range rows {
		if rows[i].Influence != nil {
			outside += rows[i].Influence.Outside
		}
		if first == nil && rows[i].Kind == "conv" {
			first = &rows[i]
		}
		if !rows[i].Flat {
			lastMap = &rows[i]
		}
	}
	last := &rows[len(rows)-1]
	if first == nil || lastMap == nil {
		return rows, errors.New("the model has no convolution")
	}
	word := verdictAgrees
	if !(first.Fraction < 1 && last.Global && outside == 0) {
		word = verdictPartly
	}
	r.verdict(word, "A conv1 unit sees %d×%d = %d of the %d pixels (%s); the fields grow layer by layer to %s for "+
		"%s, and from %s on every unit depends on the whole image. Of the pixel flips that changed a probed unit, "+
		"%d lay outside its computed field.", first.Size[0], first.Size[1], first.Size[0]*first.Size[1], size,
		pct(first.Fraction), fmt.Sprintf("%d×%d", lastMap.Size[0], lastMap.Size[1]), lastMap.Name, firstGlobal(rows), outside)
	return rows, nil
}

// firstGlobal names the first layer whose units see the whole image.
func firstGlobal(rows []fieldRow) string {
	for _, r := range rows {
		if r.Global {
			return r.Name
		}
	}
	return "no layer"
}
