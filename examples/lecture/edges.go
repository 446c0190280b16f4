package main

import (
	"image"
	"math"
	"path/filepath"

	"github.com/pkg/errors"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/ops"
)

// The lecture's edge-detection example (slide 23): a 320×280 image, the
// filter "each pixel minus its left neighbour", and its figures.
const (
	edgeWidth, edgeHeight = 320, 280
	lectureEdgeConvOps    = 297960
	lectureEdgeDense      = 8003072000
	lectureEdgeRatio      = 26860
)

// edgeKernel is the 1×2 filter [−1, 1]: y[i][j] = x[i][j+1] − x[i][j].
var edgeKernel = plane{V: []float32{-1, 1}, H: 1, W: 2}

// edgeCost is the cost of a convolution with one kh×kw filter on an h×w
// image (no padding, stride 1) and of the dense matrix that computes the
// same linear map, from the geometry alone.
type edgeCost struct {
	H       int   `json:"height"`
	W       int   `json:"width"`
	OutH    int   `json:"out_height"`
	OutW    int   `json:"out_width"`
	Taps    int   `json:"taps"`    // filter entries: inputs per output
	Inputs  int64 `json:"inputs"`  // H·W
	Outputs int64 `json:"outputs"` // OutH·OutW

	ConvMults int64 `json:"conv_multiplies"` // Taps per output
	ConvAdds  int64 `json:"conv_adds"`       // Taps − 1 per output
	ConvOps   int64 `json:"conv_ops"`        // the two together

	DenseEntries int64 `json:"dense_matrix_entries"` // Inputs × Outputs
	DenseOps     int64 `json:"dense_ops"`            // (2·Inputs − 1) per output

	EntriesPerConvOp  float64 `json:"dense_entries_per_conv_op"`       // the lecture's comparison
	DenseOpsPerConvOp float64 `json:"dense_ops_per_conv_op"`           // operations against operations
	EntriesPerWeight  float64 `json:"dense_entries_per_filter_weight"` // storage against storage
}

// newEdgeCost computes the costs of a kh×kw filter slid over an h×w image.
func newEdgeCost(h, w, kh, kw int) (edgeCost, error) {
	oh, ow, err := ops.Kernel(kh, kw).Out(h, w)
	if err != nil {
		return edgeCost{}, errors.Wrap(err, "edge-detection geometry")
	}
	c := edgeCost{H: h, W: w, OutH: oh, OutW: ow, Taps: kh * kw,
		Inputs: int64(h) * int64(w), Outputs: int64(oh) * int64(ow)}
	c.ConvMults = c.Outputs * int64(c.Taps)
	c.ConvAdds = c.Outputs * int64(c.Taps-1)
	c.ConvOps = c.ConvMults + c.ConvAdds
	c.DenseEntries = c.Inputs * c.Outputs
	c.DenseOps = c.Outputs * (2*c.Inputs - 1)
	c.EntriesPerConvOp = float64(c.DenseEntries) / float64(c.ConvOps)
	c.DenseOpsPerConvOp = float64(c.DenseOps) / float64(c.ConvOps)
	c.EntriesPerWeight = float64(c.DenseEntries) / float64(c.Taps)
	return c, nil
}

// convolve applies one filter k to the image x with ops.Conv2D (stride 1,
// no padding) on a fresh Gorgonia graph run by a TapeMachine, and returns a
// copy of the output.
func convolve(x, k plane) (plane, error) {
	g := G.NewGraph()
	xn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 1, x.H, x.W), G.WithName("x"))
	kn := G.NewTensor(g, tensor.Float32, 4, G.WithShape(1, 1, k.H, k.W), G.WithName("k"))
	yn, err := ops.Conv2D(xn, kn, nil, [2]int{1, 1}, [2]int{0, 0})
	if err != nil {
		return plane{}, errors.Wrap(err, "convolving")
	}
	for _, b := range []struct {
		n *G.Node
		p plane
	}{{xn, x}, {kn, k}} {
		t := tensor.New(tensor.WithShape(1, 1, b.p.H, b.p.W), tensor.WithBacking(append([]float32(nil), b.p.V...)))
		if err := G.Let(b.n, t); err != nil {
			return plane{}, errors.Wrap(err, "convolving: binding the input")
		}
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return plane{}, errors.Wrap(err, "convolving")
	}
	ys := yn.Shape()
	data, ok := yn.Value().Data().([]float32)
	if !ok {
		return plane{}, errors.Errorf("convolving: output holds %T", yn.Value().Data())
	}
	return plane{V: append([]float32(nil), data...), H: ys[2], W: ys[3]}, nil
}

// edgeDeviation returns the largest |y[i][j] − (x[i][j+1] − x[i][j])| over
// all output pixels, and how many it compared.
func edgeDeviation(x, y plane) (float64, int, error) {
	if y.H != x.H || y.W != x.W-1 {
		return 0, 0, errors.Errorf("edge output is %d×%d, want %d×%d", y.H, y.W, x.H, x.W-1)
	}
	var dev float64
	for i := 0; i < y.H; i++ {
		for j := 0; j < y.W; j++ {
			want := x.at(i, j+1) - x.at(i, j)
			dev = max(dev, math.Abs(float64(y.at(i, j)-want)))
		}
	}
	return dev, y.H * y.W, nil
}

// syntheticImage draws the h×w test picture: a background that brightens
// from top to bottom (so it changes only along columns), a bright
// rectangle, a mid-gray disk, a dark diagonal band, and blocks of
// horizontal and of vertical stripes. Values lie in [0, 1].
func syntheticImage(h, w int) plane {
	p := plane{V: make([]float32, h*w), H: h, W: w}
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			v := 0.15 + 0.25*float64(i)/float64(h-1)
			x, y := float64(j)/float64(w), float64(i)/float64(h)
			switch {
			case x >= 0.08 && x < 0.38 && y >= 0.12 && y < 0.45:
				v = 0.95 // rectangle
			case math.Hypot(x-0.68, (y-0.3)*float64(h)/float64(w)) < 0.16:
				v = 0.65 // disk
			case math.Abs(x-y-0.05) < 0.03:
				v = 0.02 // diagonal band
			case x >= 0.10 && x < 0.40 && y >= 0.62 && y < 0.90:
				v = 0.2 + 0.7*float64((i/6)%2) // horizontal stripes
			case x >= 0.58 && x < 0.90 && y >= 0.62 && y < 0.90:
				v = 0.2 + 0.7*float64((j/6)%2) // vertical stripes
			}
			p.V[i*w+j] = float32(v)
		}
	}
	return p
}

// edgeMetrics are section 2's figures.
type edgeMetrics struct {
	Cost           edgeCost `json:"cost"`
	LectureOps     int64    `json:"lecture_conv_ops"`
	LectureRatio   float64  `json:"lecture_ratio"`
	LectureOwnRate float64  `json:"lecture_entries_over_its_own_ops"`

	SyntheticMaxDeviation float64 `json:"synthetic_max_deviation"`
	SyntheticCompared     int     `json:"synthetic_pixels_compared"`
	DigitMaxDeviation     float64 `json:"digit_max_deviation"`
	DigitCompared         int     `json:"digit_pixels_compared"`
	DigitIndex            int     `json:"digit_test_index"`

	// Responses of the synthetic image at chosen places.
	RectLeftEdge   float32 `json:"rect_left_edge_response"`
	RectRightEdge  float32 `json:"rect_right_edge_response"`
	RectTopEdge    float32 `json:"rect_top_edge_response"`
	HorizStripes   float32 `json:"horizontal_stripes_max_abs_response"`
	VertStripes    float32 `json:"vertical_stripes_max_abs_response"`
	ZeroFraction   float64 `json:"synthetic_zero_fraction"`
	SyntheticScale float32 `json:"synthetic_output_max_abs"`
}

// reportEdges writes section 2 and its figures.
func reportEdges(r *report, dir string, test *datasets.Set, digit int) (edgeMetrics, error) {
	var em edgeMetrics
	c, err := newEdgeCost(edgeHeight, edgeWidth, edgeKernel.H, edgeKernel.W)
	if err != nil {
		return em, err
	}
	em.Cost, em.LectureOps = c, lectureEdgeConvOps
	em.LectureRatio = lectureEdgeRatio
	em.LectureOwnRate = float64(lectureEdgeDense) / float64(lectureEdgeConvOps)

	r.section("2. Edge detection: convolution vs dense matrix")
	r.para("**Lecture (slide 23).** A 320×280 image, filter \"each pixel subtracts the value on its left\": "+
		"conv-net 319 × 280 × 3 = %s float operations; fully connected 320 × 280 × 319 × 280 = %s; %s times fewer.",
		commas(lectureEdgeConvOps), commas(lectureEdgeDense), commas(lectureEdgeRatio))
	r.para("**Retina's arithmetic** (from the geometry of a %d×%d filter on %d columns × %d rows, no padding):",
		edgeKernel.H, edgeKernel.W, c.W, c.H)
	r.table([]string{"quantity", "Retina", "lecture"}, [][]string{
		{"output pixels (columns × rows)", commas(c.Outputs) + " (" + commas(int64(c.OutW)) + " × " + commas(int64(c.OutH)) + ")", "319 × 280"},
		{"convolution: multiplies + adds", commas(c.ConvMults) + " + " + commas(c.ConvAdds), ""},
		{"convolution operations", commas(c.ConvOps), commas(lectureEdgeConvOps)},
		{"dense matrix entries (inputs × outputs)", commas(c.DenseEntries), commas(lectureEdgeDense)},
		{"dense entries / conv operations", commasf(c.EntriesPerConvOp, 1), commas(lectureEdgeRatio)},
		{"dense operations (matrix × vector)", commas(c.DenseOps), ""},
		{"dense operations / conv operations", commasf(c.DenseOpsPerConvOp, 1), ""},
		{"dense entries / filter weights (storage)", commasf(c.EntriesPerWeight, 0), ""},
	})
	r.para("%s × %s × %d is %s, not %s: the lecture's product is off by %s, and its ratio follows from the "+
		"wrong product (%s / %s = %s). With the right product the ratio is %s. Comparing operations with "+
		"operations (a dense matrix-vector product needs %s), the saving is %s×; comparing storage, %s matrix "+
		"entries against %d filter weights, %s×.",
		commas(int64(c.OutW)), commas(int64(c.OutH)), 2*c.Taps-1, commas(c.ConvOps), commas(lectureEdgeConvOps),
		commas(lectureEdgeConvOps-c.ConvOps), commas(lectureEdgeDense), commas(lectureEdgeConvOps),
		commasf(em.LectureOwnRate, 1), commasf(c.EntriesPerConvOp, 1), commas(c.DenseOps),
		commasf(c.DenseOpsPerConvOp, 0), commas(c.DenseEntries), c.Taps, commasf(c.EntriesPerWeight, 0))

	// Run the filter through ops.Conv2D.
	syn := syntheticImage(edgeHeight, edgeWidth)
	synOut, err := convolve(syn, edgeKernel)
	if err != nil {
		return em, errors.Wrap(err, "synthetic image")
	}
	if em.SyntheticMaxDeviation, em.SyntheticCompared, err = edgeDeviation(syn, synOut); err != nil {
		return em, errors.Wrap(err, "synthetic image")
	}
	x := plane{V: test.X[digit*28*28 : (digit+1)*28*28], H: 28, W: 28}
	digitOut, err := convolve(x, edgeKernel)
	if err != nil {
		return em, errors.Wrap(err, "digit")
	}
	if em.DigitMaxDeviation, em.DigitCompared, err = edgeDeviation(x, digitOut); err != nil {
		return em, errors.Wrap(err, "digit")
	}
	em.DigitIndex = digit

	// Responses at known places of the synthetic picture: the rectangle
	// spans columns [0.08w, 0.38w) and rows [0.12h, 0.45h).
	rl, rr := int(math.Ceil(0.08*edgeWidth)), int(math.Ceil(0.38*edgeWidth))
	rt, rb := int(math.Ceil(0.12*edgeHeight)), int(math.Ceil(0.45*edgeHeight))
	mid := (rt + rb) / 2
	em.RectLeftEdge = synOut.at(mid, rl-1)  // x[rl] − x[rl−1]
	em.RectRightEdge = synOut.at(mid, rr-1) // x[rr] − x[rr−1]
	em.RectTopEdge = synOut.at(rt, (rl+rr)/2)
	frac := func(f float64, n int) int { return int(f * float64(n)) }
	em.HorizStripes = maxAbsIn(synOut, frac(0.63, edgeHeight), frac(0.89, edgeHeight), frac(0.11, edgeWidth), frac(0.39, edgeWidth))
	em.VertStripes = maxAbsIn(synOut, frac(0.63, edgeHeight), frac(0.89, edgeHeight), frac(0.59, edgeWidth), frac(0.89, edgeWidth))
	var zeros int
	for _, v := range synOut.V {
		if v == 0 {
			zeros++
		}
	}
	em.ZeroFraction = float64(zeros) / float64(len(synOut.V))
	lo, hi := extent(synOut)
	em.SyntheticScale = max(-lo, hi)

	for _, f := range []struct {
		name string
		img  image.Image
	}{
		{"edges_synthetic_input.png", grayImage(syn, 0, 1, 1)},
		{"edges_synthetic_output.png", signedImage(synOut, 0, 1)},
		{"edges_digit_input.png", grayImage(x, 0, 1, 8)},
		{"edges_digit_output.png", signedImage(digitOut, 0, 8)},
	} {
		if err := savePNG(filepath.Join(dir, f.name), f.img); err != nil {
			return em, err
		}
	}
	r.para("**Retina's convolution.** The filter [−1, 1] (1×2) applied with `ops.Conv2D` on a Gorgonia graph: "+
		"the %d×%d synthetic picture gives a %d×%d output, the %d×%d test digit #%d a %d×%d one (columns × rows). Every output pixel "+
		"was checked against x[i][j+1] − x[i][j]: max deviation %.3g over %s pixels (picture) and %.3g over %s "+
		"pixels (digit). On the picture the rectangle's left edge gives %+.3f, its right edge %+.3f, its top edge "+
		"%+.3g; vertical stripes reach |y| = %.2f, horizontal stripes %.2f: the filter sees vertical edges only, "+
		"and %.1f%% of the output is exactly 0. Figures (0 = mid-gray, ±%.2f = white/black): "+
		"`edges_synthetic_input.png`, `edges_synthetic_output.png`, `edges_digit_input.png`, `edges_digit_output.png` "+
		"(digit ×8).",
		syn.W, syn.H, synOut.W, synOut.H, x.W, x.H, digit, digitOut.W, digitOut.H,
		em.SyntheticMaxDeviation, commas(int64(em.SyntheticCompared)), em.DigitMaxDeviation, commas(int64(em.DigitCompared)),
		em.RectLeftEdge, em.RectRightEdge, em.RectTopEdge, em.VertStripes, em.HorizStripes,
		100*em.ZeroFraction, em.SyntheticScale)
	ok := c.ConvOps == lectureEdgeConvOps && c.DenseEntries == lectureEdgeDense
	switch {
	case ok:
		r.verdict(verdictAgrees, "The figures match.")
	case c.DenseEntries == lectureEdgeDense:
		r.verdict(verdictPartly, "The dense matrix's %s entries agree; the convolution needs %s operations, not %s, "+
			"so it is %s times cheaper by the lecture's own comparison, not %s. The filter, run by Retina, computes "+
			"exactly the difference of neighbours (max deviation %.3g).",
			commas(c.DenseEntries), commas(c.ConvOps), commas(lectureEdgeConvOps),
			commasf(c.EntriesPerConvOp, 0), commas(lectureEdgeRatio), max(em.SyntheticMaxDeviation, em.DigitMaxDeviation))
	default:
		r.verdict(verdictDisagrees, "Retina computes %s conv operations and %s matrix entries.",
			commas(c.ConvOps), commas(c.DenseEntries))
	}
	return em, nil
}

// maxAbsIn returns the largest |value| of p in rows [r0, r1), columns
// [c0, c1).
func maxAbsIn(p plane, r0, r1, c0, c1 int) float32 {
	var m float32
	for i := r0; i < r1; i++ {
		for j := c0; j < c1; j++ {
			m = max(m, float32(math.Abs(float64(p.at(i, j)))))
		}
	}
	return m
}
