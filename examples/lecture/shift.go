package main

import (
	"fmt"
	"image"
	"math"
	"path/filepath"

	"github.com/pkg/errors"

	"github.com/retina-ml/retina/datasets"
	"github.com/retina-ml/retina/graph"
)

// shiftPlane returns p moved down by dr rows and right by dc columns
// (dr, dc ≥ 0), filling the vacated rows and columns with zeros; what moves
// past the bottom or right edge is lost.
func shiftPlane(p plane, dr, dc int) plane {
	q := plane{V: make([]float32, len(p.V)), H: p.H, W: p.W}
	for i := 0; i+dr < p.H; i++ {
		for j := 0; j+dc < p.W; j++ {
			q.V[(i+dr)*q.W+j+dc] = p.at(i, j)
		}
	}
	return q
}

// lostInk returns the sum of |values| of p that shiftPlane(p, dr, dc) pushes
// off the plane: the last dr rows and dc columns.
func lostInk(p plane, dr, dc int) float64 {
	var s float64
	for i := 0; i < p.H; i++ {
		for j := 0; j < p.W; j++ {
			if i >= p.H-dr || j >= p.W-dc {
				s += math.Abs(float64(p.at(i, j)))
			}
		}
	}
	return s
}

// alignedDiff compares maps b, computed from an input shifted by (dr, dc)
// units of the maps, with maps a shifted the same way: the largest
// |b[i+dr][j+dc] − a[i][j]| over every map and every (i, j) where both
// exist. It is 0 for an exactly equivariant operation.
func alignedDiff(a, b []plane, dr, dc int) float64 {
	var d float64
	for k := range a {
		for i := 0; i+dr < a[k].H; i++ {
			for j := 0; j+dc < a[k].W; j++ {
				d = max(d, math.Abs(float64(b[k].at(i+dr, j+dc)-a[k].at(i, j))))
			}
		}
	}
	return d
}

// relChange returns ‖b − a‖₂ / ‖a‖₂: how much a representation changes,
// position by position, without re-aligning. It is 0 when a is 0.
func relChange(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(b[i]) - float64(a[i])
		num += d * d
		den += float64(a[i]) * float64(a[i])
	}
	if den == 0 {
		return 0
	}
	return math.Sqrt(num / den)
}

// kept counts the units that are active (> 0) in a or in b, and how many of
// those keep their value to within tol.
func kept(a, b []float32, tol float32) (same, active int) {
	for i := range a {
		if a[i] <= 0 && b[i] <= 0 {
			continue
		}
		active++
		if d := b[i] - a[i]; d <= tol && d >= -tol {
			same++
		}
	}
	return same, active
}

// shiftStats are the section 5 figures for one shift, over all digits.
type shiftStats struct {
	Down        int      `json:"down"`
	Right       int      `json:"right"`
	ConvAligned float64  `json:"conv_aligned_max_abs_diff"`           // equivariance error of conv1+ReLU
	PoolAligned *float64 `json:"pool_aligned_max_abs_diff,omitempty"` // only for shifts by whole pooled units
	ConvChange  float64  `json:"conv_mean_rel_l2_change"`             // without re-alignment
	PoolChange  float64  `json:"pool_mean_rel_l2_change"`
	ConvKept    float64  `json:"conv_kept_fraction"`
	PoolKept    float64  `json:"pool_kept_fraction"`
}

// shifts are the translations studied: 1 and 2 pixels, down, right and both.
var shifts = [][2]int{{0, 1}, {1, 0}, {1, 1}, {0, 2}, {2, 0}, {2, 2}}

// shiftMetrics are section 5's figures.
type shiftMetrics struct {
	Digits      int          `json:"digits"`
	Skipped     int          `json:"digits_skipped_ink_at_border"`
	Scale       float64      `json:"conv1_relu_max"`
	Tolerance   float64      `json:"kept_tolerance"`
	Shifts      []shiftStats `json:"shifts"`
	Digit       int          `json:"featured_digit"`
	DigitAlign  float64      `json:"featured_conv_aligned_max_abs_diff"`
	DigitRaw    float64      `json:"featured_conv_unaligned_max_abs_diff"`
	DigitMax    float64      `json:"featured_conv_max"`
	FigureMap   int          `json:"figure_map"`
	Equivariant bool         `json:"equivariant"`
	PoolHelps   bool         `json:"pool_changes_less_for_1px"`
}

// shiftIndex returns the index of the shift (dr, dc) in shifts.
func shiftIndex(dr, dc int) int {
	for k, s := range shifts {
		if s == [2]int{dr, dc} {
			return k
		}
	}
	panic(fmt.Sprintf("shift (%d, %d) is not studied", dr, dc))
}

// maxShiftDigits bounds the test digits the shift experiment uses.
const maxShiftDigits = 200

// reportShifts writes section 5 and its figure, from the trained LeNet.
func reportShifts(r *report, dir string, m *graph.Model, test *datasets.Set, digit int) (shiftMetrics, error) {
	sm := shiftMetrics{Digit: digit}
	ll, err := findLeNetLayers(m)
	if err != nil {
		return sm, err
	}
	h, w := m.Inputs()[0][1], m.Inputs()[0][2]
	size := m.Inputs()[0].TotalSize()
	if size != h*w {
		return sm, errors.Errorf("shift experiment needs one input channel, model input is %v", m.Inputs()[0])
	}
	// Digits whose ink survives the largest shift: the comparison then
	// loses nothing at the border.
	var idx []int
	for i := 0; i < test.Len() && len(idx) < maxShiftDigits; i++ {
		if lostInk(plane{V: test.X[i*size : (i+1)*size], H: h, W: w}, 2, 2) > 0 {
			sm.Skipped++
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return sm, errors.New("no test digit has an empty 2-pixel border")
	}
	if lostInk(plane{V: test.X[digit*size : (digit+1)*size], H: h, W: w}, 2, 2) > 0 {
		sm.Digit = idx[0]
	}
	sm.Digits = len(idx)

	// One batch: each digit, then its shifted copies.
	variants := len(shifts) + 1
	x := make([]float32, 0, len(idx)*variants*size)
	for _, i := range idx {
		p := plane{V: test.X[i*size : (i+1)*size], H: h, W: w}
		x = append(x, p.V...)
		for _, s := range shifts {
			x = append(x, shiftPlane(p, s[0], s[1]).V...)
		}
	}
	acts, err := activations(m, x, len(idx)*variants, ll.relu, ll.pool)
	if err != nil {
		return sm, err
	}
	cs := m.Layers()[ll.relu].Out
	ps := m.Layers()[ll.pool].Out
	cn, pn := cs.TotalSize(), ps.TotalSize()
	conv := func(v int) []float32 { return acts[0][v*cn : (v+1)*cn] }
	pool := func(v int) []float32 { return acts[1][v*pn : (v+1)*pn] }
	_, hi := extent(plane{V: acts[0]})
	sm.Scale = float64(hi)
	sm.Tolerance = 1e-5 * sm.Scale
	tol := float32(sm.Tolerance)

	// The pooling window's stride: a shift by a multiple of it moves the
	// pooled maps by whole units.
	stride := cs[1] / ps[1]
	for k, s := range shifts {
		st := shiftStats{Down: s[0], Right: s[1]}
		var convSame, convActive, poolSame, poolActive int
		even := s[0]%stride == 0 && s[1]%stride == 0
		if even {
			st.PoolAligned = new(float64)
		}
		for d := range idx {
			v0, v1 := d*variants, d*variants+1+k
			a, b := planes(conv(v0), cs[0], cs[1], cs[2]), planes(conv(v1), cs[0], cs[1], cs[2])
			st.ConvAligned = max(st.ConvAligned, alignedDiff(a, b, s[0], s[1]))
			if even {
				pa, pb := planes(pool(v0), ps[0], ps[1], ps[2]), planes(pool(v1), ps[0], ps[1], ps[2])
				*st.PoolAligned = max(*st.PoolAligned, alignedDiff(pa, pb, s[0]/stride, s[1]/stride))
			}
			st.ConvChange += relChange(conv(v0), conv(v1)) / float64(len(idx))
			st.PoolChange += relChange(pool(v0), pool(v1)) / float64(len(idx))
			same, active := kept(conv(v0), conv(v1), tol)
			convSame, convActive = convSame+same, convActive+active
			same, active = kept(pool(v0), pool(v1), tol)
			poolSame, poolActive = poolSame+same, poolActive+active
		}
		st.ConvKept = float64(convSame) / float64(max(convActive, 1))
		st.PoolKept = float64(poolSame) / float64(max(poolActive, 1))
		sm.Shifts = append(sm.Shifts, st)
	}

	// The featured digit, shifted by 2 down and right.
	fd := 0
	for d, i := range idx {
		if i == sm.Digit {
			fd = d
		}
	}
	k22 := shiftIndex(2, 2)
	a := planes(conv(fd*variants), cs[0], cs[1], cs[2])
	b := planes(conv(fd*variants+1+k22), cs[0], cs[1], cs[2])
	sm.DigitAlign = alignedDiff(a, b, 2, 2)
	sm.DigitRaw = alignedDiff(a, b, 0, 0)
	_, dmax := extent(a...)
	sm.DigitMax = float64(dmax)

	sm.Equivariant = true
	sm.PoolHelps = true
	for _, st := range sm.Shifts {
		sm.Equivariant = sm.Equivariant && st.ConvAligned <= sm.Tolerance
		if max(st.Down, st.Right) == 1 {
			sm.PoolHelps = sm.PoolHelps && st.PoolChange < st.ConvChange && st.PoolKept > st.ConvKept
		}
	}

	// Figure: the digit shifted by 0, 1, 2 pixels (down and right), the
	// conv1 map most active for it, and that map after pooling.
	var best float64
	for k, p := range a {
		var s float64
		for _, v := range p.V {
			s += float64(v)
		}
		if s > best {
			best, sm.FigureMap = s, k
		}
	}
	var tiles []*image.Gray
	for _, v := range []int{0, 1 + shiftIndex(1, 1), 1 + shiftIndex(2, 2)} {
		v += fd * variants
		in := plane{V: x[v*size : (v+1)*size], H: h, W: w}
		cm := planes(conv(v), cs[0], cs[1], cs[2])[sm.FigureMap]
		pm := planes(pool(v), ps[0], ps[1], ps[2])[sm.FigureMap]
		tiles = append(tiles, grayImage(in, 0, 1, 4), grayImage(cm, 0, float32(sm.Scale), 4), grayImage(pm, 0, float32(sm.Scale), 8))
	}
	if err := savePNG(filepath.Join(dir, "shift.png"), gridImage(tiles, 3, 4, 128)); err != nil {
		return sm, err
	}

	r.section("5. Translation: equivariant convolution, max-pooling")
	r.para("**Lecture (slides 8, 15, 20, 21).** Shifting an image and then convolving equals convolving and then " +
		"shifting (equivariance); max-pooling adds robustness to small translations. (Slides 8 and 15 call the " +
		"convolution itself translation-*invariant*; slides 20–21 say equivariant.)")
	r.para("**Retina, one digit.** Test digit #%d shifted 2 pixels down and right (zero fill; its last 2 rows and "+
		"columns are empty), both through the trained LeNet's conv1+ReLU. Over the %d×%d×%d overlap of the maps "+
		"(map positions (i, j) of the original against (i+2, j+2) of the shifted digit), max |difference| = **%.3g**, "+
		"while the maps reach %.3f; compared position by position without re-aligning, they differ by up to %.3f.",
		sm.Digit, cs[0], cs[1]-2, cs[2]-2, sm.DigitAlign, sm.DigitMax, sm.DigitRaw)
	r.para("**Retina, %d test digits** (the first ones with an empty 2-pixel border at the bottom and right; %d "+
		"skipped). Measures, each over all %d maps:", sm.Digits, sm.Skipped, cs[0])
	r.printf("- *aligned max abs Δ*: largest |after shift at (i+dr, j+dc) − before at (i, j)| over digits — " +
		"0 means equivariant. For pool1 only whole pooled units can be re-aligned, so only shifts by multiples " +
		"of the pooling stride have a value.\n")
	r.printf("- *relative change*: ‖after − before‖₂ / ‖before‖₂ at the same positions (no re-alignment), " +
		"averaged over digits — how much the representation a next layer sees changes.\n")
	r.printf("- *kept*: among units active (> 0) before or after the shift, the fraction whose value stays the same "+
		"(within %.2g).\n\n", sm.Tolerance)
	rows := make([][]string, len(sm.Shifts))
	for k, st := range sm.Shifts {
		pa := "–"
		if st.PoolAligned != nil {
			pa = fmt.Sprintf("%.3g", *st.PoolAligned)
		}
		rows[k] = []string{fmt.Sprintf("%d down, %d right", st.Down, st.Right), fmt.Sprintf("%.3g", st.ConvAligned), pa,
			fmt.Sprintf("%.3f", st.ConvChange), fmt.Sprintf("%.3f", st.PoolChange), pct(st.ConvKept), pct(st.PoolKept)}
	}
	r.table([]string{"shift", "conv aligned max abs Δ", "pool aligned max abs Δ", "conv rel. change", "pool rel. change",
		"conv kept", "pool kept"}, rows)
	r.para("Figure `shift.png`: rows = the digit shifted by 0, 1, 2 pixels (down and right); columns = input (×4), "+
		"conv1 map %d (×4), the same map after pool1 (×8); maps on one scale, 0 = black, %.3f = white.",
		sm.FigureMap, sm.Scale)
	eq := verdictAgrees
	if !sm.Equivariant || !sm.PoolHelps {
		eq = verdictPartly
	}
	r.verdict(eq, "Conv1 is equivariant (aligned difference ≤ %.2g for every shift: %s), not invariant (the maps "+
		"themselves change by a relative %.2f for a 1-pixel shift). Max-pooling makes the representation change "+
		"less for 1-pixel shifts (%s), and a 2-pixel shift — one pooling stride — moves the pooled maps by exactly "+
		"one unit (aligned difference %.3g); unaligned, a 2-pixel shift changes conv1 by %.2f and pool1 by %.2f "+
		"(down and right).", sm.Tolerance, yesNo(sm.Equivariant), sm.Shifts[shiftIndex(1, 1)].ConvChange,
		onePixelSummary(sm.Shifts), *sm.Shifts[k22].PoolAligned, sm.Shifts[k22].ConvChange, sm.Shifts[k22].PoolChange)
	return sm, nil
}

// onePixelSummary lists conv and pool relative changes for the 1-pixel
// shifts.
func onePixelSummary(st []shiftStats) string {
	var s string
	for _, x := range st {
		if max(x.Down, x.Right) != 1 {
			continue
		}
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("(%d, %d): %.2f → %.2f, kept %s → %s", x.Down, x.Right, x.ConvChange, x.PoolChange,
			pct(x.ConvKept), pct(x.PoolKept))
	}
	return s
}
