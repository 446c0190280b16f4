package datasets

import (
	"bufio"
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
)

// ImageColor is the colour mode of the samples [ImageFolder] returns.
type ImageColor int

const (
	// ImageRGB, the default, gives samples of shape (3, H, W): the red,
	// green and blue planes. Grey images are replicated into the three
	// planes. Alpha is dropped: the colour channels are taken
	// un-premultiplied, as PIL's convert("RGB") does.
	ImageRGB ImageColor = iota
	// ImageGrey gives samples of shape (1, H, W). Colour images are
	// converted to their ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B
	// (the weights of image/color.GrayModel), computed in float32 on
	// values in [0, 1]; for JPEG colour images, which store that luma, the
	// stored Y plane is taken directly.
	ImageGrey
)

// ImageResize says what [ImageFolder] does with an image whose size
// differs from the sample size.
type ImageResize int

const (
	// ResizeNone, the default, rejects such an image with an error
	// naming the file and both sizes.
	ResizeNone ImageResize = iota
	// ResizeNearest resamples it by nearest neighbour: destination pixel
	// (x, y) takes the source pixel that contains its centre mapped back,
	// ⌊(x + ½)·w/W⌋ (PIL's NEAREST, PyTorch's "nearest-exact").
	ResizeNearest
	// ResizeBilinear resamples it by bilinear interpolation with pixel
	// centres aligned (align_corners=False in PyTorch's terms) and edge
	// pixels repeated. There is no antialiasing filter: reducing an
	// image by more than a factor 2 skips source pixels and may alias.
	ResizeBilinear
)

// Defaults of [ImageFolderOptions].
const (
	// DefaultMaxImagePixels is the default cap on the pixel count (width ×
	// height) an image file may declare: 2^25, about 5800 × 5800.
	// Decoding takes up to about 16 bytes a pixel (a progressive colour
	// JPEG keeps its coefficients), 512 MiB at the cap, plus 12 bytes a
	// pixel for the float32 planes of an image that is resampled.
	DefaultMaxImagePixels = 1 << 25
	// DefaultMaxImageFolderBytes is the default cap on the size of the
	// Set's X, in bytes (4 per value): 4 GiB.
	DefaultMaxImageFolderBytes = 4 << 30
)

// ImageFolderOptions are the options of [ImageFolder]. The zero value
// selects RGB samples of the size of the first image, rejects images of
// another size and refuses empty class folders.
type ImageFolderOptions struct {
	// Height and Width are the size of the samples, in pixels. If both
	// are 0, the size of the first image (in the order of [ImageFolder])
	// is used. Give both or neither.
	Height, Width int
	// Color selects grey (1, H, W) or RGB (3, H, W) samples.
	Color ImageColor
	// Resize says what to do with images of another size: reject them
	// (the default) or resample them.
	Resize ImageResize
	// AllowEmpty keeps class folders that hold no image: they still get
	// a class index and a name. By default such a folder is an error, as
	// in torchvision.
	AllowEmpty bool
	// MaxPixels caps the width × height that an image file may declare
	// in its header; a larger image is refused before it is decoded. If 0,
	// DefaultMaxImagePixels.
	MaxPixels int64
	// MaxBytes caps the size in bytes of the returned X, which is
	// allocated once, before any image is decoded. If 0,
	// DefaultMaxImageFolderBytes.
	MaxBytes int64
}

// ImageFolder reads a folder of images laid out as torchvision's
// ImageFolder expects,
//
//	root/<class>/<image>.png
//	root/<class>/<image>.jpg
//
// and returns them as a Set of float32 samples of shape (C, H, W), C = 1
// for [ImageGrey] and 3 for [ImageRGB], in channel planes, with values in
// [0, 1] (8-bit values divided by 255, 16-bit ones by 65535); and the class
// names.
//
// The classes are the subfolders of root (symbolic links followed), sorted
// by name in byte order, which for UTF-8 names is Python's sorted(); a
// sample's label is the index of its folder in that list, Classes their
// number. In each class folder the files ending in .png, .jpg or .jpeg,
// in any case, are images; other files, subfolders (which are not
// searched, unlike torchvision) and hidden entries, whose name starts with
// '.', are ignored, as are files and hidden folders in root itself. Samples
// come in class order, then file-name order, so the result depends only on
// the folder's contents.
//
// Images are decoded with the standard library, as PNG or JPEG according
// to their content, whatever their extension; the other formats
// torchvision reads (.bmp, .gif, .webp, …) are not. The sample size is
// opt.Height × opt.Width, or that of the first image; images of another
// size are rejected, or resampled if opt.Resize says so (see
// [ImageResize]).
//
// Memory: the header of every image is read first (png.DecodeConfig or
// jpeg.DecodeConfig), and an image that declares more than opt.MaxPixels pixels, or a size
// that differs from the sample size when resizing is off, is refused
// before anything is decoded. X is then allocated once, at most
// opt.MaxBytes, and the images are decoded one at a time into it (their
// headers checked again, in case a file changed). Errors name the file;
// ImageFolder does not panic on any file content.
func ImageFolder(root string, opt ImageFolderOptions) (*Set, []string, error) {
	if err := opt.check(); err != nil {
		return nil, nil, err
	}
	classes, files, err := listImageFolder(root, opt.AllowEmpty)
	if err != nil {
		return nil, nil, err
	}

	// Pass 1: the headers.
	h, w := opt.Height, opt.Width
	for _, f := range files {
		cw, ch, err := imageFileConfig(f.path, opt.MaxPixels)
		if err != nil {
			return nil, nil, err
		}
		if h == 0 {
			h, w = ch, cw
		}
		if opt.Resize == ResizeNone && (cw != w || ch != h) {
			return nil, nil, errors.Errorf("imagefolder: %s: image of %d×%d pixels (width×height), expected %d×%d (set ImageFolderOptions.Resize to resample)",
				f.path, cw, ch, w, h)
		}
	}
	c := 3
	if opt.Color == ImageGrey {
		c = 1
	}
	ss := int64(c) * int64(h) * int64(w) // ≤ 3 · MaxPixels or Height·Width (< 2^62)
	if ss > math.MaxInt/4 || int64(len(files)) > opt.MaxBytes/(4*ss) {
		return nil, nil, errors.Errorf("imagefolder: %s: %d images of %d×%d×%d float32 values exceed the limit of %d bytes (ImageFolderOptions.MaxBytes)",
			root, len(files), c, h, w, opt.MaxBytes)
	}

	// Pass 2: decode into X.
	set := &Set{
		X:       make([]float32, int64(len(files))*ss),
		Shape:   []int{c, h, w},
		Labels:  make([]int, len(files)),
		Classes: len(classes),
	}
	var dec imageDecoder
	for i, f := range files {
		if err := dec.decodeFile(f.path, set.X[int64(i)*ss:int64(i+1)*ss], h, w, opt); err != nil {
			return nil, nil, err
		}
		set.Labels[i] = f.label
	}
	return set, classes, nil
}

func (opt *ImageFolderOptions) check() error {
	switch {
	case opt.Height < 0 || opt.Width < 0 || (opt.Height == 0) != (opt.Width == 0):
		return errors.Errorf("imagefolder: Height = %d, Width = %d: give both > 0, or both 0 for the size of the first image", opt.Height, opt.Width)
	case int64(opt.Height)*int64(opt.Width) > 1<<40:
		return errors.Errorf("imagefolder: Height × Width = %d × %d is too large", opt.Height, opt.Width)
	case opt.Color != ImageRGB && opt.Color != ImageGrey:
		return errors.Errorf("imagefolder: unknown ImageFolderOptions.Color %d", opt.Color)
	case opt.Resize < ResizeNone || opt.Resize > ResizeBilinear:
		return errors.Errorf("imagefolder: unknown ImageFolderOptions.Resize %d", opt.Resize)
	case opt.MaxPixels < 0 || opt.MaxBytes < 0:
		return errors.Errorf("imagefolder: MaxPixels = %d, MaxBytes = %d, expected ≥ 0", opt.MaxPixels, opt.MaxBytes)
	}
	if opt.MaxPixels == 0 {
		opt.MaxPixels = DefaultMaxImagePixels
	}
	if opt.MaxBytes == 0 {
		opt.MaxBytes = DefaultMaxImageFolderBytes
	}
	return nil
}

type imageFile struct {
	path  string
	label int
}

// isImageName reports whether name is that of an image ImageFolder reads.
func isImageName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// listImageFolder returns the sorted class names and the image files of
// root, in class then name order.
func listImageFolder(root string, allowEmpty bool) ([]string, []imageFile, error) {
	entries, err := os.ReadDir(root) // sorted by name
	if err != nil {
		return nil, nil, errors.Wrap(err, "imagefolder")
	}
	var classes []string
	var files []imageFile
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if st, err := os.Stat(dir); err != nil || !st.IsDir() { // follows links
			continue
		}
		imgs, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, errors.Wrap(err, "imagefolder")
		}
		n := len(files)
		for _, im := range imgs {
			if !isImageName(im.Name()) {
				continue
			}
			p := filepath.Join(dir, im.Name())
			st, err := os.Stat(p) // follows links
			if err != nil {
				return nil, nil, errors.Wrap(err, "imagefolder")
			}
			if !st.Mode().IsRegular() {
				continue
			}
			files = append(files, imageFile{p, len(classes)})
		}
		if len(files) == n && !allowEmpty {
			return nil, nil, errors.Errorf("imagefolder: class folder %s holds no .png, .jpg or .jpeg file (set ImageFolderOptions.AllowEmpty to keep it)", dir)
		}
		classes = append(classes, e.Name())
	}
	if len(classes) == 0 {
		return nil, nil, errors.Errorf("imagefolder: %s holds no class folder", root)
	}
	if len(files) == 0 {
		return nil, nil, errors.Errorf("imagefolder: %s holds no image", root)
	}
	return classes, files, nil
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

// Image formats read by ImageFolder.
const (
	formatPNG  = "png"
	formatJPEG = "jpeg"
)

// imageConfig reads the header of the PNG or JPEG image in r and returns
// its format and size, checked against maxPixels. name is used in errors.
func imageConfig(r *bufio.Reader, name string, maxPixels int64) (format string, w, h int, err error) {
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
		return "", 0, 0, errors.Errorf("imagefolder: %s: neither PNG nor JPEG (starts with % x)", name, magic)
	}
	if err != nil {
		return "", 0, 0, errors.Wrapf(err, "imagefolder: %s: invalid %s header", name, format)
	}
	w, h = cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return "", 0, 0, errors.Errorf("imagefolder: %s: %s header declares %d×%d pixels, expected a positive size", name, format, w, h)
	}
	if int64(w) > maxPixels/int64(h) {
		return "", 0, 0, errors.Errorf("imagefolder: %s: %s header declares %d×%d = %d pixels, over the limit of %d (ImageFolderOptions.MaxPixels); not decoded",
			name, format, w, h, int64(w)*int64(h), maxPixels)
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

// decode decodes the PNG or JPEG image in r, checking its declared size
// against opt.MaxPixels first, and writes it into dst as c planes of h × w
// values in [0, 1], resampled if opt.Resize allows. name is used in
// errors.
func (d *imageDecoder) decode(r io.ReadSeeker, name string, dst []float32, h, w int, opt ImageFolderOptions) error {
	br := bufio.NewReader(r)
	format, iw, ih, err := imageConfig(br, name, opt.MaxPixels)
	if err != nil {
		return err
	}
	if (iw != w || ih != h) && opt.Resize == ResizeNone {
		return errors.Errorf("imagefolder: %s: image of %d×%d pixels (width×height), expected %d×%d", name, iw, ih, w, h)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return errors.Wrapf(err, "imagefolder: %s", name)
	}
	br.Reset(r)
	var img image.Image
	if format == formatPNG {
		img, err = png.Decode(br)
	} else {
		img, err = jpeg.Decode(br)
	}
	if err != nil {
		return errors.Wrapf(err, "imagefolder: %s: invalid %s image", name, format)
	}
	if b := img.Bounds(); b.Dx() != iw || b.Dy() != ih {
		return errors.Errorf("imagefolder: %s: decoded %d×%d pixels, header declares %d×%d", name, b.Dx(), b.Dy(), iw, ih)
	}
	c := len(dst) / (h * w)
	if iw == w && ih == h {
		imagePlanes(img, c == 1, dst)
		return nil
	}
	n := c * iw * ih
	if cap(d.planes) < n {
		d.planes = make([]float32, n)
	}
	src := d.planes[:n]
	imagePlanes(img, c == 1, src)
	for k := range c {
		resamplePlane(src[k*iw*ih:(k+1)*iw*ih], iw, ih, dst[k*w*h:(k+1)*w*h], w, h, opt.Resize)
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
// Dy × Dx values in [0, 1].
func imagePlanes(img image.Image, grey bool, dst []float32) {
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
				put(y*w+x, float32(p[0])/s8, float32(p[1])/s8, float32(p[2])/s8)
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
				put(y*w+x, float32(c.R)/s8, float32(c.G)/s8, float32(c.B)/s8)
			}
		}
	default:
		// Paletted, 16-bit colour, CMYK JPEG, …: through the
		// un-premultiplied 16-bit model, exact for 8- and 16-bit data.
		for y := range h {
			for x := range w {
				c := color.NRGBA64Model.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				put(y*w+x, float32(c.R)/s16, float32(c.G)/s16, float32(c.B)/s16)
			}
		}
	}
}

// resamplePlane resamples the sw × sh plane src into the dw × dh plane
// dst by method (ResizeNearest or ResizeBilinear); see [ImageResize].
func resamplePlane(src []float32, sw, sh int, dst []float32, dw, dh int, method ImageResize) {
	if method == ResizeNearest {
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
