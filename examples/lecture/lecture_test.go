package main

import (
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/retina-ml/retina/graph"
	"github.com/retina-ml/retina/models/cnn"
	"github.com/retina-ml/retina/ops"
)

func TestEdgeCostMatchesTheGeometry(t *testing.T) {
	c, err := newEdgeCost(edgeHeight, edgeWidth, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name      string
		got, want int64
	}{
		{"output rows", int64(c.OutH), 280},
		{"output columns", int64(c.OutW), 319},
		{"outputs", c.Outputs, 319 * 280},
		{"multiplies", c.ConvMults, 2 * 319 * 280},
		{"adds", c.ConvAdds, 319 * 280},
		{"conv operations", c.ConvOps, 267960},
		{"dense entries", c.DenseEntries, 8003072000},
		{"dense operations", c.DenseOps, 319 * 280 * (2*320*280 - 1)},
	} {
		if x.got != x.want {
			t.Errorf("%s = %d, want %d", x.name, x.got, x.want)
		}
	}
	if r := c.EntriesPerConvOp; math.Abs(r-8003072000.0/267960) > 1e-9 || math.Round(r) != 29867 {
		t.Errorf("entries per conv op = %v, want 29,866.67", r)
	}
	if r := c.EntriesPerWeight; r != 4001536000 {
		t.Errorf("entries per weight = %v, want 4,001,536,000", r)
	}
	// The lecture's ratio is its own (wrong) product's.
	if r := math.Round(float64(lectureEdgeDense) / lectureEdgeConvOps); r != lectureEdgeRatio {
		t.Errorf("8,003,072,000 / 297,960 rounds to %v, want the lecture's %d", r, lectureEdgeRatio)
	}
	if _, err := newEdgeCost(4, 1, 1, 2); err == nil {
		t.Error("a 1×2 filter on a 1-column image: no error")
	}
}

func TestConvolveComputesNeighbourDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := plane{V: make([]float32, 5*7), H: 5, W: 7}
	for i := range x.V {
		x.V[i] = rng.Float32()
	}
	y, err := convolve(x, edgeKernel)
	if err != nil {
		t.Fatal(err)
	}
	if y.H != 5 || y.W != 6 {
		t.Fatalf("output %d×%d, want 5×6", y.H, y.W)
	}
	if got, want := y.at(2, 3), x.at(2, 4)-x.at(2, 3); got != want {
		t.Errorf("y[2][3] = %v, want %v", got, want)
	}
	dev, n, err := edgeDeviation(x, y)
	if err != nil || dev != 0 || n != 30 {
		t.Errorf("deviation %v over %d pixels (%v), want 0 over 30", dev, n, err)
	}
	y.V[7] += 0.25
	if dev, _, _ := edgeDeviation(x, y); math.Abs(dev-0.25) > 1e-6 {
		t.Errorf("deviation after a change of 0.25: %v", dev)
	}
	if _, _, err := edgeDeviation(x, x); err == nil {
		t.Error("edgeDeviation accepted an output as wide as its input")
	}
}

func TestSyntheticImageHasVerticalAndHorizontalEdges(t *testing.T) {
	x := syntheticImage(edgeHeight, edgeWidth)
	y, err := convolve(x, edgeKernel)
	if err != nil {
		t.Fatal(err)
	}
	// The background changes only down the rows: no response on it.
	if v := y.at(5, edgeWidth/2); v != 0 {
		t.Errorf("background response %v, want 0", v)
	}
	lo, hi := extent(x)
	if lo < 0 || hi > 1 {
		t.Errorf("values in [%v, %v], want within [0, 1]", lo, hi)
	}
}

func TestShiftAndCompare(t *testing.T) {
	// A 4×5 plane with ink away from the bottom row and right two columns.
	p := plane{V: []float32{
		1, 2, 0, 0, 0,
		3, 4, 5, 0, 0,
		0, 6, 0, 0, 0,
		0, 0, 0, 0, 0,
	}, H: 4, W: 5}
	q := shiftPlane(p, 1, 2)
	want := []float32{
		0, 0, 0, 0, 0,
		0, 0, 1, 2, 0,
		0, 0, 3, 4, 5,
		0, 0, 0, 6, 0,
	}
	for i := range want {
		if q.V[i] != want[i] {
			t.Fatalf("shifted plane %v, want %v", q.V, want)
		}
	}
	if l := lostInk(p, 1, 2); l != 0 {
		t.Errorf("lost ink %v, want 0", l)
	}
	if l := lostInk(p, 2, 3); l != 6+5 {
		t.Errorf("lost ink for (2, 3) = %v, want 11", l)
	}
	if d := alignedDiff([]plane{p}, []plane{q}, 1, 2); d != 0 {
		t.Errorf("aligned difference %v, want 0", d)
	}
	if d := alignedDiff([]plane{p}, []plane{q}, 0, 0); d != 6 {
		t.Errorf("unaligned difference %v, want 6", d)
	}
	q.V[2*5+3] += 0.5
	if d := alignedDiff([]plane{p}, []plane{q}, 1, 2); d != 0.5 {
		t.Errorf("aligned difference after a change of 0.5: %v", d)
	}
}

func TestConvolutionIsShiftEquivariant(t *testing.T) {
	// A blob on an empty 12×12 image, a random 3×3 filter: shifting the
	// image shifts the output.
	rng := rand.New(rand.NewPCG(3, 4))
	x := plane{V: make([]float32, 12*12), H: 12, W: 12}
	for i := 3; i < 7; i++ {
		for j := 2; j < 8; j++ {
			x.V[i*12+j] = rng.Float32()
		}
	}
	k := plane{V: make([]float32, 9), H: 3, W: 3}
	for i := range k.V {
		k.V[i] = rng.Float32() - 0.5
	}
	a, err := convolve(x, k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := convolve(shiftPlane(x, 2, 1), k)
	if err != nil {
		t.Fatal(err)
	}
	if d := alignedDiff([]plane{a}, []plane{b}, 2, 1); d > 1e-6 {
		t.Errorf("aligned difference %v, want 0", d)
	}
	if d := alignedDiff([]plane{a}, []plane{b}, 0, 0); d < 0.01 {
		t.Errorf("unaligned difference %v: the maps should differ", d)
	}
}

func TestRelChangeAndKept(t *testing.T) {
	a := []float32{3, 0, 4, 0, 0}
	if r := relChange(a, a); r != 0 {
		t.Errorf("relChange(a, a) = %v", r)
	}
	b := []float32{3, 0, 0, 0, 4} // ‖b − a‖ = √32, ‖a‖ = 5
	if r := relChange(a, b); math.Abs(r-math.Sqrt(32)/5) > 1e-12 {
		t.Errorf("relChange = %v, want %v", r, math.Sqrt(32)/5)
	}
	if r := relChange(make([]float32, 3), []float32{1, 2, 3}); r != 0 {
		t.Errorf("relChange from zero = %v, want 0", r)
	}
	// Active in a or b: units 0, 2, 4; unit 0 keeps its value.
	same, active := kept(a, b, 1e-6)
	if same != 1 || active != 3 {
		t.Errorf("kept %d of %d, want 1 of 3", same, active)
	}
}

func TestMatchFiltersFindsTheMatchingPatch(t *testing.T) {
	x := plane{V: make([]float32, 6*6), H: 6, W: 6}
	x.V[2*6+3], x.V[3*6+3], x.V[3*6+4] = 1, 1, 1 // an L at rows 2–3, columns 3–4
	w := plane{V: []float32{1, 0, 1, 1}, H: 2, W: 2}
	conv, err := convolve(x, w)
	if err != nil {
		t.Fatal(err)
	}
	m := matchFilters(x, []plane{w}, []plane{conv})[0]
	if m.At != [2]int{2, 3} || m.MaxResponse != 3 || math.Abs(m.CosAtMax-1) > 1e-9 {
		t.Errorf("best match %+v, want response 3 at (2, 3), cosine 1", m)
	}
	if m.MeanCos >= m.CosAtMax {
		t.Errorf("mean cosine %v not below the best %v", m.MeanCos, m.CosAtMax)
	}
}

func TestPNGWriter(t *testing.T) {
	p := plane{V: []float32{-1, 0, 1, 0.5}, H: 2, W: 2}
	tiles := []*image.Gray{signedImage(p, 0, 3), grayImage(p, 0, 1, 3), normalised(p, 3)}
	img := gridImage(tiles, 2, 1, 200)
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := savePNG(path, img); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Two columns and two rows of 6×6 cells with 1-pixel gaps.
	if b := dec.Bounds(); b.Dx() != 2*(6+1)+1 || b.Dy() != 2*(6+1)+1 {
		t.Fatalf("decoded %v, want 15×15", b)
	}
	gray := func(x, y int) uint32 { r, _, _, _ := dec.At(x, y).RGBA(); return r >> 8 }
	for _, c := range []struct {
		x, y int
		want uint32
		what string
	}{
		{0, 0, 200, "background"},
		{1, 1, 0, "signed −1"},
		{4, 1, 128, "signed 0 (mid-gray)"},
		{1, 4, 255, "signed +1"},
		{8, 1, 0, "gray −1 clipped"},
		{11, 4, 128, "gray 0.5"},
		{1, 8, 0, "normalised minimum"},
		{4, 11, 191, "normalised 0.5 of [−1, 1]"},
		{8, 8, 200, "empty cell"},
	} {
		if g := gray(c.x, c.y); g != c.want {
			t.Errorf("%s at (%d, %d): %d, want %d", c.what, c.x, c.y, g, c.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{commas(78400), "78,400"},
		{commas(8003072000), "8,003,072,000"},
		{commas(-1728), "-1,728"},
		{commas(75), "75"},
		{commasf(29866.666, 1), "29,866.7"},
		{commasf(1045.33, 0), "1,045"},
		{commasf(-0.04, 1), "0.0"},
	} {
		if c.got != c.want {
			t.Errorf("%q, want %q", c.got, c.want)
		}
	}
	tab := formatTable([]string{"model", "error"}, [][]string{{"mlp", "5.00%"}, {"lenet", "1.00%"}})
	want := "| model | error |\n| ----- | ----: |\n| mlp   | 5.00% |\n| lenet | 1.00% |\n"
	if tab != want {
		t.Errorf("table\n%s\nwant\n%s", tab, want)
	}
}

func TestFieldBoxAndReport(t *testing.T) {
	m, err := cnn.LeNet.Model()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := cnn.ReceptiveFields(m)
	if err != nil {
		t.Fatal(err)
	}
	pool2, err := layerIndex(m, "pool2")
	if err != nil {
		t.Fatal(err)
	}
	if b := fieldBox(fs[pool2], 2, 2, 28, 28); b != (box{R0: 8, R1: 23, C0: 8, C1: 23}) {
		t.Errorf("pool2 unit (2, 2) sees %v, want rows 8–23, cols 8–23", b)
	}
	// Padding: StridedLeNet's conv1 unit (0, 0) reaches 2 pixels above
	// and left of the image; clipped, it sees rows and columns 0–2.
	sm, err := graph.Sequential{graph.Conv2D{Maps: 1, Window: ops.Square(5, 2, 2)}}.Declare(graph.Shape{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	sfs, err := cnn.ReceptiveFields(sm)
	if err != nil {
		t.Fatal(err)
	}
	if b := fieldBox(sfs[0], 0, 0, 28, 28); b != (box{R0: 0, R1: 2, C0: 0, C1: 2}) {
		t.Errorf("padded unit (0, 0) sees %v, want rows 0–2, cols 0–2", b)
	}
	if !strings.Contains(box{Empty: true}.String(), "none") {
		t.Error("an empty box should print as none")
	}
}
