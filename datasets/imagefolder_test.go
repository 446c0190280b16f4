package datasets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// greyImage returns a w×h grey image with pixel (x, y) = f(x, y).
func greyImage(w, h int, f func(x, y int) uint8) *image.Gray {
	m := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetGray(x, y, color.Gray{f(x, y)})
		}
	}
	return m
}

func nrgbaImage(w, h int, f func(x, y int) color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, f(x, y))
		}
	}
	return m
}

// expectedPlanes returns the expected (3, h, w) or, if grey, (1, h, w) planes of
// the 8-bit colour function f, grey computed with the BT.601 weights.
func expectedPlanes(w, h int, grey bool, f func(x, y int) (r, g, b uint8)) []float32 {
	c := 3
	if grey {
		c = 1
	}
	out := make([]float32, c*w*h)
	for y := range h {
		for x := range w {
			r, g, b := f(x, y)
			fr, fg, fb := float32(r)/255, float32(g)/255, float32(b)/255
			if grey {
				out[y*w+x] = 0.299*fr + 0.587*fg + 0.114*fb
			} else {
				out[y*w+x], out[w*h+y*w+x], out[2*w*h+y*w+x] = fr, fg, fb
			}
		}
	}
	return out
}

// closeFloats reports whether got and want differ by at most tol everywhere.
func closeFloats(got, want []float32, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			return false
		}
	}
	return true
}

// testFolder writes the test image folder and returns its root and the
// expected samples, RGB and grey, in order.
func testFolder(t *testing.T) (root string, rgb, grey [][]float32) {
	root = t.TempDir()
	const w, h = 4, 3
	put := func(rel string, b []byte) { writeTestFile(t, filepath.Join(root, rel), b) }

	ga := func(x, y int) uint8 { return uint8(10 * (y*w + x)) }
	gaRGB := func(x, y int) (r, g, b uint8) { v := ga(x, y); return v, v, v }
	nb := func(x, y int) color.NRGBA {
		a := uint8(255)
		if x == 0 && y == 0 {
			a = 0x40 // taken un-premultiplied: the colour is kept
		}
		return color.NRGBA{uint8(60 * x), uint8(80 * y), 200, a}
	}
	nbRGB := func(x, y int) (r, g, b uint8) { c := nb(x, y); return c.R, c.G, c.B }
	// Premultiplied RGBA with one translucent pixel: (100, 50, 0, 128)
	// un-premultiplies to NRGBA (199, 99, 0).
	rgbaImg := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			rgbaImg.SetRGBA(x, y, color.RGBA{uint8(x * 50), uint8(y * 50), 7, 255})
		}
	}
	rgbaImg.SetRGBA(1, 1, color.RGBA{100, 50, 0, 128})
	eRGB := func(x, y int) (r, g, b uint8) {
		if x == 1 && y == 1 {
			c := color.NRGBAModel.Convert(color.RGBA{100, 50, 0, 128}).(color.NRGBA)
			return c.R, c.G, c.B
		}
		return uint8(x * 50), uint8(y * 50), 7
	}
	flatGrey := func(x, y int) uint8 { return 100 }
	flatRGB := func(x, y int) color.NRGBA { return color.NRGBA{200, 50, 100, 255} }

	put("cat/a.png", encodePNG(t, greyImage(w, h, ga)))
	put("cat/B.PNG", encodePNG(t, nrgbaImage(w, h, nb))) // 'B' sorts before 'a'
	put("dog/c.jpeg", encodeJPEG(t, greyImage(w, h, flatGrey)))
	put("dog/d.Jpg", encodeJPEG(t, nrgbaImage(w, h, flatRGB)))
	put("dog/e.png", encodePNG(t, rgbaImg))
	// Ignored: other extensions, hidden files, subfolders, hidden class
	// folders, files in root. Each would fail if read (another size).
	odd := encodePNG(t, greyImage(7, 7, flatGrey))
	put("cat/notes.txt", []byte("not an image"))
	put("cat/a.png.bak", odd)
	put("cat/.hidden.png", odd)
	put("cat/sub/x.png", odd)
	put(".git/x.png", odd)
	put("readme.png", odd)
	put("dog/noext", odd)

	for _, g := range []bool{false, true} {
		var out [][]float32
		out = append(out, expectedPlanes(w, h, g, nbRGB), expectedPlanes(w, h, g, gaRGB))
		if g {
			// Grey images and the luma of JPEG colour images are taken
			// as stored.
			out = append(out, expectedPlanes(w, h, g, func(x, y int) (r, gg, b uint8) { return 100, 100, 100 }))
			y, _, _ := color.RGBToYCbCr(200, 50, 100)
			out = append(out, slices.Repeat([]float32{float32(y) / 255}, w*h))
		} else {
			out = append(out, expectedPlanes(w, h, g, func(x, y int) (r, gg, b uint8) { return 100, 100, 100 }))
			out = append(out, expectedPlanes(w, h, g, func(x, y int) (r, gg, b uint8) { return 200, 50, 100 }))
		}
		out = append(out, expectedPlanes(w, h, g, eRGB))
		if g {
			grey = out
		} else {
			rgb = out
		}
	}
	return root, rgb, grey
}

func TestImageFolder(t *testing.T) {
	root, rgb, grey := testFolder(t)
	for _, tt := range []struct {
		color ImageColor
		c     int
		want  [][]float32
	}{{ImageRGB, 3, rgb}, {ImageGrey, 1, grey}} {
		s, classes, err := ImageFolder(root, ImageFolderOptions{Color: tt.color})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(classes, []string{"cat", "dog"}) || s.Classes != 2 || !slices.Equal(s.Labels, []int{0, 0, 1, 1, 1}) ||
			!slices.Equal(s.Shape, []int{tt.c, 3, 4}) {
			t.Fatalf("colour %d: classes %v (%d), labels %v, shape %v", tt.color, classes, s.Classes, s.Labels, s.Shape)
		}
		for i, want := range tt.want {
			got := s.X[i*len(want) : (i+1)*len(want)]
			tol := 1e-6
			if i == 2 || i == 3 {
				tol = 3.0 / 255 // JPEG
			}
			if !closeFloats(got, want, tol) {
				t.Errorf("colour %d, sample %d:\ngot  %v\nwant %v", tt.color, i, got, want)
			}
		}
		// The PNG samples are exact.
		if !slices.Equal(s.X[:2*len(tt.want[0])], slices.Concat(tt.want[0], tt.want[1])) && tt.color == ImageRGB {
			t.Errorf("PNG samples not exact")
		}
		again, _, err := ImageFolder(root, ImageFolderOptions{Color: tt.color})
		if err != nil || !slices.Equal(again.X, s.X) {
			t.Errorf("second read differs: %v", err)
		}
	}
}

func TestImageFolderBitDepths(t *testing.T) {
	root := t.TempDir()
	g16 := image.NewGray16(image.Rect(0, 0, 2, 1))
	g16.SetGray16(0, 0, color.Gray16{0x1234})
	g16.SetGray16(1, 0, color.Gray16{0xffff})
	pal := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.NRGBA{10, 20, 30, 255}, color.NRGBA{255, 0, 128, 255}})
	pal.SetColorIndex(1, 0, 1)
	writeTestFile(t, filepath.Join(root, "a", "g16.png"), encodePNG(t, g16))
	writeTestFile(t, filepath.Join(root, "a", "pal.png"), encodePNG(t, pal))
	s, _, err := ImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := float32(0x1234) / 65535
	want := []float32{v, 1, v, 1, v, 1, // g16: (3, 1, 2)
		10.0 / 255, 1, 20.0 / 255, 0, 30.0 / 255, 128.0 / 255} // paletted
	if !slices.Equal(s.X, want) {
		t.Errorf("got %v\nwant %v", s.X, want)
	}
}

func TestImageFolderResize(t *testing.T) {
	root := t.TempDir()
	// p: 2×2, q: 4×4, r: 3×1.
	pv := [][]uint8{{0, 255}, {51, 102}}
	writeTestFile(t, filepath.Join(root, "a", "p.png"), encodePNG(t, greyImage(2, 2, func(x, y int) uint8 { return pv[y][x] })))
	qv := func(x, y int) uint8 { return uint8(16*y + 3*x) }
	writeTestFile(t, filepath.Join(root, "a", "q.png"), encodePNG(t, greyImage(4, 4, qv)))
	writeTestFile(t, filepath.Join(root, "b", "r.png"), encodePNG(t, greyImage(3, 1, func(x, y int) uint8 { return uint8(30 * x) })))
	f := func(v uint8) float32 { return float32(v) / 255 }
	lerp := func(a, b float32, t float32) float32 { return a + t*(b-a) }

	// Up to 4×4, bilinear: the taps of 2 → 4 are (0, 0), (0, ¼), (0, ¾),
	// (1, 0) as (index, weight of the next pixel).
	up := func(a, b float32) []float32 { return []float32{a, lerp(a, b, 0.25), lerp(a, b, 0.75), b} }
	r0, r1 := up(f(0), f(255)), up(f(51), f(102))
	var pUp []float32
	for _, wy := range []float32{0, 0.25, 0.75, 1} {
		for x := range 4 {
			pUp = append(pUp, lerp(r0[x], r1[x], wy))
		}
	}
	var qSame []float32
	for y := range 4 {
		for x := range 4 {
			qSame = append(qSame, f(qv(x, y)))
		}
	}
	// r (3×1) to 4×4: 3 → 4 taps at (x + ½)·¾ − ½ = −⅛→0, ⅝, 1⅜, 2⅛→2.
	rv := []float32{f(0), f(30), f(60)}
	rRow := []float32{rv[0], lerp(rv[0], rv[1], 0.625), lerp(rv[1], rv[2], 0.375), rv[2]}
	rUp := slices.Repeat(rRow, 4)
	s, classes, err := ImageFolder(root, ImageFolderOptions{Height: 4, Width: 4, Color: ImageGrey, Resize: ResizeBilinear})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(classes, []string{"a", "b"}) || !slices.Equal(s.Shape, []int{1, 4, 4}) {
		t.Fatalf("classes %v shape %v", classes, s.Shape)
	}
	if want := slices.Concat(pUp, qSame, rUp); !closeFloats(s.X, want, 1e-6) {
		t.Errorf("bilinear to 4×4:\ngot  %v\nwant %v", s.X, want)
	}

	// Default size: the first image's, 2×2. q's 2×2 blocks are averaged;
	// r (3 → 2 at (x + ½)·1.5 − ½ = ¼, 1¾) is lerped.
	s, _, err = ImageFolder(root, ImageFolderOptions{Color: ImageGrey, Resize: ResizeBilinear})
	if err != nil {
		t.Fatal(err)
	}
	var qDown []float32
	for y := 0; y < 4; y += 2 {
		for x := 0; x < 4; x += 2 {
			a := lerp(f(qv(x, y)), f(qv(x+1, y)), 0.5)
			b := lerp(f(qv(x, y+1)), f(qv(x+1, y+1)), 0.5)
			qDown = append(qDown, lerp(a, b, 0.5))
		}
	}
	rDown := slices.Repeat([]float32{lerp(rv[0], rv[1], 0.25), lerp(rv[1], rv[2], 0.75)}, 2)
	pSame := []float32{f(0), f(255), f(51), f(102)}
	if want := slices.Concat(pSame, qDown, rDown); !closeFloats(s.X, want, 1e-6) || !slices.Equal(s.Shape, []int{1, 2, 2}) {
		t.Errorf("bilinear to the first size:\ngot  %v %v\nwant %v", s.Shape, s.X, want)
	}

	// Nearest: 4 → 2 takes pixels 1 and 3; 2 → 4 repeats; 3 → 4 takes
	// ⌊(x + ½)·¾⌋ = 0, 1, 1, 2.
	s, _, err = ImageFolder(root, ImageFolderOptions{Height: 2, Width: 4, Color: ImageGrey, Resize: ResizeNearest})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		f(0), f(0), f(255), f(255), f(51), f(51), f(102), f(102), // p
		f(qv(0, 1)), f(qv(1, 1)), f(qv(2, 1)), f(qv(3, 1)), f(qv(0, 3)), f(qv(1, 3)), f(qv(2, 3)), f(qv(3, 3)), // q
		rv[0], rv[1], rv[1], rv[2], rv[0], rv[1], rv[1], rv[2], // r
	}
	if !slices.Equal(s.X, want) || !slices.Equal(s.Shape, []int{1, 2, 4}) {
		t.Errorf("nearest to 4×2:\ngot  %v %v\nwant %v", s.Shape, s.X, want)
	}

	// RGB resized: the three planes are those of the grey sample.
	s, _, err = ImageFolder(root, ImageFolderOptions{Height: 4, Width: 4, Resize: ResizeBilinear})
	if err != nil {
		t.Fatal(err)
	}
	if !closeFloats(s.X[:48], slices.Concat(pUp, pUp, pUp), 1e-6) {
		t.Errorf("RGB bilinear: got %v", s.X[:48])
	}
}

func TestImageFolderMismatch(t *testing.T) {
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "a", "1.png"), encodePNG(t, greyImage(4, 3, func(x, y int) uint8 { return 0 })))
	writeTestFile(t, filepath.Join(root, "a", "2.png"), encodePNG(t, greyImage(5, 3, func(x, y int) uint8 { return 0 })))
	_, _, err := ImageFolder(root, ImageFolderOptions{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "a", "2.png")+": image of 5×3 pixels (width×height), expected 4×3") {
		t.Errorf("mismatch: %v", err)
	}
	// An explicit size that no image has.
	_, _, err = ImageFolder(root, ImageFolderOptions{Height: 2, Width: 2})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "a", "1.png")+": image of 4×3 pixels (width×height), expected 2×2") {
		t.Errorf("explicit size: %v", err)
	}
}

// hugePNG returns a PNG signature and an IHDR chunk declaring w×h grey
// pixels, and no image data.
func hugePNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 0, 0, 0, 0) // 8-bit grey
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

// patchJPEGSize returns a copy of the JPEG b with the size in its SOF0
// header set to w×h.
func patchJPEGSize(t *testing.T, b []byte, w, h uint16) []byte {
	b = slices.Clone(b)
	i := bytes.Index(b, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(b[i+5:], h)
	binary.BigEndian.PutUint16(b[i+7:], w)
	return b
}

func TestImageFolderErrors(t *testing.T) {
	small := encodePNG(t, greyImage(4, 4, func(x, y int) uint8 { return uint8(x) }))
	jpg := encodeJPEG(t, nrgbaImage(8, 8, func(x, y int) color.NRGBA { return color.NRGBA{1, 2, 3, 255} }))
	noisy := encodeJPEG(t, greyImage(32, 32, func(x, y int) uint8 { return uint8(x*x*7 + y*13) }))
	tests := []struct {
		name  string
		files map[string][]byte
		opt   ImageFolderOptions
		want  string // after root, with {root} replaced
	}{
		{"corrupt header", map[string][]byte{"a/1.png": small, "a/2.png": append([]byte("\x89PNG\r\n\x1a\n"), "garbage!garbage!"...)},
			ImageFolderOptions{}, "{root}/a/2.png: invalid png header"},
		{"truncated image", map[string][]byte{"a/1.png": small, "a/2.png": small[:len(small)-20]},
			ImageFolderOptions{}, "{root}/a/2.png: invalid png image"},
		{"bad JPEG data", map[string][]byte{"a/1.jpg": noisy[:len(noisy)-40]},
			ImageFolderOptions{}, "{root}/a/1.jpg: invalid jpeg image"},
		{"not an image", map[string][]byte{"a/1.png": small, "b/x.JPEG": []byte("hello")},
			ImageFolderOptions{}, "{root}/b/x.JPEG: neither PNG nor JPEG (starts with 68 65 6c 6c 6f)"},
		{"GIF", map[string][]byte{"a/1.png": []byte("GIF89a\x01\x00\x01\x00")},
			ImageFolderOptions{}, "{root}/a/1.png: neither PNG nor JPEG"},
		{"empty file", map[string][]byte{"a/1.png": nil}, ImageFolderOptions{}, "{root}/a/1.png: neither PNG nor JPEG"},
		{"empty class", map[string][]byte{"a/1.png": small, "b/notes.txt": nil},
			ImageFolderOptions{}, "class folder {root}/b holds no .png, .jpg or .jpeg file"},
		{"no class", map[string][]byte{"x.png": small, ".hidden/x.png": small}, ImageFolderOptions{}, "{root} holds no class folder"},
		{"no image", map[string][]byte{"a/x.txt": nil}, ImageFolderOptions{AllowEmpty: true}, "{root} holds no image"},
		{"huge PNG", map[string][]byte{"a/1.png": small, "a/2.png": hugePNG(100000, 100000)},
			ImageFolderOptions{Resize: ResizeBilinear}, "{root}/a/2.png: png header declares 100000×100000 = 10000000000 pixels, over the limit of 33554432 (ImageFolderOptions.MaxPixels); not decoded"},
		{"huge JPEG", map[string][]byte{"a/1.jpg": patchJPEGSize(t, jpg, 60000, 60000)},
			ImageFolderOptions{}, "{root}/a/1.jpg: jpeg header declares 60000×60000 = 3600000000 pixels, over the limit"},
		{"zero-size PNG", map[string][]byte{"a/1.png": hugePNG(0, 5)}, ImageFolderOptions{}, "{root}/a/1.png: invalid png header"},
		{"MaxPixels", map[string][]byte{"a/1.png": small}, ImageFolderOptions{MaxPixels: 15}, "{root}/a/1.png: png header declares 4×4 = 16 pixels, over the limit of 15"},
		{"MaxBytes", map[string][]byte{"a/1.png": small, "a/2.png": small}, ImageFolderOptions{MaxBytes: 383},
			"{root}: 2 images of 3×4×4 float32 values exceed the limit of 383 bytes"},
		{"height only", map[string][]byte{"a/1.png": small}, ImageFolderOptions{Height: 4}, "Height = 4, Width = 0"},
		{"negative size", map[string][]byte{"a/1.png": small}, ImageFolderOptions{Height: -4, Width: -4}, "Height = -4"},
		{"bad colour", map[string][]byte{"a/1.png": small}, ImageFolderOptions{Color: 2}, "unknown ImageFolderOptions.Color 2"},
		{"bad resize", map[string][]byte{"a/1.png": small}, ImageFolderOptions{Resize: -1}, "unknown ImageFolderOptions.Resize -1"},
		{"negative cap", map[string][]byte{"a/1.png": small}, ImageFolderOptions{MaxBytes: -1}, "MaxBytes = -1"},
	}
	for _, tt := range tests {
		root := t.TempDir()
		for rel, b := range tt.files {
			writeTestFile(t, filepath.Join(root, rel), b)
		}
		s, classes, err := ImageFolder(root, tt.opt)
		want := strings.ReplaceAll(tt.want, "{root}", root)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v\nexpected it to contain %q", tt.name, err, want)
		}
		if s != nil || classes != nil {
			t.Errorf("%s: non-nil result with an error", tt.name)
		}
	}
	// Exactly at the MaxBytes limit.
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "a", "1.png"), small)
	writeTestFile(t, filepath.Join(root, "a", "2.png"), small)
	if _, _, err := ImageFolder(root, ImageFolderOptions{MaxBytes: 384}); err != nil {
		t.Errorf("MaxBytes at the limit: %v", err)
	}
	if _, _, err := ImageFolder(filepath.Join(root, "none"), ImageFolderOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing root: %v", err)
	}
}

// TestImageFolderHugeNotDecoded checks that an image declaring a size
// over the cap costs no more than its header.
func TestImageFolderHugeNotDecoded(t *testing.T) {
	root := t.TempDir()
	jpg := encodeJPEG(t, greyImage(16, 16, func(x, y int) uint8 { return uint8(x * y) }))
	writeTestFile(t, filepath.Join(root, "a", "1.jpg"), patchJPEGSize(t, jpg, 65535, 65535))
	var err error
	n := bytesAllocated(func() { _, _, err = ImageFolder(root, ImageFolderOptions{}) })
	if err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Fatalf("error %v", err)
	}
	if n > 1<<20 {
		t.Errorf("allocated %d bytes", n)
	}
}

func TestImageFolderEmptyClass(t *testing.T) {
	root := t.TempDir()
	writeTestFile(t, filepath.Join(root, "b", "1.png"), encodePNG(t, greyImage(2, 2, func(x, y int) uint8 { return 9 })))
	if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ImageFolder(root, ImageFolderOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "a")+" holds no") {
		t.Errorf("empty class refused: %v", err)
	}
	s, classes, err := ImageFolder(root, ImageFolderOptions{AllowEmpty: true, Color: ImageGrey})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(classes, []string{"a", "b"}) || s.Classes != 2 || !slices.Equal(s.Labels, []int{1}) || s.Validate() != nil {
		t.Errorf("AllowEmpty: classes %v (%d) labels %v", classes, s.Classes, s.Labels)
	}
}

// FuzzImageFolderImage checks the per-image path of ImageFolder: the
// decoder never panics, names the file in its errors, refuses images over
// the pixel cap, and yields values in [0, 1].
func FuzzImageFolderImage(f *testing.F) {
	f.Add(encodePNG(f, greyImage(4, 4, func(x, y int) uint8 { return uint8(x * y * 16) })), false, uint8(0))
	f.Add(encodePNG(f, nrgbaImage(3, 5, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x), 2, 3, uint8(y * 60)} })), true, uint8(2))
	f.Add(encodeJPEG(f, nrgbaImage(9, 4, func(x, y int) color.NRGBA { return color.NRGBA{uint8(x * 20), 200, 3, 255} })), false, uint8(1))
	f.Add(encodeJPEG(f, greyImage(4, 4, func(x, y int) uint8 { return uint8(x * 50) })), true, uint8(0))
	f.Add(hugePNG(1000, 1000), false, uint8(2))
	const h, w, maxPixels = 4, 4, 1 << 12
	var dec imageDecoder
	f.Fuzz(func(t *testing.T, data []byte, grey bool, resize uint8) {
		opt := ImageFolderOptions{MaxPixels: maxPixels, Resize: ImageResize(resize % 3)}
		c := 3
		if grey {
			c, opt.Color = 1, ImageGrey
		}
		dst := make([]float32, c*h*w)
		br := bytes.NewReader(data)
		if _, iw, ih, err := imageConfig(bufio.NewReader(br), "fuzz.img", maxPixels); err == nil && int64(iw)*int64(ih) > maxPixels {
			t.Fatalf("%d×%d accepted by imageConfig", iw, ih)
		}
		err := dec.decode(bytes.NewReader(data), "fuzz.img", dst, h, w, opt)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.img") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for i, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %d = %v", i, v)
			}
		}
	})
}
