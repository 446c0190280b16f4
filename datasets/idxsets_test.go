package datasets

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func idxMD5Hex(b []byte) string {
	h := md5.Sum(b)
	return hex.EncodeToString(h[:])
}

// idxGenFile is a generated stand-in for one file of a data set.
type idxGenFile struct {
	raw []byte // the uncompressed IDX file
	gz  []byte // raw, gzip-compressed
}

// genIDXSet generates small files in the published layout of the data set
// name — train training and test test samples of 28×28 bytes, labels 0..9 —
// and installs, for the duration of the test, a table entry for name that
// expects those counts and the checksums of the generated files (of the .gz
// and of the uncompressed form). It returns the files, in the order of
// idxSet.files.
func genIDXSet(t *testing.T, name string, train, test int) [4]idxGenFile {
	t.Helper()
	var files [4]idxGenFile
	for k, n := range []int{train, test} {
		img := make([]byte, n*28*28)
		for i := range img {
			img[i] = byte(i*31 + 7*k) // every byte value, 0 and 255 included
		}
		lab := make([]byte, n)
		for i := range lab {
			lab[i] = byte((i*3 + k) % 10)
		}
		files[2*k].raw = encodeIDX(0x08, []uint32{uint32(n), 28, 28}, img)
		files[2*k+1].raw = encodeIDX(0x08, []uint32{uint32(n)}, lab)
	}
	for i := range files {
		files[i].gz = gzipBytes(t, files[i].raw)
	}
	s := *lookupIDXSet(name)
	s.train, s.test = train, test
	for i, f := range files {
		s.files[i].size = int64(len(f.gz))
		s.files[i].sha256 = sha256Hex(f.gz)
		s.files[i].md5 = idxMD5Hex(f.gz)
		s.files[i].rawSHA256 = sha256Hex(f.raw)
	}
	setIDXSet(t, &s)
	return files
}

// setIDXSet replaces the table entry named s.name for the duration of the
// test.
func setIDXSet(t *testing.T, s *idxSet) {
	t.Helper()
	i := slices.IndexFunc(idxSets, func(e *idxSet) bool { return e.name == s.name })
	if i < 0 {
		t.Fatalf("no data set %q", s.name)
	}
	old := idxSets[i]
	idxSets[i] = s
	t.Cleanup(func() { idxSets[i] = old })
}

// writeIDXSet writes files into dir under their published names: the .gz
// files if gz, else the uncompressed ones.
func writeIDXSet(t *testing.T, dir string, files [4]idxGenFile, gz bool) {
	t.Helper()
	s := idxSets[0]
	for i, f := range files {
		name, content := s.files[i].gzName(), f.gz
		if !gz {
			name, content = s.files[i].base, f.raw
		}
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkIDXSet checks that train and test hold exactly what files encode.
func checkIDXSet(t *testing.T, train, test *Set, files [4]idxGenFile, trainN, testN int) {
	t.Helper()
	for k, c := range []struct {
		s *Set
		n int
	}{{train, trainN}, {test, testN}} {
		s := c.s
		if s.Len() != c.n || len(s.X) != c.n*784 || !slices.Equal(s.Shape, []int{1, 28, 28}) || s.Classes != 10 {
			t.Fatalf("set %d: Len %d, len(X) %d, Shape %v, Classes %d", k, s.Len(), len(s.X), s.Shape, s.Classes)
		}
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
		img, lab := files[2*k].raw[16:], files[2*k+1].raw[8:]
		lo, hi := float32(1), float32(0)
		for i, v := range s.X {
			if want := float32(img[i]) / 255; v != want {
				t.Fatalf("set %d: X[%d] = %v, want %v", k, i, v, want)
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo != 0 || hi != 1 {
			t.Errorf("set %d: pixel range [%v, %v], want [0, 1]", k, lo, hi)
		}
		for i, l := range s.Labels {
			if l != int(lab[i]) {
				t.Fatalf("set %d: label %d = %d, want %d", k, i, l, lab[i])
			}
		}
	}
}

func TestLoadGenerated(t *testing.T) {
	for _, name := range Names() {
		for _, gz := range []bool{true, false} {
			t.Run(name+map[bool]string{true: " gz", false: " uncompressed"}[gz], func(t *testing.T) {
				files := genIDXSet(t, name, 5, 3)
				dir := t.TempDir()
				writeIDXSet(t, dir, files, gz)
				train, test, err := Load(name, dir)
				if err != nil {
					t.Fatal(err)
				}
				checkIDXSet(t, train, test, files, 5, 3)
			})
		}
	}
}

// TestLoadPrefersGz checks that the .gz file is read when the uncompressed
// one exists too, and that a mixed folder works.
func TestLoadPrefersGz(t *testing.T) {
	files := genIDXSet(t, "fashion", 4, 2)
	dir := t.TempDir()
	writeIDXSet(t, dir, files, true)
	s := lookupIDXSet("fashion")
	// Uncompressed files that would fail: they are not read.
	for _, f := range s.files {
		if err := os.WriteFile(filepath.Join(dir, f.base), []byte("not an IDX file"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	train, test, err := Load("fashion", dir)
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, train, test, files, 4, 2)

	// Mixed: the test labels uncompressed only.
	if err := os.Remove(filepath.Join(dir, s.files[3].gzName())); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, s.files[3].base), files[3].raw, 0o644); err != nil {
		t.Fatal(err)
	}
	train, test, err = Load("fashion", dir)
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, train, test, files, 4, 2)
}

// TestLoadUncompressedUnpublished checks that an uncompressed file is
// refused where no checksum of the uncompressed file is known, as for the
// real Fashion-MNIST and Kuzushiji-MNIST.
func TestLoadUncompressedUnpublished(t *testing.T) {
	files := genIDXSet(t, "kmnist", 3, 2)
	s := lookupIDXSet("kmnist")
	s.files[1].rawSHA256 = ""
	dir := t.TempDir()
	writeIDXSet(t, dir, files, false)
	_, _, err := Load("kmnist", dir)
	path := filepath.Join(dir, "train-labels-idx1-ubyte")
	want := "datasets: kmnist: " + path + " is not gzip-compressed, and no checksum of the uncompressed train-labels-idx1-ubyte file is published; put the published train-labels-idx1-ubyte.gz"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), s.files[1].sha256) {
		t.Errorf("got %v, want an error containing %q and the published sha256", err, want)
	}
}

// corruptByte returns a copy of b with one byte changed.
func corruptByte(b []byte) []byte {
	c := slices.Clone(b)
	c[len(c)/2] ^= 0x40
	return c
}

func TestLoadChecksumMismatch(t *testing.T) {
	files := genIDXSet(t, "fashion", 4, 2)
	s := lookupIDXSet("fashion")
	tests := []struct {
		name    string
		file    int    // which file to replace
		content []byte // its new content
		gz      bool   // under the .gz name
		setup   func() // changes to the table
		want    []string
	}{
		{
			name: "flipped bit", file: 0, content: corruptByte(files[0].gz), gz: true,
			want: []string{"train-images-idx3-ubyte.gz: sha256 " + sha256Hex(corruptByte(files[0].gz)) + ", expected " + s.files[0].sha256,
				"published Fashion-MNIST train-images-idx3-ubyte.gz (" + strconv.Itoa(len(files[0].gz)) + " bytes)"},
		},
		{
			name: "truncated", file: 3, content: files[3].gz[:len(files[3].gz)-4], gz: true,
			want: []string{"t10k-labels-idx1-ubyte.gz: sha256 ", "this file has " + strconv.Itoa(len(files[3].gz)-4), "truncated gzip stream"},
		},
		{
			name: "md5 only", file: 1, content: files[1].gz, gz: true,
			setup: func() { s.files[1].md5 = idxMD5Hex([]byte("something else")) },
			want:  []string{"train-labels-idx1-ubyte.gz: md5 " + idxMD5Hex(files[1].gz) + ", expected " + idxMD5Hex([]byte("something else"))},
		},
		{
			name: "uncompressed", file: 2, content: corruptByte(files[2].raw), gz: false,
			want: []string{"t10k-images-idx3-ubyte: sha256 " + sha256Hex(corruptByte(files[2].raw)) + ", expected " + s.files[2].rawSHA256,
				"decompressed Fashion-MNIST t10k-images-idx3-ubyte.gz (this file is not gzip-compressed)"},
		},
		{
			name: "swapped files", file: 1, content: files[3].gz, gz: true,
			want: []string{"train-labels-idx1-ubyte.gz: sha256 " + s.files[3].sha256 + ", expected " + s.files[1].sha256,
				"this file is the Fashion-MNIST t10k-labels-idx1-ubyte.gz",
				"dim[0] at offset 4: 2, expected 4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := s.files
			defer func() { s.files = saved }()
			if tt.setup != nil {
				tt.setup()
			}
			dir := t.TempDir()
			writeIDXSet(t, dir, files, true)
			name := s.files[tt.file].gzName()
			if !tt.gz {
				os.Remove(filepath.Join(dir, name))
				name = s.files[tt.file].base
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := Load("fashion", dir)
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v is not ErrChecksum", err)
			}
			for _, w := range append(tt.want, "datasets: fashion: "+path+": ", ": checksum mismatch") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestLoadRealFileInWrongSet puts the real MNIST test labels where a
// Fashion-MNIST folder should hold its own: the error says what the file
// is.
func TestLoadRealFileInWrongSet(t *testing.T) {
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	files := genIDXSet(t, "fashion", 3, 2)
	dir := t.TempDir()
	writeIDXSet(t, dir, files, true)
	path := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	os.Remove(path)
	if err := os.Symlink(filepath.Join(cacheDir, "t10k-labels-idx1-ubyte.gz"), path); err != nil {
		t.Fatal(err)
	}
	_, _, err = Load("fashion", dir)
	for _, w := range []string{path + ": sha256 " + mnistTestLabels.sha256, "this file is the MNIST t10k-labels-idx1-ubyte.gz",
		"dim[0] at offset 4: 10000, expected 2", "checksum mismatch"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want an error containing %q", err, w)
		}
	}
}

// TestLoadFormatErrors feeds files whose checksums the table accepts but
// whose content is wrong.
func TestLoadFormatErrors(t *testing.T) {
	tests := []struct {
		name string
		file int
		raw  []byte
		want string
	}{
		{"wrong image size", 0, encodeIDX(0x08, []uint32{4, 28, 27}, make([]byte, 4*28*27)),
			"train-images-idx3-ubyte.gz: dim[2] at offset 12: 27, expected 28 (header declares uint8 4×28×27, expected uint8 4×28×28)"},
		{"wrong count", 2, encodeIDX(0x08, []uint32{3, 28, 28}, make([]byte, 3*784)),
			"t10k-images-idx3-ubyte.gz: dim[0] at offset 4: 3, expected 2"},
		{"real count", 1, encodeIDX(0x08, []uint32{60000}, nil),
			"train-labels-idx1-ubyte.gz: dim[0] at offset 4: 60000, expected 4"},
		{"labels as images", 1, encodeIDX(0x08, []uint32{4, 28, 28}, make([]byte, 4*784)),
			"train-labels-idx1-ubyte.gz: ndim at offset 3: 3 dimensions, expected 1"},
		{"wrong type", 3, encodeIDX(0x0C, []uint32{2}, make([]byte, 8)),
			"t10k-labels-idx1-ubyte.gz: type code at offset 2: int32, expected uint8"},
		{"bad label", 3, encodeIDX(0x08, []uint32{2}, []byte{9, 10}),
			"datasets: kmnist: DIR/t10k-labels-idx1-ubyte.gz: label 10 at offset 9, expected 0..9"},
		{"truncated", 0, encodeIDX(0x08, []uint32{4, 28, 28}, make([]byte, 4*784-1)),
			"train-images-idx3-ubyte.gz: payload at offset 3151: truncated"},
		{"trailing bytes", 1, encodeIDX(0x08, []uint32{4}, []byte{1, 2, 3, 4, 5}),
			"train-labels-idx1-ubyte.gz: trailer at offset 12: 1 unexpected bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := genIDXSet(t, "kmnist", 4, 2)
			files[tt.file].raw = tt.raw
			files[tt.file].gz = gzipBytes(t, tt.raw)
			s := lookupIDXSet("kmnist")
			s.files[tt.file].sha256 = sha256Hex(files[tt.file].gz)
			s.files[tt.file].md5 = idxMD5Hex(files[tt.file].gz)
			dir := t.TempDir()
			writeIDXSet(t, dir, files, true)
			train, test, err := Load("kmnist", dir)
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want an error containing %q", err, want)
			}
			if train != nil || test != nil {
				t.Error("sets returned with an error")
			}
			if errors.Is(err, ErrChecksum) {
				t.Errorf("error %v is a checksum error", err)
			}
			var fe *FormatError
			if tt.name != "bad label" && !errors.As(err, &fe) {
				t.Errorf("error %v is not a *FormatError", err)
			}
		})
	}
}

func TestLoadMissingFiles(t *testing.T) {
	files := genIDXSet(t, "fashion", 3, 2)
	dir := t.TempDir()
	writeIDXSet(t, dir, files, true)
	os.Remove(filepath.Join(dir, "train-labels-idx1-ubyte.gz"))
	os.Remove(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	all := "put the Fashion-MNIST files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

	_, _, err := Load("fashion", dir)
	for _, w := range []string{"datasets: fashion: " + dir + " lacks train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz (or the same without .gz)", all, "in " + dir} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("got %v, want an error containing %q", err, w)
		}
	}

	nowhere := filepath.Join(dir, "nowhere")
	_, _, err = Load("fashion", nowhere)
	if w := nowhere + " is not a folder"; err == nil || !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), all) {
		t.Errorf("got %v, want an error containing %q and %q", err, w, all)
	}

	t.Setenv("RETINA_DATA", "")
	_, _, err = Load("kmnist", "")
	if w := "datasets: kmnist: no folder given and RETINA_DATA is not set; put the Kuzushiji-MNIST files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from http://codh.rois.ac.jp/kmnist/dataset/kmnist/"; err == nil || !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), filepath.Join("$RETINA_DATA", "kmnist")) {
		t.Errorf("got %v, want an error containing %q", err, w)
	}

	_, _, err = Load("emnist", dir)
	if w := `datasets: unknown data set "emnist", expected one of mnist, fashion, kmnist`; err == nil || err.Error() != w {
		t.Errorf("got %v, want %q", err, w)
	}
}

// TestLoadFolderLookup checks the order in which Load looks for the files.
func TestLoadFolderLookup(t *testing.T) {
	files := genIDXSet(t, "fashion", 3, 2)
	env := t.TempDir() // RETINA_DATA, holding a set of its own
	sub := filepath.Join(env, "fashion")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	own := t.TempDir()
	empty := t.TempDir()
	writeIDXSet(t, own, files, true)
	writeIDXSet(t, env, files, true)

	// locate reports the folder each lookup chose.
	where := func(dir string) (string, error) {
		paths, err := lookupIDXSet("fashion").locate(dir)
		return filepath.Dir(paths[0]), err
	}
	check := func(name, dir, envValue, want, wantErr string) {
		t.Helper()
		t.Setenv("RETINA_DATA", envValue)
		got, err := where(dir)
		switch {
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: got %q, %v; want an error containing %q", name, got, err, wantErr)
		case wantErr == "" && (err != nil || got != want):
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
	check("explicit dir", own, env, own, "")
	check("explicit dir beats RETINA_DATA", empty, env, "", empty+" lacks train-images-idx3-ubyte.gz")
	check("RETINA_DATA without a fashion folder's files", "", env, env, "")
	writeIDXSet(t, sub, files, false)
	check("RETINA_DATA/fashion first", "", env, sub, "")
	check("RETINA_DATA empty", "", empty, "",
		"datasets: fashion: RETINA_DATA="+empty+": "+filepath.Join(empty, "fashion")+" is not a folder, and "+empty+" lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or the same without .gz); put the Fashion-MNIST files")
	check("RETINA_DATA unset", "", "", "", "no folder given and RETINA_DATA is not set")

	// Through Load, from RETINA_DATA/fashion, uncompressed.
	t.Setenv("RETINA_DATA", env)
	train, test, err := Load("fashion", "")
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, train, test, files, 3, 2)

	// MNIST falls back to the Go module, the folder MNISTDir finds.
	t.Setenv("RETINA_DATA", "")
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := lookupIDXSet("mnist").locate("")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range lookupIDXSet("mnist").files {
		if want := filepath.Join(cacheDir, f.gzName()); paths[i] != want {
			t.Errorf("mnist file %d: %q, want %q", i, paths[i], want)
		}
	}
}

func TestNamesAndClassNames(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"mnist", "fashion", "kmnist"}) {
		t.Errorf("Names() = %q", got)
	}
	fashion := ClassNames("fashion")
	if len(fashion) != 10 || fashion[0] != "T-shirt/top" || fashion[9] != "Ankle boot" {
		t.Errorf("fashion classes %q", fashion)
	}
	fashion[0] = "changed"
	if ClassNames("fashion")[0] != "T-shirt/top" {
		t.Error("ClassNames returns the table itself")
	}
	if k := ClassNames("kmnist"); len(k) != 10 || k[0] != "o" || k[9] != "wo" {
		t.Errorf("kmnist classes %q", k)
	}
	if m := ClassNames("mnist"); len(m) != 10 || m[3] != "3" {
		t.Errorf("mnist classes %q", m)
	}
	if ClassNames("emnist") != nil {
		t.Error("classes for an unknown set")
	}
}

// TestIDXSetTables checks the checksum table: its form, and for MNIST its
// values against the files in the GoMNIST module (size, SHA-256 and MD5 of
// the .gz files, SHA-256 of their content).
func TestIDXSetTables(t *testing.T) {
	names := []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}
	seen := map[string]string{}
	isHex := func(s string, n int) bool {
		_, err := hex.DecodeString(s)
		return err == nil && len(s) == n && strings.ToLower(s) == s
	}
	for _, s := range idxSets {
		if len(s.classes) != 10 || s.train != 60000 || s.test != 10000 || s.rows != 28 || s.cols != 28 || s.title == "" || s.url == "" {
			t.Errorf("%s: %d classes, %d+%d samples of %d×%d", s.name, len(s.classes), s.train, s.test, s.rows, s.cols)
		}
		for i, f := range s.files {
			if s.name != "mnist" && f.rawSHA256 != "" {
				t.Errorf("%s %s: rawSHA256 %s, but none is published or derived", s.name, f.base, f.rawSHA256)
			}
			if f.base != names[i] || f.size <= 0 || !isHex(f.sha256, 64) || !isHex(f.md5, 32) || f.rawSHA256 != "" && !isHex(f.rawSHA256, 64) {
				t.Errorf("%s file %d: %+v", s.name, i, f)
			}
			for _, h := range []string{f.sha256, f.md5, f.rawSHA256} {
				if h == "" {
					continue
				}
				if other, dup := seen[h]; dup {
					t.Errorf("%s %s: checksum %s also in %s", s.name, f.base, h, other)
				}
				seen[h] = s.name + " " + f.base
			}
		}
	}

	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	mnist := lookupIDXSet("mnist")
	for i, f := range mnist.files {
		if f.sha256 != mnistFiles[i].sha256 || f.gzName() != mnistFiles[i].name {
			t.Errorf("mnist %s: sha256 %s differs from MNIST's %s", f.base, f.sha256, mnistFiles[i].sha256)
		}
		gz, err := os.ReadFile(filepath.Join(cacheDir, f.gzName()))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, zr); err != nil {
			t.Fatal(err)
		}
		raw := hex.EncodeToString(h.Sum(nil))
		if int64(len(gz)) != f.size || sha256Hex(gz) != f.sha256 || idxMD5Hex(gz) != f.md5 || raw != f.rawSHA256 {
			t.Errorf("mnist %s: module file has %d bytes, sha256 %s, md5 %s, content sha256 %s; table %d %s %s %s",
				f.base, len(gz), sha256Hex(gz), idxMD5Hex(gz), raw, f.size, f.sha256, f.md5, f.rawSHA256)
		}
	}
}

// TestLoadRealMNISTLabels reads the real MNIST label files through the
// table, compressed and decompressed.
func TestLoadRealMNISTLabels(t *testing.T) {
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	s := lookupIDXSet("mnist")
	dir := t.TempDir()
	for _, k := range []int{1, 3} {
		f, n := s.files[k], []int{s.train, s.test}[k/2]
		gz, err := os.ReadFile(filepath.Join(cacheDir, f.gzName()))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		rawPath := filepath.Join(dir, f.base)
		if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{filepath.Join(cacheDir, f.gzName()), rawPath} {
			labels, err := s.readLabels(path, f, n)
			if err != nil {
				t.Fatal(err)
			}
			if first := []int{5, 7}[k/2]; len(labels) != n || labels[0] != first {
				t.Errorf("%s: %d labels, first %d; want %d, %d", path, len(labels), labels[0], n, first)
			}
		}
	}
}

// FuzzLoadIDXFile feeds arbitrary files to the loader as images and as
// labels, with checksums that match them, so that everything past the
// checksum is exercised: it must not panic, and what it returns must be
// consistent.
func FuzzLoadIDXFile(f *testing.F) {
	f.Add(encodeIDX(0x08, []uint32{3, 2, 2}, seq(12)))
	f.Add(encodeIDX(0x08, []uint32{3}, []byte{0, 9, 3}))
	f.Add(gzipBytes(f, encodeIDX(0x08, []uint32{3}, []byte{1, 10, 3})))
	f.Add(gzipBytes(f, encodeIDX(0x08, []uint32{3, 2, 2}, seq(12))))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &idxSet{name: "fuzz", title: "Fuzz", classes: make([]string, 10), train: 3, test: 3, rows: 2, cols: 2}
		file := idxFile{base: "f", sha256: sha256Hex(data), md5: idxMD5Hex(data), rawSHA256: sha256Hex(data), size: int64(len(data))}
		path := filepath.Join(t.TempDir(), "f")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := s.readImages(path, file, 3)
		if err == nil && len(x) != 12 {
			t.Fatalf("%d pixels", len(x))
		}
		for _, v := range x {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("pixel %v", v)
			}
		}
		labels, err := s.readLabels(path, file, 3)
		if err != nil {
			if labels != nil || errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), path) {
				t.Fatalf("labels %v with error %v", labels, err)
			}
			return
		}
		if len(labels) != 3 {
			t.Fatalf("%d labels", len(labels))
		}
		for _, l := range labels {
			if l < 0 || l > 9 {
				t.Fatalf("label %d", l)
			}
		}
	})
}
