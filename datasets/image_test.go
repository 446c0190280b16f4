package datasets

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadImage(t *testing.T) {
	f := func(v uint8) float32 { return float32(v) / 255 }
	ga := func(x, y int) uint8 { return uint8(10*y + 3*x) }
	grey := encodePNG(t, greyImage(4, 3, ga))
	colour := func(x, y int) color.NRGBA { return color.NRGBA{uint8(60 * x), uint8(80 * y), 200, 255} }
	rgb := encodePNG(t, nrgbaImage(4, 3, colour))
	rgbOf := func(x, y int) (r, g, b uint8) { c := colour(x, y); return c.R, c.G, c.B }
	greyOf := func(x, y int) (r, g, b uint8) { v := ga(x, y); return v, v, v }
	// A translucent pixel (α = 0x40) among opaque ones.
	alpha := uint8(0x40)
	translucent := encodePNG(t, nrgbaImage(2, 1, func(x, y int) color.NRGBA {
		if x == 0 {
			return color.NRGBA{200, 100, 0, alpha}
		}
		return color.NRGBA{10, 20, 30, 255}
	}))
	a := f(alpha)
	onWhite := func(c uint8) float32 { return f(c)*a + (1 - a) }
	onBlack := func(c uint8) float32 { return f(c) * a }
	jpg := encodeJPEG(t, greyImage(8, 8, func(x, y int) uint8 { return 77 }))

	for _, tc := range []struct {
		name  string
		data  []byte
		shape []int
		opt   ImageOptions
		want  []float32
	}{
		{"grey as grey", grey, []int{1, 3, 4}, ImageOptions{}, expectedPlanes(4, 3, true, greyOf)},
		{"grey as RGB", grey, []int{3, 3, 4}, ImageOptions{}, expectedPlanes(4, 3, false, greyOf)},
		{"RGB as RGB", rgb, []int{3, 3, 4}, ImageOptions{}, expectedPlanes(4, 3, false, rgbOf)},
		{"RGB as grey (BT.601 luma)", rgb, []int{1, 3, 4}, ImageOptions{}, expectedPlanes(4, 3, true, rgbOf)},
		{"alpha on white", translucent, []int{3, 1, 2}, ImageOptions{},
			[]float32{onWhite(200), f(10), onWhite(100), f(20), onWhite(0), f(30)}},
		{"alpha on black", translucent, []int{3, 1, 2}, ImageOptions{Background: BackgroundBlack},
			[]float32{onBlack(200), f(10), onBlack(100), f(20), onBlack(0), f(30)}},
		{"alpha on white, grey", translucent, []int{1, 1, 2}, ImageOptions{},
			[]float32{lumaR*onWhite(200) + lumaG*onWhite(100) + lumaB*onWhite(0), lumaR*f(10) + lumaG*f(20) + lumaB*f(30)}},
		{"JPEG", jpg, []int{1, 8, 8}, ImageOptions{}, slices.Repeat([]float32{f(77)}, 64)},
		// Area: 4×3 → 2×1: each output the mean of a 2×3 block.
		{"area 4×3 to 2×1", grey, []int{1, 1, 2}, ImageOptions{Resize: ResizeArea}, []float32{
			(f(ga(0, 0)) + f(ga(1, 0)) + f(ga(0, 1)) + f(ga(1, 1)) + f(ga(0, 2)) + f(ga(1, 2))) / 6,
			(f(ga(2, 0)) + f(ga(3, 0)) + f(ga(2, 1)) + f(ga(3, 1)) + f(ga(2, 2)) + f(ga(3, 2))) / 6,
		}},
		// Area: 4 → 3 columns: weights (¾, ¼), (½, ½), (¼, ¾) of columns
		// (0, 1), (1, 2), (2, 3); 3 → 1 row: the mean of the three.
		{"area 4×3 to 3×1", grey, []int{1, 1, 3}, ImageOptions{Resize: ResizeArea}, func() []float32 {
			col := func(x int) float32 { return (f(ga(x, 0)) + f(ga(x, 1)) + f(ga(x, 2))) / 3 }
			return []float32{0.75*col(0) + 0.25*col(1), 0.5*col(1) + 0.5*col(2), 0.25*col(2) + 0.75*col(3)}
		}()},
		// Enlarging 4×3 → 8×6 repeats each pixel 2×2.
		{"area 4×3 to 8×6", grey, []int{1, 6, 8}, ImageOptions{Resize: ResizeArea}, func() []float32 {
			var out []float32
			for y := range 6 {
				for x := range 8 {
					out = append(out, f(ga(x/2, y/2)))
				}
			}
			return out
		}()},
		{"nearest 4×3 to 2×3", grey, []int{1, 3, 2}, ImageOptions{Resize: ResizeNearest}, []float32{
			f(ga(1, 0)), f(ga(3, 0)), f(ga(1, 1)), f(ga(3, 1)), f(ga(1, 2)), f(ga(3, 2))}},
	} {
		got, err := DecodeImage(tc.data, "x.png", tc.shape, tc.opt)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !closeFloats(got, tc.want, 1e-6) {
			t.Errorf("%s:\ngot  %v\nwant %v", tc.name, got, tc.want)
		}
	}

	// A constant image stays exactly constant through area resampling.
	flat := encodePNG(t, greyImage(7, 5, func(x, y int) uint8 { return 200 }))
	got, err := DecodeImage(flat, "flat.png", []int{1, 2, 3}, ImageOptions{Resize: ResizeArea})
	if err != nil || !slices.Equal(got, slices.Repeat([]float32{f(200)}, 6)) {
		t.Errorf("constant image resampled: %v, %v", got, err)
	}

	// ReadImage reads the file as ImageFolder reads it.
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "a", "1.png"), rgb)
	set, _, err := ImageFolder(root, ImageFolderOptions{Color: ImageGrey})
	if err != nil {
		t.Fatal(err)
	}
	got, err = ReadImage(filepath.Join(root, "a", "1.png"), []int{1, 3, 4}, ImageOptions{})
	if err != nil || !slices.Equal(got, set.X) {
		t.Errorf("ReadImage %v (%v), ImageFolder %v", got, err, set.X)
	}
}

func TestReadImageErrors(t *testing.T) {
	small := encodePNG(t, greyImage(5, 3, func(x, y int) uint8 { return 1 }))
	for _, tc := range []struct {
		name  string
		data  []byte
		shape []int
		opt   ImageOptions
		want  string
	}{
		{"size", small, []int{1, 4, 4}, ImageOptions{},
			"datasets: d.png: image of 5×3 pixels (width×height), expected 4×4 (set ImageOptions.Resize to resample)"},
		{"flat shape", small, []int{3, 5}, ImageOptions{}, "datasets: d.png: sample shape [3 5], want (C, H, W)"},
		{"channels", small, []int{2, 3, 5}, ImageOptions{}, "datasets: d.png: sample shape [2 3 5]: 2 channels, want 1 (grey) or 3 (RGB)"},
		{"empty shape", small, []int{1, 0, 5}, ImageOptions{}, "want H, W ≥ 1"},
		{"resize", small, []int{1, 3, 5}, ImageOptions{Resize: 9}, "datasets: d.png: unknown ImageOptions.Resize 9"},
		{"background", small, []int{1, 3, 5}, ImageOptions{Background: -1}, "datasets: d.png: unknown ImageOptions.Background -1"},
		{"max pixels", small, []int{1, 3, 5}, ImageOptions{MaxPixels: 14},
			"datasets: d.png: sample shape [1 3 5]: 5×3 pixels, over the limit of 14 (ImageOptions.MaxPixels)"},
		{"large file", small, []int{1, 2, 2}, ImageOptions{MaxPixels: 14, Resize: ResizeArea},
			"datasets: d.png: png header declares 5×3 = 15 pixels, over the limit of 14 (ImageOptions.MaxPixels); not decoded"},
		{"negative max", small, []int{1, 2, 2}, ImageOptions{MaxPixels: -1}, "ImageOptions.MaxPixels = -1"},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00"), []int{1, 1, 1}, ImageOptions{}, "datasets: d.png: neither PNG nor JPEG (starts with 47 49 46 38 39 61 01 00)"},
		{"empty", nil, []int{1, 1, 1}, ImageOptions{}, "datasets: d.png: neither PNG nor JPEG"},
		{"truncated", small[:len(small)-20], []int{1, 3, 5}, ImageOptions{}, "datasets: d.png: invalid png image"},
		{"huge", hugePNG(100000, 100000), []int{1, 28, 28}, ImageOptions{Resize: ResizeArea}, "over the limit of 33554432 (ImageOptions.MaxPixels); not decoded"},
	} {
		got, err := DecodeImage(tc.data, "d.png", tc.shape, tc.opt)
		if got != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want an error containing %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := ReadImage(filepath.Join(t.TempDir(), "none.png"), []int{1, 2, 2}, ImageOptions{}); !os.IsNotExist(errorsCause(err)) {
		t.Errorf("missing file: %v", err)
	}
}

// errorsCause unwraps err to its first cause.
func errorsCause(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// FuzzDecodeImage checks DecodeImage on any bytes: it never panics, names
// the file in its errors, refuses images over the pixel cap, and yields
// values in [0, 1] of the sample's size.
func FuzzDecodeImage(f *testing.F) {
	f.Add(encodePNG(f, greyImage(4, 4, func(x, y int) uint8 { return uint8(x * y * 16) })), false, uint8(0), false)
	f.Add(encodePNG(f, nrgbaImage(3, 5, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), 2, 3, uint8(y * 60)} })), true, uint8(3), true)
	f.Add(encodeJPEG(f, nrgbaImage(9, 4, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x * 20), 200, 3, 255} })), false, uint8(1), false)
	f.Add(encodeJPEG(f, greyImage(4, 4, func(x, y int) uint8 { return uint8(x * 50) })), true, uint8(2), true)
	pal := image.NewPaletted(image.Rect(0, 0, 6, 2), color.Palette{color.NRGBA{10, 20, 30, 0}, color.NRGBA{255, 0, 128, 99}})
	pal.SetColorIndex(1, 0, 1)
	f.Add(encodePNG(f, pal), false, uint8(3), true)
	f.Add(hugePNG(1000, 1000), false, uint8(3), false)
	f.Add([]byte("\xff\xd8\xff"), true, uint8(0), false)
	const maxPixels = 1 << 12
	f.Fuzz(func(t *testing.T, data []byte, grey bool, resize uint8, black bool) {
		shape := []int{3, 4, 4}
		if grey {
			shape[0] = 1
		}
		opt := ImageOptions{MaxPixels: maxPixels, Resize: ImageResize(resize % 4)}
		if black {
			opt.Background = BackgroundBlack
		}
		x, err := DecodeImage(data, "fuzz.img", shape, opt)
		if err != nil {
			if x != nil || !strings.Contains(err.Error(), "fuzz.img") {
				t.Fatalf("%v with error %q (must be nil, and name the file)", x, err)
			}
			return
		}
		if len(x) != shape[0]*16 {
			t.Fatalf("%d values for shape %v", len(x), shape)
		}
		for i, v := range x {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %d = %v", i, v)
			}
		}
	})
}
