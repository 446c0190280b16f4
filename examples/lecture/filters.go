package main

import (
	"fmt"
	"image"
	"math"
	"path/filepath"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// activations runs m in evaluation mode on the n samples in x (n times the
// model's input size, back to back) and returns a copy of the output of
// each layer asked for, n samples back to back.
func activations(m *graph.Model, x []float32, n int, layers ...int) ([][]float32, error) {
	if want := n * m.Inputs()[0].TotalSize(); len(x) != want {
		return nil, errors.Errorf("activations: %d values for %d samples of %v, want %d", len(x), n, m.Inputs()[0], want)
	}
	g := G.NewGraph()
	in := m.NewInputs(g, n)
	b, err := m.Build(g, in, graph.Eval)
	if err != nil {
		return nil, errors.Wrap(err, "activations")
	}
	t := tensor.New(tensor.WithShape(in[0].Shape().Clone()...), tensor.WithBacking(append([]float32(nil), x...)))
	if err := G.Let(in[0], t); err != nil {
		return nil, errors.Wrap(err, "activations: binding the input")
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return nil, errors.Wrap(err, "activations")
	}
	out := make([][]float32, len(layers))
	for k, l := range layers {
		if l < 0 || l >= len(b.Layers) {
			return nil, errors.Errorf("activations: no layer %d", l)
		}
		data, ok := b.Layers[l].Value().Data().([]float32)
		if !ok {
			return nil, errors.Errorf("activations: layer %d holds %T", l, b.Layers[l].Value().Data())
		}
		out[k] = append([]float32(nil), data...) // the op reuses its buffer
	}
	return out, nil
}

// layerIndex returns the index of the layer called name.
func layerIndex(m *graph.Model, name string) (int, error) {
	for i := range m.Layers() {
		if m.Layers()[i].Name == name {
			return i, nil
		}
	}
	return 0, errors.Errorf("model has no layer %q", name)
}

// lenetLayers are the indices of LeNet's first convolution, its ReLU and
// the first pooling layer.
type lenetLayers struct{ conv, relu, pool int }

func findLeNetLayers(m *graph.Model) (lenetLayers, error) {
	var l lenetLayers
	var err error
	for _, x := range []struct {
		name string
		dst  *int
	}{{"conv1", &l.conv}, {"relu1", &l.relu}, {"pool1", &l.pool}} {
		if *x.dst, err = layerIndex(m, x.name); err != nil {
			return l, err
		}
	}
	return l, nil
}

// filterMatch describes how well one filter matches the patches of an image.
type filterMatch struct {
	Filter      int     `json:"filter"`
	MaxResponse float32 `json:"max_response"`    // largest conv1 output (before ReLU)
	At          [2]int  `json:"at"`              // its position (row, column)
	CosAtMax    float64 `json:"cos_at_max"`      // cosine of filter and patch there
	MeanCos     float64 `json:"mean_cos"`        // mean cosine over patches with ink
	Active      float64 `json:"active_fraction"` // fraction of positions > 0 after ReLU
}

// cosine returns the cosine similarity of a and b, and false if either is
// zero.
func cosine(a, b []float32) (float64, bool) {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0, false
	}
	return ab / math.Sqrt(aa*bb), true
}

// patch copies the kh×kw window of x with top-left corner (i, j).
func patch(x plane, i, j, kh, kw int) []float32 {
	p := make([]float32, 0, kh*kw)
	for r := i; r < i+kh; r++ {
		p = append(p, x.V[r*x.W+j:r*x.W+j+kw]...)
	}
	return p
}

// matchFilters compares each filter with the patches of x, given the
// convolution's output conv (before the activation) for x.
func matchFilters(x plane, filters []plane, conv []plane) []filterMatch {
	out := make([]filterMatch, len(filters))
	for f, w := range filters {
		m := filterMatch{Filter: f, MaxResponse: float32(math.Inf(-1))}
		c := conv[f]
		var sum float64
		var n, active int
		for i := 0; i < c.H; i++ {
			for j := 0; j < c.W; j++ {
				v := c.at(i, j)
				if v > 0 {
					active++
				}
				cos, ok := cosine(w.V, patch(x, i, j, w.H, w.W))
				if ok {
					sum += cos
					n++
				}
				if v > m.MaxResponse {
					m.MaxResponse, m.At, m.CosAtMax = v, [2]int{i, j}, cos
				}
			}
		}
		if n > 0 {
			m.MeanCos = sum / float64(n)
		}
		m.Active = float64(active) / float64(c.H*c.W)
		out[f] = m
	}
	return out
}

// featureMetrics are section 4's figures.
type featureMetrics struct {
	Digit       int           `json:"digit_test_index"`
	Label       int           `json:"digit_label"`
	Filters     []filterMatch `json:"filters"`
	Better      int           `json:"filters_matching_best_at_max"`
	DeadMaps    int           `json:"maps_all_zero"`
	ReLUZero    float64       `json:"conv1_relu_zero_fraction"`
	ConvMax     float32       `json:"conv1_relu_max"`
	PoolShape   []int         `json:"pool1_shape"`
	ConvShape   []int         `json:"conv1_shape"`
	FilterShape []int         `json:"filter_shape"`
}

// reportFeatures writes section 4 and its figures, from the trained LeNet.
func reportFeatures(r *report, dir string, m *graph.Model, test *datasets.Set, digit int) (featureMetrics, error) {
	fm := featureMetrics{Digit: digit, Label: test.Labels[digit]}
	ll, err := findLeNetLayers(m)
	if err != nil {
		return fm, err
	}
	wp := m.Param(m.Layers()[ll.conv].Name + "/W")
	if wp == nil {
		return fm, errors.New("LeNet has no conv1/W")
	}
	ws := wp.Value.Shape() // (maps, channels, kh, kw)
	if len(ws) != 4 || ws[1] != 1 {
		return fm, errors.Errorf("conv1/W has shape %v, want (maps, 1, kh, kw) for gray images", ws)
	}
	fm.FilterShape = ws.Clone()
	wdata, ok := wp.Value.Data().([]float32)
	if !ok {
		return fm, errors.Errorf("conv1/W holds %T", wp.Value.Data())
	}
	nf, kh, kw := ws[0], ws[2], ws[3]
	filters := planes(append([]float32(nil), wdata...), nf, kh, kw)

	size := m.Inputs()[0].TotalSize()
	x := plane{V: test.X[digit*size : (digit+1)*size], H: m.Inputs()[0][1], W: m.Inputs()[0][2]}
	acts, err := activations(m, x.V, 1, ll.conv, ll.relu, ll.pool)
	if err != nil {
		return fm, err
	}
	cs := m.Layers()[ll.conv].Out
	ps := m.Layers()[ll.pool].Out
	fm.ConvShape, fm.PoolShape = cs.Clone(), ps.Clone()
	conv := planes(acts[0], cs[0], cs[1], cs[2])
	relu := planes(acts[1], cs[0], cs[1], cs[2])
	pool := planes(acts[2], ps[0], ps[1], ps[2])

	fm.Filters = matchFilters(x, filters, conv)
	var zeros int
	for k, p := range relu {
		dead := true
		for _, v := range p.V {
			if v == 0 {
				zeros++
			} else {
				dead = false
			}
		}
		if dead {
			fm.DeadMaps++
		}
		if fm.Filters[k].CosAtMax > fm.Filters[k].MeanCos {
			fm.Better++
		}
	}
	fm.ReLUZero = float64(zeros) / float64(len(acts[1]))
	_, fm.ConvMax = extent(relu...)

	// Figures: filters each stretched to [0, 255]; each conv1 map from 0
	// (black) to its own largest value (white), and its pooled map on the
	// same scale, so that every map's pattern shows (its strength is in the
	// table below).
	filterTiles := make([]*image.Gray, nf)
	reluTiles := make([]*image.Gray, nf)
	poolTiles := make([]*image.Gray, nf)
	for k := range nf {
		filterTiles[k] = normalised(filters[k], 12)
		_, top := extent(relu[k])
		reluTiles[k] = grayImage(relu[k], 0, top, 4)
		poolTiles[k] = grayImage(pool[k], 0, top, 8)
	}
	for _, f := range []struct {
		name string
		img  image.Image
	}{
		{"lenet_conv1_filters.png", gridImage(filterTiles, 10, 4, 128)},
		{"digit.png", grayImage(x, 0, 1, 8)},
		{"lenet_conv1_maps.png", gridImage(reluTiles, 10, 4, 128)},
		{"lenet_pool1_maps.png", gridImage(poolTiles, 10, 4, 128)},
	} {
		if err := savePNG(filepath.Join(dir, f.name), f.img); err != nil {
			return fm, err
		}
	}

	r.section("4. What the filters detect")
	r.para("**Lecture (slides 10, 11).** A filter that matches the patch it scans gives a large number, a bad match " +
		"a small one; each feature map extracts a different feature.")
	r.para("**Retina.** The trained LeNet's %d conv1 filters (%d×%d, each stretched to black…white, ×12): "+
		"`lenet_conv1_filters.png` (filters 0–9 on the first row). Test digit #%d (a %d, `digit.png`) through conv1+ReLU (%d maps of %d×%d, "+
		"`lenet_conv1_maps.png`, ×4) and pool1 (%d×%d, `lenet_pool1_maps.png`, ×8), maps in filter order, ten to a "+
		"row; each map from 0 (black) to its own maximum (white, the table's max response when positive), its pooled "+
		"map on the same scale. The strongest activation is %.3f. After the ReLU %.1f%% of the conv1 units are 0 and "+
		"%d of %d maps are entirely 0 for this digit.",
		nf, kh, kw, digit, fm.Label, cs[0], cs[1], cs[2], ps[1], ps[2], fm.ConvMax, 100*fm.ReLUZero, fm.DeadMaps, nf)
	r.para("For each filter, the position of its largest response and the cosine similarity between the filter and "+
		"the %d×%d input patch there, against the mean cosine over all patches that contain ink:", kh, kw)
	rows := make([][]string, len(fm.Filters))
	for k, f := range fm.Filters {
		rows[k] = []string{fmt.Sprint(f.Filter), fmt.Sprintf("%.3f", f.MaxResponse), fmt.Sprintf("(%d, %d)", f.At[0], f.At[1]),
			fmt.Sprintf("%.3f", f.CosAtMax), fmt.Sprintf("%.3f", f.MeanCos), pct(f.Active)}
	}
	r.table([]string{"filter", "max response", "at (row, col)", "cos at max", "mean cos", "active after ReLU"}, rows)
	word := verdictAgrees
	if fm.Better < nf {
		word = verdictPartly
	}
	r.verdict(word, "For %d of %d filters the patch with the largest response matches the filter better than the "+
		"average patch does, and the maps differ from filter to filter (see the figures).", fm.Better, nf)
	return fm, nil
}
