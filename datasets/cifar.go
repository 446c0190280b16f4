package datasets

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pkg/errors"
)

// The CIFAR-10 and CIFAR-100 data sets (Krizhevsky, "Learning multiple
// layers of features from tiny images", 2009), binary versions, as
// published at https://www.cs.toronto.edu/~kriz/cifar.html.
//
// A batch file is a sequence of fixed-size records and nothing else: no
// header, no trailer. A record is its label bytes (1 for CIFAR-10: the
// class 0..9; 2 for CIFAR-100: the coarse class 0..19, then the fine class
// 0..99) followed by 3,072 pixel bytes, the 32×32 red plane, then the green
// plane, then the blue plane, each row-major (top row first, left to
// right). That is the row-major order of a (3, 32, 32) array, so pixel
// (c, y, x) is pixel byte c·1024 + y·32 + x.

// Archives of the binary versions, and their MD5 sums as published on the
// download page. No checksum is published for the .bin files inside.
const (
	// CIFAR10URL is the CIFAR-10 binary archive (162 MB), MD5
	// c32a1d4ab5d03f1284b67883e8d87530. It unpacks to the folder
	// cifar-10-batches-bin.
	CIFAR10URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	// CIFAR100URL is the CIFAR-100 binary archive (161 MB), MD5
	// 03b5dce01913d631647c71ecec9e9cb8. It unpacks to the folder
	// cifar-100-binary.
	CIFAR100URL = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
)

// CIFAR10Classes names the CIFAR-10 classes: label i is CIFAR10Classes[i],
// as in batches.meta.txt of the archive.
var CIFAR10Classes = [10]string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

const (
	cifarSide   = 32
	cifarPixels = 3 * cifarSide * cifarSide // pixel bytes per record
)

// cifarLabel is one label byte of a record.
type cifarLabel struct {
	field   string // its name in errors: "label", "coarse label", "fine label"
	classes int    // valid values are 0..classes-1
}

// cifarLayout describes one of the data sets: where its files are, what
// its records hold, and how many each file must have. The loaders use the
// published counts; tests override them with smaller ones.
type cifarLayout struct {
	name       string // "cifar-10", prefixed to errors
	url, md5   string // the binary archive
	subdir     string // the folder the archive unpacks to
	labels     []cifarLabel
	trainFiles []string
	testFile   string
	perTrain   int // records in each training file
	perTest    int // records in the test file
}

var (
	cifar10 = cifarLayout{
		name: "cifar-10", url: CIFAR10URL, md5: "c32a1d4ab5d03f1284b67883e8d87530",
		subdir:     "cifar-10-batches-bin",
		labels:     []cifarLabel{{"label", 10}},
		trainFiles: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		testFile:   "test_batch.bin",
		perTrain:   10000, perTest: 10000,
	}
	cifar100 = cifarLayout{
		name: "cifar-100", url: CIFAR100URL, md5: "03b5dce01913d631647c71ecec9e9cb8",
		subdir:     "cifar-100-binary",
		labels:     []cifarLabel{{"coarse label", 20}, {"fine label", 100}},
		trainFiles: []string{"train.bin"},
		testFile:   "test.bin",
		perTrain:   50000, perTest: 10000,
	}
)

// CIFAR10 loads the CIFAR-10 binary version from dir: 50,000 training
// samples (data_batch_1.bin … data_batch_5.bin, 10,000 each, in that order)
// and 10,000 test samples (test_batch.bin). Each sample has shape
// [3 32 32] (channel R, G, B; row; column) with pixel values scaled to
// [0, 1] (byte value / 255): pixel (c, y, x) of sample i is
// X[i·3072 + c·1024 + y·32 + x]. Labels are 0..9, named by
// [CIFAR10Classes]; Classes is 10.
//
// The files are looked for in dir, then in dir/cifar-10-batches-bin, the
// folder the archive [CIFAR10URL] unpacks to; so dir may be that folder or
// the one holding it. An empty dir means $RETINA_DATA. Get the files with
//
//	curl -O https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
//	md5sum cifar-10-binary.tar.gz   # c32a1d4ab5d03f1284b67883e8d87530
//	tar xzf cifar-10-binary.tar.gz  # makes cifar-10-batches-bin/
//
// The MD5 is the one published for the archive; no checksum is published
// for the .bin files themselves, so CIFAR10 cannot verify their content,
// only their layout: before anything is allocated, every file must hold
// exactly the published number of records (its size a multiple of the
// 3,073-byte record, 10,000 records), and while reading, every label must
// be 0..9. A violation is a [*CIFARError] naming the file, the record and
// the field. Memory is allocated once per set at the size the layout fixes:
// 614 MB of float32 for the training set, 123 MB for the test set.
func CIFAR10(dir string) (train, test *Set, err error) {
	return cifar10.load(dir, 0)
}

// CIFAR100 loads the CIFAR-100 binary version from dir: 50,000 training
// samples (train.bin) and 10,000 test samples (test.bin), with the fine
// labels 0..99 (Classes 100) if fine is true, else the coarse labels 0..19
// of the 20 superclasses (Classes 20). Samples are as for [CIFAR10]: shape
// [3 32 32], values in [0, 1], pixel (c, y, x) of sample i at
// X[i·3072 + c·1024 + y·32 + x]. The class names are in the archive's
// fine_label_names.txt and coarse_label_names.txt.
//
// The files are looked for in dir, then in dir/cifar-100-binary, the
// folder the archive [CIFAR100URL] unpacks to; an empty dir means
// $RETINA_DATA. The archive's published MD5 is
// 03b5dce01913d631647c71ecec9e9cb8; none is published for train.bin and
// test.bin. The checks are those of CIFAR10 with 3,074-byte records and
// both labels of every record checked, whichever is returned: coarse
// 0..19, fine 0..99.
func CIFAR100(dir string, fine bool) (train, test *Set, err error) {
	use := 0
	if fine {
		use = 1
	}
	return cifar100.load(dir, use)
}

// A CIFARError reports a CIFAR batch file that does not have the published
// layout.
type CIFARError struct {
	// File is the path of the batch file.
	File string
	// Record is the index, from 0, of the record at fault: the truncated
	// one, the first missing or surplus one, or the one with a bad label.
	Record int
	// Field is the part at fault: "size" (not a whole number of records),
	// "count" (not the published number of records), "label",
	// "coarse label", "fine label", "pixels" (truncated while reading) or
	// "trailer" (data past the last record, appended while reading).
	Field string
	// Offset is the byte offset of the problem in the file.
	Offset int64
	// Msg says what was expected and what was found.
	Msg string
}

func (e *CIFARError) Error() string {
	return fmt.Sprintf("cifar: %s: record %d, %s at offset %d: %s", e.File, e.Record, e.Field, e.Offset, e.Msg)
}

// recordSize is the size of one record in bytes.
func (l *cifarLayout) recordSize() int { return len(l.labels) + cifarPixels }

// files returns the names of all files, training files first.
func (l *cifarLayout) files() []string { return append(slices.Clip(l.trainFiles), l.testFile) }

// load finds the files and reads both sets, keeping label number use.
func (l *cifarLayout) load(dir string, use int) (train, test *Set, err error) {
	if dir, err = l.find(dir); err != nil {
		return nil, nil, err
	}
	var trainPaths []string
	var trainCounts []int
	for _, name := range l.trainFiles {
		trainPaths = append(trainPaths, filepath.Join(dir, name))
		trainCounts = append(trainCounts, l.perTrain)
	}
	testPath := filepath.Join(dir, l.testFile)
	// Check every file's size before allocating anything.
	for i, p := range append(slices.Clip(trainPaths), testPath) {
		n := l.perTest
		if i < len(trainPaths) {
			n = l.perTrain
		}
		if err := l.checkSize(p, n); err != nil {
			return nil, nil, err
		}
	}
	if train, err = l.readSet(trainPaths, trainCounts, use); err != nil {
		return nil, nil, err
	}
	if test, err = l.readSet([]string{testPath}, []int{l.perTest}, use); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// howTo tells where to get the files and where to put them.
func (l *cifarLayout) howTo() string {
	archive := l.url[strings.LastIndex(l.url, "/")+1:]
	return fmt.Sprintf("download %s (MD5 %s), unpack it with `tar xzf %s`, and pass the folder %s it makes (or the folder holding it); it must hold %s",
		l.url, l.md5, archive, l.subdir, strings.Join(l.files(), ", "))
}

// find returns the folder holding all the files: dir (or $RETINA_DATA if
// dir is empty), else its subfolder l.subdir.
func (l *cifarLayout) find(dir string) (string, error) {
	what := "folder"
	if dir == "" {
		if dir = os.Getenv("RETINA_DATA"); dir == "" {
			return "", errors.Errorf("%s: no folder given and RETINA_DATA is not set: %s", l.name, l.howTo())
		}
		what = "RETINA_DATA folder"
	}
	if fi, err := os.Stat(dir); err != nil {
		return "", errors.Errorf("%s: %s %s: %v: %s", l.name, what, dir, err, l.howTo())
	} else if !fi.IsDir() {
		return "", errors.Errorf("%s: %s %s is not a folder: %s", l.name, what, dir, l.howTo())
	}
	missing := l.missing(dir)
	if len(missing) == 0 {
		return dir, nil
	}
	sub := filepath.Join(dir, l.subdir)
	fi, err := os.Stat(sub)
	if err != nil || !fi.IsDir() {
		return "", errors.Errorf("%s: %s %s lacks %s and has no subfolder %s: %s",
			l.name, what, dir, strings.Join(missing, ", "), l.subdir, l.howTo())
	}
	subMissing := l.missing(sub)
	if len(subMissing) == 0 {
		return sub, nil
	}
	return "", errors.Errorf("%s: %s lacks %s: %s", l.name, sub, strings.Join(subMissing, ", "), l.howTo())
}

// missing lists the files dir lacks (or holds as something other than a
// regular file).
func (l *cifarLayout) missing(dir string) []string {
	var m []string
	for _, name := range l.files() {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			m = append(m, name)
		}
	}
	return m
}

// checkSize checks that the file at path holds exactly n records.
func (l *cifarLayout) checkSize(path string, n int) error {
	fi, err := os.Stat(path)
	if err != nil {
		return errors.Wrap(err, l.name)
	}
	if !fi.Mode().IsRegular() {
		return errors.Errorf("%s: %s is not a regular file", l.name, path)
	}
	size, rec := fi.Size(), int64(l.recordSize())
	whole := size / rec
	if extra := size % rec; extra != 0 {
		return &CIFARError{File: path, Record: int(min(whole, int64(n))), Field: "size", Offset: whole * rec,
			Msg: fmt.Sprintf("file holds %d bytes, not a whole number of %d-byte records (%d label byte(s) + %d pixels): %d records and %d bytes of a truncated one, expected %d records",
				size, rec, len(l.labels), cifarPixels, whole, extra, n)}
	}
	if whole != int64(n) {
		first := min(whole, int64(n)) // first missing or surplus record
		return &CIFARError{File: path, Record: int(first), Field: "count", Offset: first * rec,
			Msg: fmt.Sprintf("file holds %d records (%d bytes), expected %d (%d bytes)", whole, size, n, int64(n)*rec)}
	}
	return nil
}

// readSet reads the files at paths, which must hold counts[i] records each,
// into one Set of shape [3 32 32] labelled with label number use. The
// sizes are checked first; then X and Labels are allocated once, at the
// total the counts fix.
func (l *cifarLayout) readSet(paths []string, counts []int, use int) (*Set, error) {
	total := 0
	for i, p := range paths {
		if err := l.checkSize(p, counts[i]); err != nil {
			return nil, err
		}
		total += counts[i]
	}
	s := &Set{
		X:       make([]float32, total*cifarPixels),
		Shape:   []int{3, cifarSide, cifarSide},
		Labels:  make([]int, total),
		Classes: l.labels[use].classes,
	}
	at := 0
	for i, p := range paths {
		n := counts[i]
		if err := l.readFile(p, s.X[at*cifarPixels:(at+n)*cifarPixels], s.Labels[at:at+n], use); err != nil {
			return nil, err
		}
		at += n
	}
	return s, nil
}

// readFile reads len(labels) records from the file at path into x and
// labels, checks every label and that nothing follows the last record.
func (l *cifarLayout) readFile(path string, x []float32, labels []int, use int) error {
	f, err := os.Open(path)
	if err != nil {
		return errors.Wrap(err, l.name)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	nl, rec := len(l.labels), l.recordSize()
	buf := make([]byte, rec)
	for i := range labels {
		off := int64(i) * int64(rec)
		if n, err := io.ReadFull(r, buf); err != nil {
			field := "pixels"
			if n < nl {
				field = l.labels[n].field
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return &CIFARError{File: path, Record: i, Field: field, Offset: off + int64(n),
					Msg: fmt.Sprintf("file ends after %d bytes of the record, expected %d records of %d bytes (did it change while being read?)", n, len(labels), rec)}
			}
			return errors.Wrapf(err, "%s: %s: reading record %d", l.name, path, i)
		}
		for k, lb := range l.labels {
			if int(buf[k]) >= lb.classes {
				return &CIFARError{File: path, Record: i, Field: lb.field, Offset: off + int64(k),
					Msg: fmt.Sprintf("%d, expected 0..%d", buf[k], lb.classes-1)}
			}
		}
		labels[i] = int(buf[use])
		dst := x[i*cifarPixels : (i+1)*cifarPixels]
		for j, b := range buf[nl:] {
			dst[j] = pixelScale[b]
		}
	}
	end := int64(len(labels)) * int64(rec)
	switch n, err := r.Read(buf[:1]); {
	case n > 0:
		return &CIFARError{File: path, Record: len(labels), Field: "trailer", Offset: end,
			Msg: fmt.Sprintf("data after the %d records the file held when opened (did it change while being read?)", len(labels))}
	case err != nil && err != io.EOF:
		return errors.Wrapf(err, "%s: %s: reading past record %d", l.name, path, len(labels)-1)
	}
	return nil
}
