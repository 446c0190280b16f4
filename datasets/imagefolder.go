package datasets

import (
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
	// ResizeArea resamples it by area (a box filter, PIL's BOX, OpenCV's
	// INTER_AREA when shrinking): each destination pixel is the mean of
	// the source area it covers, each source pixel weighted by the
	// fraction of it inside, rows then columns, summed in float64. Every
	// source pixel counts, so shrinking a large photograph does not alias;
	// enlarging repeats pixels, blending the two at each boundary.
	ResizeArea
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
			return nil, nil, &ImageSizeError{Name: f.path, Width: cw, Height: ch, WantWidth: w, WantHeight: h,
				prefix: "imagefolder", hint: " (set ImageFolderOptions.Resize to resample)"}
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
	case opt.Resize < ResizeNone || opt.Resize > ResizeArea:
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
