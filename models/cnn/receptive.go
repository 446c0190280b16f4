package cnn

import (
	"fmt"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/ops"
)

// ReceptiveField describes which input pixels one output unit of a layer
// depends on, in the coordinates of the model's input image (row 0, column 0
// at the top left). Pairs are (rows, columns).
//
// While the layer's output is still a feature map, unit (i, j) of every map
// sees the input rectangle with top-left corner
//
//	(Start[0] + i·Jump[0], Start[1] + j·Jump[1])
//
// and size Size. With zero padding Start can be negative and the rectangle
// can reach past the image: Size counts the padded positions too, so units
// at the border see fewer real pixels.
//
// A layer that mixes all positions (Dense, Softmax) has units that each
// depend on every pixel any unit before it saw: Size and Start then give the
// bounding box of those pixels, clipped to the image, Jump is zero, and
// Global reports whether that box is the whole image.
type ReceptiveField struct {
	Layer  int         `json:"layer"`  // index in Model.Layers
	Name   string      `json:"name"`   // resolved layer name, e.g. "conv1"
	Kind   string      `json:"kind"`   // layer kind, e.g. "conv"
	Output graph.Shape `json:"output"` // per-sample output shape

	Size  [2]int `json:"size"`  // extent of one unit's field in input pixels
	Jump  [2]int `json:"jump"`  // input pixels between adjacent units of a map; 0 once positions are mixed
	Start [2]int `json:"start"` // top-left input pixel of the field of unit (0, 0); negative with padding

	// Flat is set from Flatten (or Reshape) on: the output is a vector
	// whose elements are copies of the units of the last feature map, so
	// each element keeps that unit's field but there is no grid any more.
	Flat bool `json:"flat"`
	// Mixed is set from the first layer that mixes all positions (Dense,
	// Softmax) on: every unit depends on all units before it.
	Mixed bool `json:"mixed"`
	// Global is set when the field of every unit of the layer contains the
	// whole input image.
	Global bool `json:"global"`
}

// Center returns the input coordinates of the centre of unit (0, 0)'s field.
func (r ReceptiveField) Center() [2]float64 {
	return [2]float64{
		float64(r.Start[0]) + float64(r.Size[0]-1)/2,
		float64(r.Start[1]) + float64(r.Size[1]-1)/2,
	}
}

// String formats the field as "conv1: 5×5, jump 1×1, start (0, 0)" or, for
// a layer whose units see the whole image, "dense1: whole 28×28 input".
func (r ReceptiveField) String() string {
	switch {
	case r.Global && r.Mixed:
		return fmt.Sprintf("%s: whole %d×%d input", r.Name, r.Size[0], r.Size[1])
	case r.Mixed:
		return fmt.Sprintf("%s: all units before it, rows %d–%d, columns %d–%d", r.Name,
			r.Start[0], r.Start[0]+r.Size[0]-1, r.Start[1], r.Start[1]+r.Size[1]-1)
	}
	whole := ""
	if r.Global {
		whole = " (whole input)"
	}
	return fmt.Sprintf("%s: %d×%d%s, jump %d×%d, start (%d, %d)", r.Name, r.Size[0], r.Size[1], whole,
		r.Jump[0], r.Jump[1], r.Start[0], r.Start[1])
}

// ReceptiveFields returns the receptive field of one output unit of each
// layer of m, a model of image input (C, H, W), computed from the layers'
// windows. A convolution or pooling window of size k, stride s and padding p
// applied to units with field size r, jump j and start a gives
//
//	r' = r + (k−1)·d·j,   j' = j·s,   a' = a − p·j
//
// along rows and columns separately, d being the window's dilation.
// Elementwise layers (activations, Dropout, Linear, BatchNorm) keep the
// field; Flatten and Reshape keep each element's field but end the grid;
// Dense, Softmax and GlobalAvgPool2D mix all positions (see
// ReceptiveField). Other layers are accepted only after positions have been
// mixed, where they cannot widen a field that is already everything before
// them; before that ReceptiveFields returns an error naming the layer.
func ReceptiveFields(m *graph.Model) ([]ReceptiveField, error) {
	if len(m.Inputs()) != 1 || len(m.Inputs()[0]) != 3 {
		return nil, errors.Errorf("cnn: receptive fields need one image input (C, H, W), model inputs are %v", m.Inputs())
	}
	input := m.Inputs()[0]
	h, w := input[1], input[2]
	// The input pixels themselves: fields of 1×1, one pixel apart, on an
	// h×w grid.
	cur := ReceptiveField{Size: [2]int{1, 1}, Jump: [2]int{1, 1}}
	grid := [2]int{h, w}
	layers := m.Layers()
	out := make([]ReceptiveField, 0, len(layers))
	for i, li := range layers {
		l, shape := li.Layer, li.Out
		if len(li.In) != 1 || (i > 0 && li.Inputs[0] != layers[i-1].Name) {
			return nil, errors.Errorf("cnn: receptive field of layer %d (%s): the model is not a chain", i, li.Name)
		}
		next := cur
		next.Layer, next.Name, next.Kind, next.Output = i, li.Name, l.Kind(), shape
		fail := func(format string, args ...any) error {
			return errors.Errorf("cnn: receptive field of layer %d (%s): %s", i, next.Name, fmt.Sprintf(format, args...))
		}
		var win *ops.Window
		switch l := l.(type) {
		case graph.Conv2D:
			win = &l.Window
			if l.Dilation > 1 {
				win.DH, win.DW = l.Dilation, l.Dilation
			}
		case graph.MaxPool2D:
			win = &l.Window
		case graph.AvgPool2D:
			win = &l.Window
		case graph.ReLU, graph.Sigmoid, graph.Tanh, graph.Linear, graph.Dropout,
			graph.LeakyReLU, graph.ELU, graph.GELU, graph.SiLU, graph.Softplus, graph.BatchNorm:
			// elementwise: unit (i, j) depends on unit (i, j) only
		case graph.Flatten, graph.Reshape:
			if !cur.Mixed {
				if len(shape) != 1 {
					return nil, fail("a reshape to %v does not keep positions", shape)
				}
				next.Flat = true
			}
		case graph.Dense, graph.Softmax, graph.GlobalAvgPool2D:
			next = mix(next, grid, h, w)
			grid = [2]int{1, 1}
		default:
			if !cur.Mixed {
				return nil, fail("unknown for layer type %T", l)
			}
		}
		if win != nil {
			if cur.Flat || cur.Mixed || len(shape) != 3 {
				return nil, fail("window %v applied to a layer that is not a feature map", *win)
			}
			dh, dw := win.Dilation()
			k := [2]int{(win.KH-1)*dh + 1, (win.KW-1)*dw + 1} // the dilated extent
			s := [2]int{win.SH, win.SW}
			p := [2]int{win.PH, win.PW}
			for a := range 2 {
				next.Size[a] = cur.Size[a] + (k[a]-1)*cur.Jump[a]
				next.Start[a] = cur.Start[a] - p[a]*cur.Jump[a]
				next.Jump[a] = cur.Jump[a] * s[a]
			}
			grid = [2]int{shape[1], shape[2]}
			next.Global = covers(next, grid, h, w)
		}
		out = append(out, next)
		cur = next
	}
	return out, nil
}

// mix returns the field of a unit that depends on all units of a grid of
// fields like r: the bounding box of their union, clipped to the h×w image.
func mix(r ReceptiveField, grid [2]int, h, w int) ReceptiveField {
	if r.Mixed {
		return r
	}
	lim := [2]int{h, w}
	for a := range 2 {
		lo := r.Start[a]
		hi := r.Start[a] + (grid[a]-1)*r.Jump[a] + r.Size[a] // exclusive
		lo, hi = max(lo, 0), min(hi, lim[a])
		r.Start[a], r.Size[a], r.Jump[a] = lo, hi-lo, 0
	}
	r.Flat, r.Mixed = true, true
	r.Global = r.Start == [2]int{} && r.Size == [2]int{h, w}
	return r
}

// covers reports whether the field of every unit of a grid of fields like r
// contains the whole h×w image: the last unit's field starts at or before
// the image's first row and column, and the first unit's ends at or after its
// last ones.
func covers(r ReceptiveField, grid [2]int, h, w int) bool {
	lim := [2]int{h, w}
	for a := range 2 {
		lastStart := r.Start[a] + (grid[a]-1)*r.Jump[a]
		if lastStart > 0 || r.Start[a]+r.Size[a] < lim[a] {
			return false
		}
	}
	return true
}
