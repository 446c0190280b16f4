package datasets

import (
	"bufio"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"

	"github.com/pkg/errors"
)

// ImageBackground is the colour ReadImage composites transparent pixels on.
type ImageBackground int

const (
	// BackgroundWhite, the default, composites on white: c·α + (1 − α),
	// what an image viewer shows on a white page. A drawing of dark
	// strokes on a transparent canvas becomes dark on white.
	BackgroundWhite ImageBackground = iota
	// BackgroundBlack composites on black: c·α (the premultiplied colour).
	BackgroundBlack
)

// ImageOptions are the options of [ReadImage] and [DecodeImage]. The zero
// value rejects an image whose size is not the sample's, composites
// transparent pixels on white and caps images at DefaultMaxImagePixels.
type ImageOptions struct {
	// Resize says what to do with an image of another size than the
	// sample's: reject it (ResizeNone, the default) or resample it
	// (ResizeArea to shrink a large image, ResizeBilinear, ResizeNearest;
	// see [ImageResize]).
	Resize ImageResize
	// Background is the colour transparent pixels are composited on.
	Background ImageBackground
	// MaxPixels caps the width × height the file may declare, and the
	// sample's H × W; a larger image is refused before it is decoded. If
	// 0, DefaultMaxImagePixels.
	MaxPixels int64
}

// ReadImage reads the PNG or JPEG image file at path (told apart by its
// content, whatever its extension) into a new sample of shape (C, H, W) =
// shape, in channel planes, with values in [0, 1] scaled as the data set
// loaders scale pixels: 8-bit values divided by 255 (MNIST's and
// ImageFolder's scaling), 16-bit ones by 65535.
//
// C = 1 gives grey samples: colour images are converted to their ITU-R
// BT.601 luma 0.299 R + 0.587 G + 0.114 B (image/color.GrayModel's
// weights), computed in float32 on values in [0, 1] (a colour JPEG's
// stored Y plane is taken directly). C = 3 gives the red, green and blue
// planes, grey images replicated into the three. Transparent pixels are
// composited on opt.Background (white by default) in float32, c·α + b·(1 −
// α) with the un-premultiplied colour c, before the conversion to grey.
//
// An image of another size than H × W is rejected with an error naming the
// file, its size and the sample's, unless opt.Resize resamples it. The
// file's header is checked against opt.MaxPixels before anything is
// decoded; errors name the file, and no file content makes ReadImage
// panic. The result is the same as ImageFolder's for an opaque image of
// the same options.
func ReadImage(path string, shape []int, opt ImageOptions) ([]float32, error) {
	sp, err := opt.spec(path, shape)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrap(err, "datasets")
	}
	defer f.Close()
	dst := make([]float32, shape[0]*sp.h*sp.w)
	var d imageDecoder
	if err := d.decodeSpec(f, path, dst, sp); err != nil {
		return nil, err
	}
	return dst, nil
}

// DecodeImage is [ReadImage] for the contents of a PNG or JPEG file, named
// name in errors.
func DecodeImage(data []byte, name string, shape []int, opt ImageOptions) ([]float32, error) {
	sp, err := opt.spec(name, shape)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, shape[0]*sp.h*sp.w)
	var d imageDecoder
	if err := d.decodeSpec(bytes.NewReader(data), name, dst, sp); err != nil {
		return nil, err
	}
	return dst, nil
}

// spec checks the options and the sample shape (C, H, W) for the image
// named name.
func (opt ImageOptions) spec(name string, shape []int) (imageSpec, error) {
	maxPixels := opt.MaxPixels
	if maxPixels == 0 {
		maxPixels = DefaultMaxImagePixels
	}
	switch {
	case len(shape) != 3:
		return imageSpec{}, errors.Errorf("datasets: %s: sample shape %v, want (C, H, W)", name, shape)
	case shape[0] != 1 && shape[0] != 3:
		return imageSpec{}, errors.Errorf("datasets: %s: sample shape %v: %d channels, want 1 (grey) or 3 (RGB)", name, shape, shape[0])
	case shape[1] < 1 || shape[2] < 1:
		return imageSpec{}, errors.Errorf("datasets: %s: sample shape %v, want H, W ≥ 1", name, shape)
	case opt.Resize < ResizeNone || opt.Resize > ResizeArea:
		return imageSpec{}, errors.Errorf("datasets: %s: unknown ImageOptions.Resize %d", name, opt.Resize)
	case opt.Background != BackgroundWhite && opt.Background != BackgroundBlack:
		return imageSpec{}, errors.Errorf("datasets: %s: unknown ImageOptions.Background %d", name, opt.Background)
	case maxPixels < 0:
		return imageSpec{}, errors.Errorf("datasets: %s: ImageOptions.MaxPixels = %d, want ≥ 0", name, opt.MaxPixels)
	case int64(shape[1]) > maxPixels/int64(shape[2]):
		return imageSpec{}, errors.Errorf("datasets: %s: sample shape %v: %d×%d pixels, over the limit of %d (ImageOptions.MaxPixels)",
			name, shape, shape[2], shape[1], maxPixels)
	}
	sp := imageSpec{h: shape[1], w: shape[2], grey: shape[0] == 1, resize: opt.Resize, maxPixels: maxPixels,
		alpha: alphaWhite, prefix: "datasets", options: "ImageOptions", hint: " (set ImageOptions.Resize to resample)"}
	if opt.Background == BackgroundBlack {
		sp.alpha = alphaBlack
	}
	return sp, nil
}

// An ImageSizeError reports an image whose size is not the sample's, read
// without resizing. ReadImage, DecodeImage and ImageFolder return it.
type ImageSizeError struct {
	Name                  string // the file
	Width, Height         int    // the image's size, in pixels
	WantWidth, WantHeight int    // the sample's

	prefix, hint string
}

func (e *ImageSizeError) Error() string {
	return fmt.Sprintf("%s: %s: image of %d×%d pixels (width×height), expected %d×%d%s", e.prefix, e.Name, e.Width, e.Height, e.WantWidth, e.WantHeight, e.hint)
}

// alphaMode says what becomes of transparency.
type alphaMode int

const (
	alphaDrop  alphaMode = iota // the un-premultiplied colour, alpha ignored (ImageFolder, PIL's convert("RGB"))
	alphaWhite                  // composited on white
	alphaBlack                  // composited on black
)

// imageSpec says how to decode an image into a sample, and how to name
// things in errors.
type imageSpec struct {
	h, w      int
	grey      bool
	resize    ImageResize
	maxPixels int64
	alpha     alphaMode
	prefix    string // errors start "<prefix>: <name>: …"
	options   string // the options type errors name
	hint      string // appended to the size-mismatch error
}

// spec is the imageSpec of ImageFolder's h × w samples.
func (opt *ImageFolderOptions) spec(h, w int) imageSpec {
	return imageSpec{h: h, w: w, grey: opt.Color == ImageGrey, resize: opt.Resize, maxPixels: opt.MaxPixels,
		alpha: alphaDrop, prefix: "imagefolder", options: "ImageFolderOptions"}
}

// imageFileConfig returns the size the image file at path declares.
func imageFileConfig(path string, maxPixels int64) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, errors.Wrap(err, "imagefolder")
	}
	defer f.Close()
	_, w, h, err = imageConfig(bufio.NewReader(f), path, maxPixels)
	return w, h, err
}

// Image formats read by ImageFolder and ReadImage.
const (
	formatPNG  = "png"
	formatJPEG = "jpeg"
)

// imageConfig reads the header of the PNG or JPEG image in r and returns
// its format and size, checked against maxPixels, with ImageFolder's
// errors. name is used in errors.
func imageConfig(r *bufio.Reader, name string, maxPixels int64) (format string, w, h int, err error) {
	return imageSpec{prefix: "imagefolder", options: "ImageFolderOptions", maxPixels: maxPixels}.config(r, name)
}

// config reads the header of the PNG or JPEG image in r and returns its
// format and size, checked against sp.maxPixels. name is used in errors.
func (sp imageSpec) config(r *bufio.Reader, name string) (format string, w, h int, err error) {
	magic, _ := r.Peek(8)
	var cfg image.Config
	switch {
	case bytes.HasPrefix(magic, []byte("\x89PNG\r\n\x1a\n")):
		format = formatPNG
		cfg, err = png.DecodeConfig(r)
	case bytes.HasPrefix(magic, []byte{0xff, 0xd8}):
		format = formatJPEG
		cfg, err = jpeg.DecodeConfig(r)
	default:
		return "", 0, 0, errors.Errorf("%s: %s: neither PNG nor JPEG (starts with % x)", sp.prefix, name, magic)
	}
	if err != nil {
		return "", 0, 0, errors.Wrapf(err, "%s: %s: invalid %s header", sp.prefix, name, format)
	}
	w, h = cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return "", 0, 0, errors.Errorf("%s: %s: %s header declares %d×%d pixels, expected a positive size", sp.prefix, name, format, w, h)
	}
	if int64(w) > sp.maxPixels/int64(h) {
		return "", 0, 0, errors.Errorf("%s: %s: %s header declares %d×%d = %d pixels, over the limit of %d (%s.MaxPixels); not decoded",
			sp.prefix, name, format, w, h, int64(w)*int64(h), sp.maxPixels, sp.options)
	}
	return format, w, h, nil
}

// imageDecoder decodes images into sample planes, reusing a buffer for
// resampling.
type imageDecoder struct {
	planes []float32
}

func (d *imageDecoder) decodeFile(path string, dst []float32, h, w int, opt ImageFolderOptions) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.Wrap(err, "imagefolder")
	}
	defer f.Close()
	return d.decode(f, path, dst, h, w, opt)
}

// decode decodes the PNG or JPEG image in r as ImageFolder does, into dst,
// len(dst)/(h·w) planes of h × w values in [0, 1]. name is used in errors.
func (d *imageDecoder) decode(r io.ReadSeeker, name string, dst []float32, h, w int, opt ImageFolderOptions) error {
	sp := opt.spec(h, w)
	sp.grey = len(dst) == h*w
	return d.decodeSpec(r, name, dst, sp)
}

// decodeSpec decodes the PNG or JPEG image in r, checking its declared
// size against sp.maxPixels first, and writes it into dst as 1 (sp.grey)
// or 3 planes of sp.h × sp.w values in [0, 1], resampled if sp.resize
// allows. name is used in errors.
func (d *imageDecoder) decodeSpec(r io.ReadSeeker, name string, dst []float32, sp imageSpec) error {
	br := bufio.NewReader(r)
	format, iw, ih, err := sp.config(br, name)
	if err != nil {
		return err
	}
	h, w := sp.h, sp.w
	if (iw != w || ih != h) && sp.resize == ResizeNone {
		return &ImageSizeError{Name: name, Width: iw, Height: ih, WantWidth: w, WantHeight: h, prefix: sp.prefix, hint: sp.hint}
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return errors.Wrapf(err, "%s: %s", sp.prefix, name)
	}
	br.Reset(r)
	var img image.Image
	if format == formatPNG {
		img, err = png.Decode(br)
	} else {
		img, err = jpeg.Decode(br)
	}
	if err != nil {
		return errors.Wrapf(err, "%s: %s: invalid %s image", sp.prefix, name, format)
	}
	if b := img.Bounds(); b.Dx() != iw || b.Dy() != ih {
		return errors.Errorf("%s: %s: decoded %d×%d pixels, header declares %d×%d", sp.prefix, name, b.Dx(), b.Dy(), iw, ih)
	}
	c := 3
	if sp.grey {
		c = 1
	}
	if iw == w && ih == h {
		imagePlanes(img, sp.grey, sp.alpha, dst)
		return nil
	}
	n := c * iw * ih
	if cap(d.planes) < n {
		d.planes = make([]float32, n)
	}
	src := d.planes[:n]
	imagePlanes(img, sp.grey, sp.alpha, src)
	for k := range c {
		resamplePlane(src[k*iw*ih:(k+1)*iw*ih], iw, ih, dst[k*w*h:(k+1)*w*h], w, h, sp.resize)
	}
	return nil
}

// Luma weights of ITU-R BT.601, as in image/color.GrayModel.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// imagePlanes writes img into dst as 1 (grey) or 3 (RGB) planes of
// Dy × Dx values in [0, 1], transparency treated as alpha says.
func imagePlanes(img image.Image, grey bool, alpha alphaMode, dst []float32) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	np := w * h
	put := func(i int, r, g, bl float32) {
		if grey {
			dst[i] = lumaR*r + lumaG*g + lumaB*bl
		} else {
			dst[i], dst[np+i], dst[2*np+i] = r, g, bl
		}
	}
	// putAlpha composites the un-premultiplied colour (r, g, bl) of
	// opacity a, all in [0, 1].
	putAlpha := func(i int, r, g, bl, a float32) {
		switch {
		case a == 1 || alpha == alphaDrop:
		case alpha == alphaBlack:
			r, g, bl = r*a, g*a, bl*a
		default:
			r, g, bl = r*a+(1-a), g*a+(1-a), bl*a+(1-a)
		}
		put(i, r, g, bl)
	}
	const s8, s16 = 255, 65535 // divisors: float32(v)/255 as MNIST
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				g := float32(v) / s8
				if grey {
					dst[y*w+x] = g
				} else {
					put(y*w+x, g, g, g)
				}
			}
		}
	case *image.Gray16:
		for y := range h {
			for x := range w {
				o := y*m.Stride + 2*x
				g := float32(uint16(m.Pix[o])<<8|uint16(m.Pix[o+1])) / s16
				if grey {
					dst[y*w+x] = g
				} else {
					put(y*w+x, g, g, g)
				}
			}
		}
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				if grey {
					dst[y*w+x] = float32(m.Y[yi]) / s8
					continue
				}
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				put(y*w+x, float32(r)/s8, float32(g)/s8, float32(bl)/s8)
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				p := row[4*x : 4*x+4]
				putAlpha(y*w+x, float32(p[0])/s8, float32(p[1])/s8, float32(p[2])/s8, float32(p[3])/s8)
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				p := row[4*x : 4*x+4]
				if p[3] == 255 {
					put(y*w+x, float32(p[0])/s8, float32(p[1])/s8, float32(p[2])/s8)
					continue
				}
				c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
				putAlpha(y*w+x, float32(c.R)/s8, float32(c.G)/s8, float32(c.B)/s8, float32(c.A)/s8)
			}
		}
	default:
		// Paletted, 16-bit colour, CMYK JPEG, …: through the
		// un-premultiplied 16-bit model, exact for 8- and 16-bit data.
		for y := range h {
			for x := range w {
				c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				putAlpha(y*w+x, float32(c.R)/s16, float32(c.G)/s16, float32(c.B)/s16, float32(c.A)/s16)
			}
		}
	}
}

// resamplePlane resamples the sw × sh plane src into the dw × dh plane
// dst by method (ResizeNearest, ResizeBilinear or ResizeArea); see
// [ImageResize].
func resamplePlane(src []float32, sw, sh int, dst []float32, dw, dh int, method ImageResize) {
	switch method {
	case ResizeNearest:
		xs := make([]int, dw)
		for x := range xs {
			xs[x] = min(int((float64(x)+0.5)*float64(sw)/float64(dw)), sw-1)
		}
		for y := range dh {
			sy := min(int((float64(y)+0.5)*float64(sh)/float64(dh)), sh-1)
			row := src[sy*sw : (sy+1)*sw]
			for x, sx := range xs {
				dst[y*dw+x] = row[sx]
			}
		}
		return
	case ResizeArea:
		// Rows first (sh × dw), then columns.
		xt, yt := areaTaps(sw, dw), areaTaps(sh, dh)
		tmp := make([]float32, sh*dw)
		for y := range sh {
			xt.apply(src[y*sw:(y+1)*sw], 1, tmp[y*dw:(y+1)*dw], 1)
		}
		for x := range dw {
			yt.apply(tmp[x:], dw, dst[x:], dw)
		}
		return
	}
	x0, x1, fx := bilinearTaps(sw, dw)
	y0, y1, fy := bilinearTaps(sh, dh)
	for y := range dh {
		r0, r1 := src[y0[y]*sw:(y0[y]+1)*sw], src[y1[y]*sw:(y1[y]+1)*sw]
		wy := fy[y]
		for x := range dw {
			a := r0[x0[x]] + fx[x]*(r0[x1[x]]-r0[x0[x]])
			b := r1[x0[x]] + fx[x]*(r1[x1[x]]-r1[x0[x]])
			dst[y*dw+x] = a + wy*(b-a)
		}
	}
}

// bilinearTaps returns, for each of the n destination coordinates, the
// two source coordinates (of m) and the weight of the second, with pixel
// centres aligned: the centre x + ½ maps to (x + ½)·m/n in the source.
func bilinearTaps(m, n int) (i0, i1 []int, f []float32) {
	i0, i1, f = make([]int, n), make([]int, n), make([]float32, n)
	for x := range n {
		s := (float64(x)+0.5)*float64(m)/float64(n) - 0.5
		s = max(s, 0)
		lo := min(int(s), m-1)
		i0[x], i1[x] = lo, min(lo+1, m-1)
		f[x] = float32(s - float64(lo))
		if lo == m-1 {
			f[x] = 0
		}
	}
	return i0, i1, f
}

// taps are the source pixels and weights of each destination pixel of a
// one-dimensional area resampling: destination x reads weight[k] ·
// src[first[x] + k - start[x]] for k in start[x]..start[x+1]-1.
type taps struct {
	first  []int     // first source pixel of each destination pixel
	start  []int     // offsets into weight, one more than the pixels
	weight []float64 // the weights, each pixel's summing to 1
}

// areaTaps returns the taps of resampling m pixels to n by area: with both
// axes scaled to the common length m·n, destination pixel x covers [x·m,
// (x+1)·m) and source pixel i covers [i·n, (i+1)·n); x is the mean of the
// source pixels it covers, each weighted by the length they share, over m.
func areaTaps(m, n int) taps {
	t := taps{first: make([]int, n), start: make([]int, n+1)}
	for x := range n {
		lo, hi := int64(x)*int64(m), int64(x+1)*int64(m)
		i := int(lo / int64(n))
		t.first[x] = i
		for ; i < m && int64(i)*int64(n) < hi; i++ {
			overlap := min(int64(i+1)*int64(n), hi) - max(int64(i)*int64(n), lo)
			t.weight = append(t.weight, float64(overlap)/float64(m))
		}
		t.start[x+1] = len(t.weight)
	}
	return t
}

// apply resamples the line src (elements stride apart) into dst (elements
// dstride apart), summing in float64: a constant line stays that constant.
func (t taps) apply(src []float32, stride int, dst []float32, dstride int) {
	for x := range t.first {
		var s float64
		for k, wt := range t.weight[t.start[x]:t.start[x+1]] {
			s += wt * float64(src[(t.first[x]+k)*stride])
		}
		dst[x*dstride] = float32(s)
	}
}
